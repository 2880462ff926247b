"""One synthesis of the CDK app (cdk-nag applied, as ``make synth`` does), shared by every infra test."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

#: With this flag on (as cdk.json has it), an error annotation fails synthesis itself: every infra test would then
#: error at setup. Off here, so that a cdk-nag finding fails the nag tests, which name it; the template is the same.
ANNOTATIONS_FAIL_SYNTH = "@aws-cdk/core:annotationsInValidationReport"


@pytest.fixture(scope="session")
def app_context() -> dict[str, object]:
    """The app context of ``make synth`` (cdk.json, assets not bundled), except that annotations do not fail."""
    from infra import app as infra_app
    from infra.bytecode import SKIP_BUNDLING

    return {**infra_app.load_context(), **SKIP_BUNDLING, ANNOTATIONS_FAIL_SYNTH: False}


@dataclass(frozen=True)
class Synthesized:
    """The synthesised billing stack: the construct tree, its template and the cloud assembly on disk.

    Attributes:
        stack: The ``BillingStack`` built by ``infra.app.build`` (nag packs and register applied).
        template: ``Template.from_stack(stack)``.
        body: The template as a dict.
        outdir: The cloud assembly directory.
    """

    stack: Any
    template: Any
    body: dict[str, Any]
    outdir: Path

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """Every resource of the template by logical id."""
        return dict(self.body["Resources"])

    @property
    def template_path(self) -> Path:
        """The template file of the stack in the cloud assembly."""
        return self.outdir / self.stack.template_file

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """The resources of one CloudFormation type by logical id.

        Args:
            resource_type: For example ``AWS::Lambda::Function``.
        """
        return {lid: res for lid, res in self.body["Resources"].items() if res["Type"] == resource_type}

    def logical_id(self, construct: Any) -> str:
        """The logical id of an L2 construct's CloudFormation resource (or of an L1 resource itself)."""
        default_child = getattr(construct.node, "default_child", None)
        return str(self.stack.get_logical_id(default_child or construct))

    def resource(self, construct: Any) -> dict[str, Any]:
        """The template resource of a construct."""
        return dict(self.body["Resources"][self.logical_id(construct)])

    def resolve(self, value: Any) -> Any:
        """A value with its tokens resolved to CloudFormation intrinsics, as they appear in the template."""
        return self.stack.resolve(value)

    def asset_path(self, object_key: str) -> Path:
        """The file of the file asset published under ``object_key`` (from the stack's asset manifest).

        Args:
            object_key: The S3 key the template points at, e.g. a ``DefinitionS3Location.Key``.

        Raises:
            KeyError: No file asset of the stack is published under that key.
        """
        manifest = json.loads((self.outdir / f"{self.stack.artifact_id}.assets.json").read_text())
        for asset in manifest.get("files", {}).values():
            if any(d.get("objectKey") == object_key for d in asset["destinations"].values()):
                return self.outdir / asset["source"]["path"]
        raise KeyError(f"no file asset published as {object_key}")


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory, app_context: dict[str, object]) -> Synthesized:
    """The billing app synthesised once per session into a temporary cloud assembly.

    The dependency layer is built into build/layer on first use (scripts/build_layer.sh) and reused afterwards.
    The context is cdk.json's, with annotations reported by the nag tests rather than failing the synthesis.
    """
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra import app as infra_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir), context=app_context)
    stack = infra_app.build(app)
    template = Template.from_stack(stack)
    return Synthesized(stack=stack, template=template, body=template.to_json(), outdir=outdir)
