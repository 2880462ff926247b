"""The enrollment repository's reads: typed records, tenant-scoped keys, the warm-container config cache."""

from typing import Any

from rpm_billing.db import enrollment, keys
from rpm_billing.db.client import dynamodb, to_item
from rpm_billing.settings import get_settings


def _put(item: dict[str, Any]) -> None:
    dynamodb().put_item(TableName=get_settings().table_name, Item=to_item(item))


def _config(org: str, dep: str) -> dict[str, Any]:
    return {
        "PK": keys.deployment_pk(org, dep),
        "SK": keys.CONFIG_SK,
        "type": "billing_config",
        "org_id": org,
        "deployment_id": dep,
        "enabled": True,
        "program": "RPM",
        "time_zone": "America/Chicago",
        "insurance_carriers": [{"name": "Medicare"}],
        "billing_providers": [{"name": "Dr A", "npi": "1234567893"}],
        "icd10_codes": [{"code": "I10", "description": "Hypertension"}],
        "policy": {},
        "version": 3,
    }


def test_get_config_returns_typed_record(aws: None) -> None:
    # Given
    _put(_config("org1", "dep1"))
    # When
    config = enrollment.get_config("org1", "dep1")
    # Then
    assert config is not None
    assert config.version == 3
    assert config.icd10_codes[0].code == "I10"


def test_get_config_other_org_is_none(aws: None) -> None:
    # Given
    _put(_config("org1", "dep1"))
    # When
    config = enrollment.get_config("org2", "dep1")
    # Then
    assert config is None


def test_get_config_cached_reads_once_within_ttl(ddb_requests: Any) -> None:
    # Given
    enrollment.forget_config()
    _put(_config("org1", "dep1"))
    ddb_requests.reset()
    # When
    first = enrollment.get_config_cached("org1", "dep1")
    second = enrollment.get_config_cached("org1", "dep1")
    # Then
    assert first == second
    assert ddb_requests.calls["GetItem"] == 1
    enrollment.forget_config()


def test_get_patient_and_enrollment_missing_are_none(aws: None) -> None:
    # Given: an empty table
    # When
    patient = enrollment.get_patient("org1", "p1")
    episode = enrollment.get_enrollment("org1", "p1")
    # Then
    assert patient is None
    assert episode is None
