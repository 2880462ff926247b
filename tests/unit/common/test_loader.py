"""botocore's data loader restricted to the product's services: same models, no scan of every service folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader

from rpm_billing.db import client, loader

MODEL_TYPES = ("service-2", "endpoint-rule-set-1", "paginators-1")


@pytest.fixture
def fresh_session() -> Iterator[None]:
    client._session.cache_clear()
    client.reset_clients()
    yield
    client._session.cache_clear()
    client.reset_clients()


@pytest.mark.parametrize("service", loader.SERVICES)
@pytest.mark.parametrize("type_name", MODEL_TYPES)
def test_models_are_botocores_own(service: str, type_name: str) -> None:
    # Given botocore's default loader and the product's
    default, product = Loader(), loader.create(None)
    # When each loads a model of one of the product's services
    # Then both give the same data
    assert product.load_service_model(service, type_name) == default.load_service_model(service, type_name)


def test_the_listing_is_the_products_services_without_listing_botocores_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the product's loader, botocore's full listing, and every directory listing recorded from now on
    product = loader.create(None)
    known = Loader().list_available_services("service-2")
    listed: list[str] = []
    real_listdir = os.listdir

    def recording_listdir(path: str) -> list[str]:
        listed.append(str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", recording_listdir)
    # When it lists the available services
    services = product.list_available_services("service-2")
    # Then they are the product's, all known to botocore, found without listing botocore's data folder itself
    assert services == sorted(loader.SERVICES)
    assert set(services) <= set(known)
    data_root = str(Path(product.BUILTIN_DATA_PATH))
    assert data_root not in listed
    assert all(Path(path).parent.name in loader.SERVICES or Path(path).name in loader.SERVICES for path in listed)


def test_a_service_missing_from_the_data_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a product service name that botocore has no data for
    monkeypatch.setattr(loader, "SERVICES", ("dynamodb", "no-such-service"))
    # When the services are listed
    # Then only the one on disk is
    assert loader.create(None).list_available_services("service-2") == ["dynamodb"]


def test_aws_data_path_is_searched_first(tmp_path: Path) -> None:
    # Given AWS_DATA_PATH-style folders
    first, second = tmp_path / "a", tmp_path / "b"
    # When the loader is created from them
    product = loader.create(os.pathsep.join((str(first), str(second))))
    # Then they come before botocore's own data, as with botocore's loader
    assert product.search_paths[:2] == [str(first), str(second)]
    assert product.search_paths[-1] == product.BUILTIN_DATA_PATH


def test_the_session_creates_clients_of_the_products_services_only(
    fresh_session: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the container's session
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    session = client._session()
    # When a client of another service is asked for
    # Then botocore refuses it by name, and the loader in use is the product's
    with pytest.raises(UnknownServiceError):
        session.create_client("sqs")
    assert isinstance(session.get_component("data_loader"), loader.ProductLoader)
