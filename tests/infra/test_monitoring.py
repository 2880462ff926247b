"""Alarms: each pages through the KMS-encrypted topic; functions, dead-letter queues and the workflow are watched."""

from __future__ import annotations

from typing import Any

import pytest

from infra import constants as c

pytestmark = pytest.mark.infra


def _alarms(synth: Any) -> dict[str, dict[str, Any]]:
    return {lid: r["Properties"] for lid, r in synth.of_type("AWS::CloudWatch::Alarm").items()}


def _watched(synth: Any, namespace: str, metric: str) -> list[Any]:
    return [
        dimension["Value"]
        for alarm in _alarms(synth).values()
        if (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
        for dimension in alarm["Dimensions"]
    ]


def _key_policy_statements(synth: Any) -> list[dict[str, Any]]:
    return list(synth.resource(synth.stack.storage.key)["Properties"]["KeyPolicy"]["Statement"])


def test_alarms_all_notify_the_encrypted_topic(synth: Any) -> None:
    # Given the alarm topic
    topic = synth.resource(synth.stack.monitoring.topic)
    topic_ref = {"Ref": synth.logical_id(synth.stack.monitoring.topic)}

    # When every alarm's actions are read
    actions = {lid: alarm.get("AlarmActions") for lid, alarm in _alarms(synth).items()}

    # Then each alarm notifies that topic, and the topic is encrypted with the stack key
    assert actions
    assert actions == {lid: [topic_ref] for lid in actions}
    assert topic["Properties"]["KmsMasterKeyId"] == synth.resolve(synth.stack.storage.key.key_arn)


def test_key_policy_lets_cloudwatch_publish_to_the_encrypted_topic(synth: Any) -> None:
    # Given the stack key's policy
    statements = _key_policy_statements(synth)

    # When the statements for the CloudWatch service are picked out
    actions = {
        action
        for s in statements
        if s["Effect"] == "Allow" and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        for action in s["Action"]
    }

    # Then alarms can encrypt their notifications (without it, alarm notifications are silently dropped)
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= actions


def test_key_policy_lets_cloudwatch_logs_encrypt_the_stack_log_groups(synth: Any) -> None:
    # Given the stack key's policy
    statements = _key_policy_statements(synth)

    # When the statements for the regional CloudWatch Logs service are picked out
    logs = [
        s
        for s in statements
        if s["Effect"] == "Allow"
        and s["Principal"] == {"Service": synth.resolve(f"logs.{synth.stack.region}.amazonaws.com")}
    ]

    # Then the encrypted log groups can be created and written, for log groups of this account and region only
    assert len(logs) == 1
    assert {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"} <= set(logs[0]["Action"])
    assert list(logs[0]["Condition"]["ArnLike"]) == ["kms:EncryptionContext:aws:logs:arn"]


def test_every_function_has_an_error_alarm(synth: Any) -> None:
    # Given every function
    functions = [{"Ref": synth.logical_id(fn)} for fn in synth.stack.functions.functions.values()]

    # When the functions watched by an Errors alarm are listed
    watched = _watched(synth, "AWS/Lambda", "Errors")

    # Then each function is watched
    assert len(functions) == len(c.FUNCTIONS)
    assert [f for f in functions if f not in watched] == []


def test_every_queue_has_a_dead_letter_alarm(synth: Any) -> None:
    # Given every SQS queue (all of them are dead-letter queues)
    queues = [{"Fn::GetAtt": [lid, "QueueName"]} for lid in synth.of_type("AWS::SQS::Queue")]

    # When the queues watched for visible messages are listed
    watched = _watched(synth, "AWS/SQS", "ApproximateNumberOfMessagesVisible")

    # Then each queue is watched
    assert queues
    assert [q for q in queues if q not in watched] == []


def test_failed_and_timed_out_evaluations_raise_alarms(synth: Any) -> None:
    # Given the evaluation state machine
    machine = {"Ref": synth.logical_id(synth.stack.evaluation.state_machine)}

    # When the state machines watched for failures and time-outs are listed
    failed = _watched(synth, "AWS/States", "ExecutionsFailed")
    timed_out = _watched(synth, "AWS/States", "ExecutionsTimedOut")

    # Then the evaluation is watched for both
    assert (failed, timed_out) == ([machine], [machine])
