"""Least privilege: each function's role against the declared per-function matrix, and append-only audit records."""

from __future__ import annotations

import fnmatch
import json
from collections import Counter
from itertools import chain
from typing import Any

import pytest
from aws_cdk import ArnFormat

from infra import constants as c
from rpm_billing.db import keys, schema

pytestmark = pytest.mark.infra

FUNCTION_IDS = sorted(c.FUNCTIONS)
#: DynamoDB actions that change or remove an item that already exists (PutItem also creates, so it stays allowed).
ITEM_MUTATIONS = frozenset(
    {
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:PartiQLUpdate",
        "dynamodb:PartiQLDelete",
    }
)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _role_id(synth: Any, function_id: str) -> str:
    function = synth.resource(synth.stack.functions.functions[function_id])
    return str(function["Properties"]["Role"]["Fn::GetAtt"][0])


def _attached(synth: Any, role_id: str, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        lid: res
        for lid, res in synth.of_type(resource_type).items()
        if {"Ref": role_id} in res["Properties"].get("Roles", [])
    }


def _statements(synth: Any, function_id: str, effect: str) -> list[dict[str, Any]]:
    """The statements of every policy the function's role holds: customer-managed, attached inline, embedded."""
    role_id = _role_id(synth, function_id)
    documents = [
        res["Properties"]["PolicyDocument"]
        for resource_type in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy")
        for res in _attached(synth, role_id, resource_type).values()
    ]
    documents += [p["PolicyDocument"] for p in synth.resources[role_id]["Properties"].get("Policies", [])]
    return [s for doc in documents for s in doc["Statement"] if s["Effect"] == effect]


def _allowed_actions(synth: Any, function_id: str) -> set[str]:
    return {a for s in _statements(synth, function_id, "Allow") for a in _as_list(s["Action"])}


def _grant_targets(synth: Any, function_id: str) -> dict[str, list[Any]]:
    """Where each resource name of the matrix points for one function, as template intrinsics."""
    stack, storage = synth.stack, synth.stack.storage
    function = synth.resource(stack.functions.functions[function_id])["Properties"]
    worker = synth.resource(stack.functions.functions["ExportWorker"])["Properties"]["FunctionName"]
    (machine,) = [
        r["Properties"]["StateMachineName"] for r in synth.of_type("AWS::StepFunctions::StateMachine").values()
    ]

    def arn(service: str, resource: str, name: str) -> str:
        return str(
            stack.format_arn(
                service=service, resource=resource, resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
            )
        )

    table = storage.table.table_arn
    targets: dict[str, list[Any]] = {
        "table": [table, *(f"{table}/index/{name}" for name in schema.GSIS)],
        "orders_objects": [storage.orders.arn_for_objects(f"{c.ORDERS_PREFIX}*")],
        "exports_objects": [storage.exports.arn_for_objects(f"{c.EXPORTS_PREFIX}*")],
        "runs_objects": [storage.exports.arn_for_objects(f"{c.RUNS_PREFIX}*")],
        "key": [storage.key.key_arn],
        "state_machine": [arn("states", "stateMachine", machine)],
        "executions": [arn("states", "execution", f"{machine}:*")],
        "export_worker": [arn("lambda", "function", worker)],
        "xray": ["*"],
    }
    resolved = {name: list(synth.resolve(arns)) for name, arns in targets.items()}
    resolved["log_group"] = [{"Fn::GetAtt": [function["LoggingConfig"]["LogGroup"]["Ref"], "Arn"]}]
    if "DeadLetterConfig" in function:
        resolved["dlq"] = [function["DeadLetterConfig"]["TargetArn"]]
    return resolved


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_function_role_allows_exactly_the_declared_actions(synth: Any, function_id: str) -> None:
    # Given the function's row of the declared permission matrix
    declared = set(chain.from_iterable(c.FUNCTIONS[function_id].grants.values()))

    # When the actions its role allows are read from the template
    allowed = _allowed_actions(synth, function_id)

    # Then they are exactly the declared ones
    assert allowed == declared


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_function_role_scopes_each_grant_to_its_declared_resource(synth: Any, function_id: str) -> None:
    # Given the declared grants and where each named resource is in the template
    targets = _grant_targets(synth, function_id)
    expected = Counter(
        (frozenset(actions), frozenset(_canonical(arn) for arn in targets[resource]))
        for resource, actions in c.FUNCTIONS[function_id].grants.items()
    )

    # When the role's Allow statements are read from the template
    actual = Counter(
        (frozenset(_as_list(s["Action"])), frozenset(_canonical(r) for r in _as_list(s["Resource"])))
        for s in _statements(synth, function_id, "Allow")
    )

    # Then each statement pairs one grant's actions with that grant's resources, and nothing else is allowed
    assert actual == expected


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_function_role_has_one_customer_managed_policy_and_no_inline_policy(synth: Any, function_id: str) -> None:
    # Given the function's role
    role_id = _role_id(synth, function_id)

    # When its policies are collected
    role = synth.resources[role_id]["Properties"]
    managed = _attached(synth, role_id, "AWS::IAM::ManagedPolicy")
    inline = _attached(synth, role_id, "AWS::IAM::Policy")

    # Then only Lambda assumes it and its one customer-managed policy is the whole of what it may do
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]
    assert (len(managed), inline, role.get("Policies"), role.get("ManagedPolicyArns")) == (1, {}, None, None)


