"""cdk-nag (AwsSolutions and HIPAA Security): no finding left, and the register is exactly what is acknowledged."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import ArnFormat, CfnResource
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions

from infra import app as infra_app
from infra import nag_register

pytestmark = pytest.mark.infra

Suppression = tuple[str, str, str | None, str]


@pytest.fixture(scope="module")
def annotations(synth: Any) -> Any:
    return Annotations.from_stack(synth.stack)


def _paths(stack: Any) -> dict[str, str]:
    """Construct path of every CloudFormation resource of the stack, by logical id."""
    return {
        str(stack.get_logical_id(node)): str(node.node.path)
        for node in stack.node.find_all()
        if isinstance(node, CfnResource)
    }


def _declared(stack: Any) -> set[Suppression]:
    """``(logical id, rule, applies_to, reason)`` for every resource each register entry's path matches."""
    prefix = f"{stack.node.path}/"
    return {
        (lid, ack.rule, nag_register.resolve_applies_to(stack, ack.applies_to) if ack.applies_to else None, ack.reason)
        for lid, path in _paths(stack).items()
        for ack in nag_register.REGISTER
        if nag_register.path_matches(path.removeprefix(prefix), ack.path)
    }


def _in_template(body: dict[str, Any]) -> set[Suppression]:
    """The same tuples for every suppression cdk-nag finds in the template's metadata (stack level as ``""``)."""
    holders = [("", body), *body["Resources"].items()]
    return {
        (lid, rule["id"], applies_to, rule["reason"])
        for lid, holder in holders
        for rule in holder.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
        for applies_to in rule.get("applies_to") or [None]
    }


def _suppressed_findings(outdir: Path) -> set[tuple[str, str, str]]:
    """``(construct path, rule, exception reason)`` of every finding the nag reports mark as suppressed."""
    rows = [row for report in outdir.glob("*-NagReport.csv") for row in csv.DictReader(report.open(encoding="utf-8"))]
    return {(r["Resource ID"], r["Rule ID"], r["Exception Reason"]) for r in rows if r["Compliance"] == "Suppressed"}


def test_nag_reports_no_errors(annotations: Any) -> None:
    # Given the stack synthesised with the AwsSolutions and HIPAA Security packs and the register
    # When its error annotations are collected
    errors = annotations.find_error("*", Match.string_like_regexp(".*"))

    # Then there are none
    assert [f"{e.id}: {e.entry.data}" for e in errors] == []


def test_nag_reports_no_warnings(annotations: Any) -> None:
    # Given the stack synthesised with the AwsSolutions and HIPAA Security packs and the register
    # When its warning annotations are collected
    warnings = annotations.find_warning("*", Match.string_like_regexp(".*"))

    # Then there are none
    assert [f"{w.id}: {w.entry.data}" for w in warnings] == []


def test_nag_register_equals_the_suppressions_in_the_template(synth: Any) -> None:
    # Given what the register declares, resource by resource
    declared = _declared(synth.stack)

    # When the suppressions are read from the synthesised template's metadata
    in_template = _in_template(synth.body)

    # Then they are the same: none added outside the register, none lost on the way
    assert declared
    assert sorted(in_template - declared, key=str) == []
    assert sorted(declared - in_template, key=str) == []


def test_nag_register_entries_each_match_a_resource(synth: Any) -> None:
    # Given the register
    # When entries whose path matches no resource of the stack are looked for
    stale = nag_register.unmatched(synth.stack)

    # Then there are none
    assert stale == []


def test_nag_suppressions_each_silence_a_finding_on_their_resource(synth: Any) -> None:
    # Given every suppression the register puts on a resource
    paths = _paths(synth.stack)
    expected = {
        (paths[lid], rule, f"[{applies_to}] {reason}" if applies_to else reason)
        for lid, rule, applies_to, reason in _declared(synth.stack)
    }

    # When the findings the nag reports mark as suppressed are read
    suppressed = _suppressed_findings(synth.outdir)

    # Then each suppression silenced a finding of that resource (none is stale or broader than its finding)
    assert sorted(expected - suppressed, key=str) == []


def test_nag_register_arn_acknowledgements_hold_in_a_stack_with_an_environment(
    tmp_path: Path, app_context: dict[str, object]
) -> None:
    # Given a stack with an explicit environment (as the CDK CLI synthesises it) holding, for each ARN
    # acknowledgement of the register, a policy on that ARN built the way the stack builds its ARNs
    app = cdk.App(outdir=str(tmp_path), context=app_context)
    stack = cdk.Stack(app, "Probe", env=cdk.Environment(account="123456789012", region="eu-west-2"))
    entries = [a for a in nag_register.REGISTER if str(a.applies_to).startswith("Resource::arn:")]
    for index, ack in enumerate(entries):
        arn_pattern = re.sub(r"<AWS::\w+>", "{pseudo}", str(ack.applies_to).removeprefix("Resource::"))
        _, _, service, _, _, rest = arn_pattern.split(":", 5)
        resource, name = rest.split(":", 1)
        arn = stack.format_arn(
            service=service, resource=resource, resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        policy = iam.ManagedPolicy(
            stack, f"Policy{index}", statements=[iam.PolicyStatement(actions=[f"{service}:Describe"], resources=[arn])]
        )
        NagSuppressions.add_resource_suppressions(
            policy,
            [
                NagPackSuppression(
                    id=ack.rule,
                    reason=ack.reason,
                    applies_to=[nag_register.resolve_applies_to(stack, str(ack.applies_to))],
                )
            ],
        )
    cdk.Aspects.of(app).add(AwsSolutionsChecks())

    # When the stack is checked
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp(".*"))

    # Then every finding is acknowledged by its register entry
    assert len(entries) >= 3
    assert [f"{e.id}: {e.entry.data}" for e in errors] == []


def test_app_context_fails_synthesis_on_nag_findings() -> None:
    # Given the context make synth and the CDK CLI give the app (cdk.json)
    # When the flag that turns error annotations into validation failures is read
    context = infra_app.load_context()

    # Then it is on, so a cdk-nag error stops the synthesis of a deployment
    assert context.get("@aws-cdk/core:annotationsInValidationReport") is True
