"""cfn-lint on the synthesised template, as ``make cfn-lint`` runs it."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.infra

#: cfn-lint's exit code is a bitmask: 2 = errors, 4 = warnings, 8 = informational findings (1 = cfn-lint failed).
ERRORS = 2
#: W3005 ("dependency already enforced by a GetAtt") is CDK noise on every role a resource depends on explicitly.
IGNORED_CHECKS = ("W3005",)


def test_cfn_lint_finds_nothing_but_the_ignored_checks(synth: Any) -> None:
    # Given the template the app synthesised
    template = synth.template_path

    # When cfn-lint checks it
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cfnlint.runner import main; sys.exit(main())",
            "--ignore-checks",
            *IGNORED_CHECKS,
            "--",
            str(template),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # Then it reports no error, no warning and no informational finding
    assert template.is_file()
    assert result.returncode & ERRORS == 0, result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