def test_function_roles_are_not_shared(synth: Any) -> None:
    # Given every function of the stack
    # When the role of each is looked up
    roles = [_role_id(synth, function_id) for function_id in FUNCTION_IDS]

    # Then every function has a role of its own
    assert len(set(roles)) == len(FUNCTION_IDS)


def test_iam_policies_allow_no_wildcard_actions(synth: Any) -> None:
    # Given every identity policy in the template (functions, workflow, schedule, API Gateway)
    documents = [r["Properties"]["PolicyDocument"] for r in synth.of_type("AWS::IAM::ManagedPolicy").values()]
    documents += [r["Properties"]["PolicyDocument"] for r in synth.of_type("AWS::IAM::Policy").values()]
    documents += [
        p["PolicyDocument"]
        for r in synth.of_type("AWS::IAM::Role").values()
        for p in r["Properties"].get("Policies", [])
    ]

    # When their Allow statements are scanned
    allows = [s for doc in documents for s in doc["Statement"] if s["Effect"] == "Allow"]
    wildcards = sorted({a for s in allows for a in _as_list(s.get("Action", [])) if "*" in a})
    not_actions = [s for s in allows if "NotAction" in s]

    # Then every allowed action is named exactly
    assert len(allows) > len(FUNCTION_IDS)
    assert (wildcards, not_actions) == ([], [])


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_function_role_denies_updating_and_deleting_audit_records(synth: Any, function_id: str) -> None:
    # Given the role's Deny statements
    denies = _statements(synth, function_id, "Deny")

    # When the audit statement is read
    (deny,) = denies

    # Then updates and deletes of any item whose partition key is an audit key are denied on the table
    assert {"dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= set(_as_list(deny["Action"]))
    assert set(_as_list(deny["Action"])) == set(c.AUDIT_DENIED_ACTIONS)
    assert deny["Resource"] == synth.resolve(synth.stack.storage.table.table_arn)
    assert deny["Condition"] == {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": [c.AUDIT_KEY_PATTERN]}}


def test_audit_key_pattern_matches_audit_partition_keys_only() -> None:
    # Given the partition key of an audit record and of the other item families
    audit = keys.audit_pk("org-1", "2026-01-31", 7)
    others = [
        keys.patient_pk("org-1", "pat-1"),
        keys.deployment_pk("org-1", "dep-1"),
        keys.idempotency_pk("0" * 64),
    ]

    # When the IAM condition's pattern is applied to them
    matches = [fnmatch.fnmatchcase(pk, c.AUDIT_KEY_PATTERN) for pk in [audit, *others]]

    # Then only the audit key is covered by the Deny
    assert matches == [True, False, False, False]


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_function_role_allows_no_forbidden_table_action(synth: Any, function_id: str) -> None:
    # Given the actions the function's role allows
    allowed = _allowed_actions(synth, function_id)

    # When they are compared with the actions no function may hold on the table
    forbidden = allowed & set(c.FORBIDDEN_TABLE_ACTIONS)

    # Then none is allowed
    assert forbidden == set()


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_function_role_has_no_item_mutation_outside_the_audit_deny(synth: Any, function_id: str) -> None:
    # Given the actions the function's role allows
    allowed = _allowed_actions(synth, function_id)

    # When the ones that change or remove existing items are picked out
    mutations = allowed & ITEM_MUTATIONS

    # Then each of them is one the audit Deny covers (no BatchWriteItem or PartiQL route around it)
    assert mutations <= set(c.AUDIT_DENIED_ACTIONS)
