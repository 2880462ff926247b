"""The monthly evaluation: the deployed workflow definition, the state machine's settings and its schedule."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra import constants as c

pytestmark = pytest.mark.infra

#: Lambda errors a Task must retry (Step Functions best practice "Handle Lambda service exceptions").
LAMBDA_TRANSIENT_ERRORS = frozenset(
    {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "Lambda.ClientExecutionTimeoutException",
    }
)


def _state_machine(synth: Any) -> dict[str, Any]:
    return synth.resource(synth.stack.evaluation.state_machine)


def _definition_text(synth: Any) -> str:
    location = _state_machine(synth)["Properties"]["DefinitionS3Location"]
    return str(synth.asset_path(location["Key"]).read_text(encoding="utf-8"))


def _scopes(definition: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """Every ``States`` block of the definition (top level, map item processors, parallel branches) by path."""
    scopes = [(path or "/", definition["States"])]
    for name, state in definition["States"].items():
        nested = [state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])]
        for index, child in enumerate(n for n in nested if n):
            scopes += _scopes(child, f"{path}/{name}[{index}]")
    return scopes


def _states(synth: Any, *types: str) -> dict[str, tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
    """``{path/name: (state, its scope's states)}`` for the states of the given types, nested ones included."""
    definition = json.loads(_definition_text(synth))
    return {
        f"{path}/{name}": (state, scope)
        for path, scope in _scopes(definition)
        for name, state in scope.items()
        if state["Type"] in types
    }


def test_workflow_definition_substitutes_every_placeholder(synth: Any) -> None:
    # Given the deployed workflow definition
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", _definition_text(synth)))

    # When the template's substitutions are read
    substitutions = _state_machine(synth)["Properties"]["DefinitionSubstitutions"]

    # Then every placeholder gets a value and no value is unused
    assert placeholders
    assert set(substitutions) == placeholders


def test_workflow_tasks_and_maps_retry_transient_lambda_errors_with_backoff_and_jitter(synth: Any) -> None:
    # Given every Task and Map state of the deployed definition, inside maps too
    tasks = _states(synth, "Task", "Map")

    # When each Task's retriers are checked for the transient Lambda errors
    covered = {
        path: any(
            set(r["ErrorEquals"]) >= LAMBDA_TRANSIENT_ERRORS
            and r.get("BackoffRate", 2.0) > 1
            and r.get("JitterStrategy") == "FULL"
            and r.get("MaxAttempts", 3) > 0
            for r in state.get("Retry", [])
        )
        for path, (state, _) in tasks.items()
    }

    # Then every Task and Map retries them with exponential backoff and jitter
    assert len(covered) >= 4
    assert covered == dict.fromkeys(tasks, True)


def test_workflow_tasks_and_maps_catch_every_error_into_a_state_of_their_scope(synth: Any) -> None:
    # Given every Task and Map state of the deployed definition
    states = _states(synth, "Task", "Map")

    # When each one's catchers are read
    catch_all_targets = {
        path: [k["Next"] for k in state.get("Catch", []) if k["ErrorEquals"] == ["States.ALL"] and k["Next"] in scope]
        for path, (state, scope) in states.items()
    }

    # Then each catches States.ALL and goes on to an existing state
    assert any(state["Type"] == "Map" for state, _ in states.values())
    assert {path: len(targets) for path, targets in catch_all_targets.items()} == dict.fromkeys(states, 1)


def test_state_machine_logs_all_events_without_execution_data_to_an_encrypted_group(synth: Any) -> None:
    # Given the state machine
    # When its logging configuration is read
    logging = _state_machine(synth)["Properties"]["LoggingConfiguration"]
    (destination,) = logging["Destinations"]
    log_group = synth.resources[destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]]

    # Then every event is logged, state data (PHI) is not, and the group is encrypted with the stack key
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", False)
    assert log_group["Properties"]["KmsKeyId"] == synth.resolve(synth.stack.storage.key.key_arn)


def test_state_machine_is_standard_traced_and_encrypted_with_the_stack_key(synth: Any) -> None:
    # Given the state machine
    # When its type, tracing and encryption are read
    properties = _state_machine(synth)["Properties"]

    # Then it is a Standard workflow with X-Ray, and its state is encrypted with the stack key
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["EncryptionConfiguration"]["Type"] == "CUSTOMER_MANAGED_KMS_KEY"
    assert properties["EncryptionConfiguration"]["KmsKeyId"] == synth.resolve(synth.stack.storage.key.key_arn)


def test_monthly_schedule_retries_and_keeps_undelivered_events_in_a_dead_letter_queue(synth: Any) -> None:
    # Given the monthly schedule
    schedule = synth.resource(synth.stack.evaluation.schedule)["Properties"]

    # When its target is read
    target = schedule["Target"]
    queue = synth.resources[target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]]

    # Then it invokes the trigger, retries a bounded number of times and dead-letters to an encrypted queue
    assert target["Arn"] == synth.resolve(synth.stack.functions.functions["MonthlyTrigger"].function_arn)
    assert target["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": c.SCHEDULE_MAX_EVENT_AGE_SECONDS,
        "MaximumRetryAttempts": c.SCHEDULE_RETRY_ATTEMPTS,
    }
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["KmsMasterKeyId"] == synth.resolve(synth.stack.storage.key.key_arn)


def test_monthly_schedule_role_may_write_to_its_dead_letter_queue(synth: Any) -> None:
    # Given the schedule's role and dead-letter queue
    target = synth.resource(synth.stack.evaluation.schedule)["Properties"]["Target"]
    role = {"Ref": target["RoleArn"]["Fn::GetAtt"][0]}

    # When the statements of the policies attached to the role are read
    statements = [
        s
        for r in synth.of_type("AWS::IAM::ManagedPolicy").values()
        if role in r["Properties"].get("Roles", [])
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]

    # Then it may send to that queue (otherwise undelivered events are lost rather than dead-lettered)
    assert {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": target["DeadLetterConfig"]["Arn"]} in statements
