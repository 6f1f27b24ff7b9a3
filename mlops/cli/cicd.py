"""``mlops cicd check``: what a fork must set before its first push (mlops.space.preflight)."""

from __future__ import annotations

import argparse

from mlops.cli.common import HelpFormatter

__all__ = ["register", "cmd_check"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops cicd check``."""
    p = subparsers.add_parser("cicd", help="check the CI/CD setup of this repository",
                              description="Check the CI/CD setup before the first push.")
    sub = p.add_subparsers(dest="cicd_command", required=True, metavar="ACTION")
    c = sub.add_parser(
        "check", help="say what is missing or wrong before anything runs",
        description="Read HF_TOKEN, HF_MODEL_REPO, HF_SPACE_REPO and HF_DATASET_REPO from "
                    "the environment (as the workflows pass them) and check, on the Hub, "
                    "the token's write access to every repo the flow writes, their "
                    "visibility and each Space's SDK. A fork starts with Actions and "
                    "scheduled workflows switched off: enable them in its Actions tab.",
        epilog="example (HF_TOKEN and the three HF_*_REPO variables exported):\n"
               "  mlops cicd check",
        formatter_class=HelpFormatter)
    c.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace, api: object | None = None) -> int:
    """Print every finding; exit 2 when something is missing or wrong."""
    import os
    from pathlib import Path

    from mlops.pipeline.models import model_rows
    from mlops.space.preflight import preflight

    env = dict(os.environ)
    models = [(r["name"], r["params"] == "params.yaml") for r in model_rows(Path.cwd())]
    if api is None and env.get("HF_TOKEN"):
        from mlops.space.deploy import hub_api

        api = hub_api()
    findings = preflight(env, models, api)
    for f in findings:
        print(f"{f.status:<8} {f.subject}: {f.detail}")
    bad = [f for f in findings if f.status in ("missing", "wrong")]
    print("ready for the first push" if not bad else f"{len(bad)} to fix first")
    return 2 if bad else 0
