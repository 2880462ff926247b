"""Shared package of the RPM/RTM billing pipeline.

Every function imports it: it is a Lambda layer in AWS and on the import path in tests and locally.
Submodules:

- ``rules``: the pure CPT rules engine and its versioned catalogue.
- ``db``: the single-table DynamoDB schema, key design, repositories and audit records.
- ``auth``: roles, permissions and the verified principal.
- ``api``: the HTTP application wrapper (authorisation before validation, one error shape).
- ``settings`` / ``observability`` / ``clock`` / ``ids``: configuration, logging, time and identifiers.
"""

SERVICE_NAME = "rpm-billing"
