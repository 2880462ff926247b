"""botocore's data loader, told which services the product calls.

Before it loads the first model, botocore's ``Loader`` lists every service it knows to check that the name
asked for is one of them: about 400 folders, 900 directory listings and 2,800 ``stat`` calls, 20–25 ms of
every cold start on this machine (``create_client`` 50–59 ms → 31–34 ms). This loader answers that question
from the few services below, each still checked on disk, and is otherwise botocore's own: same search paths
(``AWS_DATA_PATH`` first), same models, same extras. A client of any other service fails with botocore's
``UnknownServiceError``, which no function expects to meet.

Imported by ``rpm_billing.db.client`` when the first client is created, never at a function's import.
"""

from __future__ import annotations

import os

from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader

#: Every AWS service the functions call (``rpm_billing.db.client``).
SERVICES = ("dynamodb", "lambda", "s3", "stepfunctions")


class ProductLoader(Loader):
    """A ``Loader`` whose list of available services is ``SERVICES`` (those of them present on disk)."""

    def list_available_services(self, type_name: str) -> list[str]:
        """The product's services that have data of ``type_name`` (``service-2``, ``paginators-1``, ...).

        Args:
            type_name: The kind of model file.

        Returns:
            The sorted service names, as botocore's own listing would give them restricted to ``SERVICES``.
        """
        present = []
        for service in SERVICES:
            try:
                self.list_api_versions(service, type_name)
            except DataNotFoundError:
                continue
            present.append(service)
        return present


def create(data_path: str | None) -> ProductLoader:
    """A loader searching ``data_path`` (the session's ``AWS_DATA_PATH``) before botocore's own data.

    Args:
        data_path: Folders separated by ``os.pathsep``, or ``None``.

    Returns:
        The loader to register as the session's ``data_loader`` component.
    """
    extra = None
    if data_path:
        extra = [os.path.expanduser(os.path.expandvars(path)) for path in data_path.split(os.pathsep)]
    return ProductLoader(extra_search_paths=extra)
