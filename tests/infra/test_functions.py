"""Lambda guardrails: runtime and architecture, explicit sizing, explicit encrypted log groups, async failure paths."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aws_cdk import aws_lambda as lambda_

from infra import constants as c
from infra.constructs.functions import function_name

pytestmark = pytest.mark.infra

FUNCTION_IDS = sorted(c.FUNCTIONS)
ASYNC_FUNCTION_IDS = sorted(fid for fid, spec in c.FUNCTIONS.items() if spec.asynchronous)


def _function(synth: Any, function_id: str) -> dict[str, Any]:
    return dict(synth.resource(synth.stack.functions.functions[function_id])["Properties"])


def _newest_python_runtime() -> str:
    minors = [int(m.group(1)) for name in dir(lambda_.Runtime) if (m := re.fullmatch(r"PYTHON_3_(\d+)", name))]
    return f"python3.{max(minors)}"


def _key_arn(synth: Any) -> Any:
    return synth.resolve(synth.stack.storage.key.key_arn)


def test_functions_deployed_are_exactly_the_declared_ones(synth: Any) -> None:
    # Given the declared functions
    declared = {function_name(fid): c.FUNCTIONS[fid].handler for fid in c.FUNCTIONS}

    # When the template's functions are listed
    deployed = {
        r["Properties"]["FunctionName"]: r["Properties"]["Handler"]
        for r in synth.of_type("AWS::Lambda::Function").values()
    }

    # Then each declared function is deployed once with its handler, and no other function exists
    assert deployed == declared


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_function_runs_on_arm64_with_the_newest_python_runtime(synth: Any, function_id: str) -> None:
    # Given the newest Python runtime the CDK library knows
    newest = _newest_python_runtime()

    # When the function's runtime and architecture are read
    function = _function(synth, function_id)

    # Then it is arm64 on that runtime
    assert (function["Architectures"], function["Runtime"]) == (["arm64"], newest)


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_function_sizing_is_explicit_and_matches_its_spec(synth: Any, function_id: str) -> None:
    # Given the function's declared sizing
    spec = c.FUNCTIONS[function_id]

    # When its memory, timeout and reserved concurrency are read from the template
    function = _function(synth, function_id)
    sizing = (function.get("MemorySize"), function.get("Timeout"), function.get("ReservedConcurrentExecutions"))

    # Then each is set explicitly to the declared value
    assert sizing == (spec.memory_mb, spec.timeout_s, spec.concurrency)
    assert spec.concurrency > 0


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_function_traces_with_xray_without_capturing_payloads(synth: Any, function_id: str) -> None:
    # Given the function
    # When its tracing mode and tracer settings are read
    function = _function(synth, function_id)
    variables = function["Environment"]["Variables"]

    # Then X-Ray is active and the tracer captures neither responses nor errors (they can hold PHI)
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert (variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"], variables["POWERTOOLS_TRACER_CAPTURE_ERROR"]) == (
        "false",
        "false",
    )


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_function_logs_to_its_own_explicit_encrypted_log_group(synth: Any, function_id: str) -> None:
    # Given the function's logging configuration
    function = _function(synth, function_id)

    # When the log group it names is looked up in the template
    log_group = synth.resources[function["LoggingConfig"]["LogGroup"]["Ref"]]

    # Then that group is the function's own, KMS-encrypted with the stack key, with the retention, and kept
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"] == {
        "KmsKeyId": _key_arn(synth),
        "LogGroupName": f"/aws/lambda/{function['FunctionName']}",
        "RetentionInDays": c.LOG_RETENTION_DAYS,
    }
    assert log_group["DeletionPolicy"] == "Retain"


def test_every_log_group_is_kms_encrypted_with_retention(synth: Any) -> None:
    # Given every log group of the stack (functions, workflow, API access and execution logs, WAF)
    log_groups = synth.of_type("AWS::Logs::LogGroup")

    # When their encryption and retention are read
    settings = {
        lid: (r["Properties"].get("KmsKeyId"), r["Properties"].get("RetentionInDays")) for lid, r in log_groups.items()
    }

    # Then all use the stack key and the retention
    assert len(log_groups) > len(FUNCTION_IDS)
    assert settings == dict.fromkeys(log_groups, (_key_arn(synth), c.LOG_RETENTION_DAYS))


@pytest.mark.parametrize("function_id", ASYNC_FUNCTION_IDS)
def test_asynchronous_function_sends_failed_events_to_its_encrypted_queue(synth: Any, function_id: str) -> None:
    # Given an asynchronously invoked function
    function_ref = {"Ref": synth.logical_id(synth.stack.functions.functions[function_id])}
    queue_arn = _function(synth, function_id)["DeadLetterConfig"]["TargetArn"]

    # When its invoke configuration is read
    (config,) = [
        r["Properties"]
        for r in synth.of_type("AWS::Lambda::EventInvokeConfig").values()
        if r["Properties"]["FunctionName"] == function_ref
    ]

    # Then retries and event age are explicit, failures land in its dead-letter queue, and that queue uses the key
    assert config["MaximumRetryAttempts"] == c.ASYNC_RETRY_ATTEMPTS
    assert config["MaximumEventAgeInSeconds"] == c.ASYNC_MAX_EVENT_AGE_SECONDS
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn
    assert synth.resources[queue_arn["Fn::GetAtt"][0]]["Properties"]["KmsMasterKeyId"] == _key_arn(synth)
