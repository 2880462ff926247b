"""``python -m local serve | token | evaluate``: the local stack's commands (development only)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from rpm_billing.auth import ClinicalRole, Role

DEMO_HINT = "the demo ids are printed by `python -m local serve`"


def _serve(args: argparse.Namespace) -> int:
    from local.banner import banner
    from local.stack import LocalStack

    stack = LocalStack(
        port=args.port,
        endpoint_url=args.endpoint_url,
        moto_port=args.moto_port,
        seed=not args.no_seed,
        log_level=args.log_level,
    )
    print("starting the local stack ...", flush=True)
    stack.start()
    print(banner(stack), flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    print("stopping", flush=True)
    stack.stop()
    return 0


def _token(args: argparse.Namespace) -> int:
    from local.tokens import mint

    print(
        mint(
            args.role,
            args.org,
            args.deployment or "",
            user_id=args.user,
            clinical_role=args.clinical_role,
            ttl_seconds=args.ttl,
        )
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from local.evaluate_cli import run_evaluation

    return run_evaluation(
        deployment_id=args.deployment, month=args.month, org_id=args.org, url=args.url, in_process=args.in_process
    )


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    from local.seed import DEMO_DEPLOYMENT, DEMO_ORG

    root = argparse.ArgumentParser(prog="python -m local", description="The local stack (development only).")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="emulated AWS + the API on 127.0.0.1, with demo data")
    serve.add_argument("--port", type=int, default=8080, help="API port (default 8080; 0 = any free port)")
    serve.add_argument("--endpoint-url", help="use this AWS-compatible endpoint instead of starting moto")
    serve.add_argument("--moto-port", type=int, default=0, help="port of the in-process emulator (default: free)")
    serve.add_argument("--no-seed", action="store_true", help="start empty, without the demo organisation")
    serve.add_argument("--log-level", default="WARNING", help="handler log level (default WARNING)")
    serve.set_defaults(func=_serve)

    token = commands.add_parser("token", help="print a development token")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--org", required=True, help="organisation id")
    token.add_argument("--deployment", default="", help="deployment id(s), comma-separated")
    token.add_argument("--user", default="dev-user", help="user id (the sub claim)")
    token.add_argument("--clinical-role", choices=[c.value for c in ClinicalRole], default=None)
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(func=_token)

    evaluate = commands.add_parser("evaluate", help="run the monthly evaluation of a deployment now")
    evaluate.add_argument("--deployment", default=DEMO_DEPLOYMENT, help=f"deployment id (default {DEMO_DEPLOYMENT})")
    evaluate.add_argument("--month", required=True, help="YYYY-MM")
    evaluate.add_argument("--org", default=DEMO_ORG, help=f"organisation id (default {DEMO_ORG})")
    evaluate.add_argument("--url", default="http://127.0.0.1:8080", help="a running local stack")
    evaluate.add_argument(
        "--in-process", action="store_true", help="start a seeded stack in this process instead of using --url"
    )
    evaluate.set_defaults(func=_evaluate)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command."""
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
