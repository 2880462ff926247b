"""The local stack builds its table, buckets, functions and workflow from the definitions the CDK stack deploys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from evaluate.workflow import SUBSTITUTIONS, render_definition
from rpm_billing.db import schema

pytestmark = pytest.mark.infra

WORK_BUCKET = "<WORK_BUCKET>"


@dataclass(frozen=True)
class LocalStack:
    """What the local stack's ``Emulator.create_resources`` created, as the emulated AWS APIs describe it."""

    environment: dict[str, str]
    table: dict[str, Any]
    buckets: set[str]
    functions: dict[str, dict[str, Any]]
    state_machines: dict[str, dict[str, Any]]
    ttl: dict[str, Any]


@pytest.fixture(scope="module")
def local_stack() -> LocalStack:
    """Run the local stack's resource creation against moto and describe the result."""
    import boto3
    from moto import mock_aws

    from local.emulator import Emulator

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        with mock_aws():
            emulator = Emulator()
            emulator.create_resources()
            resources = emulator.resources
            sfn = boto3.client("stepfunctions")
            ddb = boto3.client("dynamodb")
            return LocalStack(
                environment=resources.environment(),
                table=boto3.client("dynamodb").describe_table(TableName=resources.table_name)["Table"],
                buckets={b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]},
                functions={f["FunctionName"]: f for f in boto3.client("lambda").list_functions()["Functions"]},
                state_machines={
                    m["name"]: sfn.describe_state_machine(stateMachineArn=m["stateMachineArn"])
                    for m in sfn.list_state_machines()["stateMachines"]
                },
                ttl=ddb.describe_time_to_live(TableName=resources.table_name)["TimeToLiveDescription"],
            )


def _table(synth: Any) -> dict[str, Any]:
    return dict(synth.resource(synth.stack.storage.table)["Properties"])


def _state_machine(synth: Any) -> dict[str, Any]:
    return dict(synth.resource(synth.stack.evaluation.state_machine)["Properties"])


def _template_functions(synth: Any) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["FunctionName"]: r["Properties"] for r in synth.of_type("AWS::Lambda::Function").values()}


def _replace_strings(value: Any, replacements: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _replace_strings(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, replacements) for v in value]
    return replacements.get(value, value) if isinstance(value, str) else value


def _indexes(indexes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        ({k: index[k] for k in ("IndexName", "KeySchema", "Projection")} for index in indexes),
        key=lambda index: index["IndexName"],
    )


def test_local_table_has_the_template_key_schema_attributes_and_billing_mode(
    synth: Any, local_stack: LocalStack
) -> None:
    # Given the table in the template
    deployed = _table(synth)

    # When the local table is described
    local = local_stack.table

    # Then both have the same keys, attribute definitions and capacity mode
    assert local["KeySchema"] == deployed["KeySchema"]
    assert sorted(local["AttributeDefinitions"], key=str) == sorted(deployed["AttributeDefinitions"], key=str)
    assert local["BillingModeSummary"]["BillingMode"] == deployed["BillingMode"]


def test_local_table_has_the_template_indexes_and_projections(synth: Any, local_stack: LocalStack) -> None:
    # Given the global secondary indexes in the template
    deployed = _indexes(_table(synth)["GlobalSecondaryIndexes"])

    # When the local table's indexes are described
    local = _indexes(local_stack.table["GlobalSecondaryIndexes"])

    # Then they are the same indexes with the same keys and projections
    assert deployed
    assert local == deployed


def test_template_table_ttl_attribute_is_the_shared_schema_one(synth: Any) -> None:
    # Given the TTL attribute of the shared table definition
    expected = {"AttributeName": schema.TTL_ATTRIBUTE, "Enabled": True}

    # When the template's TTL specification is read
    ttl = _table(synth)["TimeToLiveSpecification"]

    # Then TTL is on, on that attribute
    assert ttl == expected


def test_local_table_ttl_is_the_template_one(synth: Any, local_stack: LocalStack) -> None:
    # Given the template's TTL specification
    deployed = _table(synth)["TimeToLiveSpecification"]

    # When the local table's TTL is described
    local = local_stack.ttl

    # Then the local table expires items on the same attribute
    assert local["TimeToLiveStatus"] == "ENABLED"
    assert local["AttributeName"] == deployed["AttributeName"]


def test_local_stack_creates_every_resource_the_functions_are_configured_with(
    synth: Any, local_stack: LocalStack
) -> None:
    # Given the environment variables through which the deployed functions find a resource of the stack
    names = set(_template_functions(synth))
    deployed = {
        variable
        for fn in _template_functions(synth).values()
        for variable, value in fn["Environment"]["Variables"].items()
        if isinstance(value, dict) or value in names
    }

    # When the local environment's variables are matched against the resources the local stack created
    created = (
        {local_stack.table["TableName"]}
        | local_stack.buckets
        | set(local_stack.functions)
        | {m["stateMachineArn"] for m in local_stack.state_machines.values()}
    )
    local = {variable for variable, value in local_stack.environment.items() if value in created}

    # Then the local stack creates a resource for each of them, and the same ones
    assert deployed
    assert local == deployed


def test_local_functions_run_the_template_handlers_under_the_template_names(
    synth: Any, local_stack: LocalStack
) -> None:
    # Given the functions in the template
    deployed = {name: (fn["Handler"], fn["Runtime"]) for name, fn in _template_functions(synth).items()}

    # When the local stack's functions are described
    local = {name: (fn["Handler"], fn["Runtime"]) for name, fn in local_stack.functions.items()}

    # Then each local function has a deployed namesake with the same handler and runtime
    assert local
    assert local == {name: deployed.get(name) for name in local}


def test_local_state_machine_has_the_template_name_and_type(synth: Any, local_stack: LocalStack) -> None:
    # Given the state machine in the template
    deployed = _state_machine(synth)

    # When the local state machines are described
    local = {name: machine["type"] for name, machine in local_stack.state_machines.items()}

    # Then the local stack has one with the same name and type
    assert local == {deployed["StateMachineName"]: deployed["StateMachineType"]}


def test_local_workflow_definition_equals_the_deployed_definition(synth: Any, local_stack: LocalStack) -> None:
    # Given the deployed definition with its substitutions: functions by name, the bucket the functions work in
    deployed_machine = _state_machine(synth)
    work_buckets = {fn["Environment"]["Variables"]["WORK_BUCKET"]["Ref"] for fn in _template_functions(synth).values()}
    function_names = {lid: r["Properties"]["FunctionName"] for lid, r in synth.of_type("AWS::Lambda::Function").items()}
    values = {}
    for placeholder, value in deployed_machine["DefinitionSubstitutions"].items():
        if value.get("Ref") in work_buckets:
            values[placeholder] = WORK_BUCKET
        else:
            values[placeholder] = function_names[value["Fn::GetAtt"][0]]
    asset = synth.asset_path(deployed_machine["DefinitionS3Location"]["Key"])
    deployed = json.loads(render_definition(values, path=asset))

    # When the local definition is read with its function ARNs and work bucket put the same way
    (machine,) = local_stack.state_machines.values()
    replacements = {fn["FunctionArn"]: name for name, fn in local_stack.functions.items()}
    replacements[local_stack.environment["WORK_BUCKET"]] = WORK_BUCKET
    local = _replace_strings(json.loads(machine["definition"]), replacements)

    # Then both have the same substitutions and the same states, and are the same definition
    assert set(values) == set(SUBSTITUTIONS)
    assert sorted(local["States"]) == sorted(deployed["States"])
    assert local == deployed
