"""Build the API Gateway REST proxy events the functions receive in AWS (used by the server and tests)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs


def claims_for(
    role: str | list[str],
    org_id: str,
    deployments: str | list[str] = "",
    user_id: str = "user-1",
    clinical_role: str | None = None,
) -> dict[str, str]:
    """The claims a Cognito REST authorizer passes for a user (groups comma-joined, as API Gateway does)."""
    groups = role if isinstance(role, str) else ",".join(role)
    deps = deployments if isinstance(deployments, str) else ",".join(deployments)
    claims = {"sub": user_id, "cognito:groups": groups, "custom:org_id": org_id, "custom:deployment_ids": deps}
    if clinical_role:
        claims["custom:clinical_role"] = clinical_role
    return claims


def rest_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    query: str | Mapping[str, str] | None = None,
    claims: Mapping[str, str] | None = None,
    resource: str = "/{proxy+}",
    path_parameters: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A REST (v1) proxy event.

    Args:
        method: HTTP method.
        path: Request path, e.g. ``/v1/patients/p1/billing/status``.
        body: ``bytes`` (sent base64-encoded unless UTF-8 text), ``str``, or anything JSON-serialisable.
        headers: Request headers.
        query: Query string (``"a=1&b=2"``) or a mapping.
        claims: Verified authorizer claims; ``None`` for an unauthenticated request.
        resource: The API Gateway resource template.
        path_parameters: Path parameters as API Gateway would extract them.
    """
    hdrs = dict(headers or {})
    is_b64 = False
    raw: str | None
    if body is None:
        raw = None
    elif isinstance(body, bytes):
        try:
            raw = body.decode("utf-8")
        except UnicodeDecodeError:
            raw, is_b64 = base64.b64encode(body).decode(), True
    elif isinstance(body, str):
        raw = body
    else:
        raw = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(query, str):
        multi = dict(parse_qs(query, keep_blank_values=True))
    else:
        multi = {k: [v] for k, v in (query or {}).items()}
    request_context: dict[str, Any] = {
        "requestId": str(uuid.uuid4()),
        "stage": "v1",
        "httpMethod": method.upper(),
        "path": path,
        "resourcePath": resource,
        "identity": {"sourceIp": "127.0.0.1"},
    }
    if claims is not None:
        request_context["authorizer"] = {"claims": dict(claims)}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": raw,
        "isBase64Encoded": is_b64,
    }
