"""What ``python -m local serve`` prints once ready: URLs, a token per role, example calls."""

from __future__ import annotations

from typing import Any

from local.tokens import mint
from rpm_billing.auth import Role


def role_tokens(org_id: str, deployment_id: str) -> dict[str, str]:
    """A ready development token for each role, scoped to the demo organisation and deployment."""
    return {role.value: mint(role.value, org_id, deployment_id, user_id=f"demo-{role.value.lower()}") for role in Role}


def banner(stack: Any) -> str:
    """The start-up text."""
    from local.seed import DEMO_DEPLOYMENT, DEMO_ORG

    url = stack.url
    demo = stack.demo
    org = demo.org_id if demo else DEMO_ORG
    dep = demo.deployment_id if demo else DEMO_DEPLOYMENT
    tokens = role_tokens(org, dep)
    names = ", ".join(f.name for f in stack.gateway.functions) or "none"
    lines = [
        "",
        f"local stack ready in {stack.timings.get('ready_s', 0):.1f} s (functions: {names})",
        f"  API          {url}",
        f"  health       {url}/health",
        f"  OpenAPI      {url}/openapi.json",
        f"  emulator     {stack.emulator.endpoint_url}   (AWS_ENDPOINT_URL for boto3 / aws cli)",
    ]
    if demo:
        lines += [
            f"  demo org     {demo.org_id}",
            f"  deployment   {demo.deployment_id}   ({demo.enrolled} enrolled, {demo.awaiting} awaiting onboarding,"
            f" seeded in {stack.timings.get('seed_s', 0):.1f} s)",
            f"  a patient    {demo.sample_patient}",
        ]
    else:
        lines.append("  no demo data (--no-seed)")
    lines += ["", "tokens (12 h; more with `python -m local token --role ROLE --org ORG --deployment DEP`):"]
    lines += [f"  {role:<18} {token}" for role, token in tokens.items()]
    staff = tokens[Role.DEPLOYMENT_STAFF.value]
    patient = demo.sample_patient if demo else "PATIENT_ID"
    lines += [
        "",
        "try:",
        f'  TOKEN="{staff}"',
        f'  curl -s -H "Authorization: Bearer $TOKEN" "{url}/v1/deployments/{dep}/billing/worklist?code=99454"',
        f'  curl -s -H "Authorization: Bearer $TOKEN" "{url}/v1/patients/{patient}/billing/status"',
        f'  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" '
        f'-d \'{{"month": "{demo.previous_month if demo else "YYYY-MM"}"}}\' '
        f'"{url}/v1/deployments/{dep}/billing/evaluations"',
        "",
        "the monthly schedule does not fire locally; run a month with "
        f"`python -m local evaluate --deployment {dep} --month YYYY-MM`",
        "Ctrl-C stops the stack (all data is in memory).",
    ]
    return "\n".join(lines)
