"""``mlops deploy start|analyse|switch|abort|promote-shadow|stop-shadow|status``.

The release state machine lives in :mod:`mlops.serving.deployment`; this module parses the
arguments, calls it and prints the result as JSON.
"""

from __future__ import annotations

import argparse
import json

from mlops.cli.common import HelpFormatter, actor_of, add_actor_arg, add_params_args, load_params

__all__ = ["register", "cmd_deploy"]

DESCRIPTION = """\
Release a registered version with a strategy (default: deployment.strategy):
  canary      a growing share of traffic, one step at a time (`deploy analyse`)
  blue_green  loaded into the idle slot; `deploy switch` makes it production
  shadow      scores a share of requests on the side; nobody sees its answers
  direct      production at once
The state is kept in the registry: every change is a compare-and-swap and a
ledger entry."""

# action -> (one-line help, description or None, example lines)
ACTIONS: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "start": (
        "start releasing a version (default: the new candidate, released once)",
        "Start releasing VERSION with --strategy (default: deployment.strategy). Without "
        "VERSION the candidate alias is released, once: nothing happens when it is "
        "production already or its release has ended (promoted, aborted, rolled back), "
        "so CD may call this on every push.",
        ("mlops deploy start", "mlops deploy start 3 --strategy blue_green",
         'mlops deploy start --strategy shadow --reason "compare v4 on live traffic"'),
    ),
    "analyse": (
        "analyse the running canary on the prediction log: next step, pause or abort",
        "Check the running canary against the rollback rules on the prediction log "
        "(monitoring.log_path) and apply the decision: the next traffic step (or the "
        "final promotion), a pause, or an abort. Prints the decision as JSON.",
        ("mlops deploy analyse",
         "mlops deploy analyse --set monitoring.log_path=monitor-data/live/predictions.sqlite"),
    ),
    "switch": (
        "blue-green: make the other slot production (again to switch back)",
        None,
        ('mlops deploy switch --reason "v3 checked in the idle slot"',),
    ),
    "abort": (
        "stop the running canary or shadow: all traffic back to production",
        None,
        ('mlops deploy abort --reason "latency too high"',),
    ),
    "promote-shadow": (
        "end the running shadow release and make its candidate production",
        None,
        ("mlops deploy promote-shadow",),
    ),
    "stop-shadow": (
        "end the running shadow release; production stays as it is",
        None,
        ("mlops deploy stop-shadow",),
    ),
    "status": (
        "print production and the current (or last) release as JSON",
        None,
        ("mlops deploy status", "mlops deploy status --model my-model"),
    ),
}
# The same as mlops.serving.deployment.STRATEGIES (a test checks), spelled out here so that
# `mlops --help` does not import pandas.
STRATEGIES = ("direct", "blue_green", "canary", "shadow")
CHANGES_STATE = ("start", "switch", "abort", "promote-shadow", "stop-shadow")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops deploy`` and its actions."""
    p = subparsers.add_parser(
        "deploy", help="release a version: canary, blue-green, shadow or direct",
        description=DESCRIPTION, formatter_class=HelpFormatter,
        epilog="examples:\n  mlops deploy start\n  mlops deploy status",
    )
    dsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, (text, description, examples) in ACTIONS.items():
        c = dsub.add_parser(action, help=text,
                            description=description or f"{text[0].upper()}{text[1:]}.",
                            epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
                            formatter_class=HelpFormatter)
        add_params_args(c, any_model=True)
        if action == "start":
            c.add_argument("version", nargs="?",
                           help="version or alias to release, e.g. staging (default: the "
                                "candidate alias)")
            c.add_argument("--strategy", choices=STRATEGIES,
                           help="default: deployment.strategy")
        if action in CHANGES_STATE:
            c.add_argument("--reason", help="why; recorded in the ledger")
            add_actor_arg(c)
        c.set_defaults(func=cmd_deploy)


def cmd_deploy(args: argparse.Namespace) -> int:
    """Run one deploy action and print the resulting state (or the canary decision)."""
    import time

    from mlops.registry import open_registry
    from mlops.serving import deployment

    params = load_params(args)
    reg = open_registry(params.registry, params.root)
    name, now, action = args.model or params.model.name, time.time(), args.action
    reason, actor = getattr(args, "reason", None), actor_of(args)
    if action == "start":
        if args.version is None:  # what `mlops run` registered last: the candidate alias
            dep = deployment.start_candidate(reg, name, params.deployment,
                                             strategy=args.strategy, now=now,
                                             reason=reason or "", actor=actor)
            if dep is None:
                print(f"{name}: no new candidate to release; production stays as it is")
                return 0
        else:
            dep = deployment.start(reg, name, params.deployment,
                                   candidate=reg.resolve(name, args.version).version,
                                   strategy=args.strategy, now=now, reason=reason or "",
                                   actor=actor)
    elif action == "switch":
        dep = deployment.switch(reg, name, now=now, reason=reason or "", actor=actor)
    elif action == "abort":
        dep = deployment.abort(reg, name, reason=reason or "aborted by hand", now=now,
                               actor=actor)
    elif action in ("promote-shadow", "stop-shadow"):
        dep = deployment.finish_shadow(reg, name, promote=action == "promote-shadow", now=now,
                                       reason=reason or "", actor=actor)
    elif action == "analyse":
        from mlops.serving.predlog import read_predictions

        frame = read_predictions(params.resolve(params.monitoring.log_path), model=name)
        decision = deployment.analyse_and_apply(reg, name, frame, params.deployment,
                                                params.monitoring, now=now, actor=actor,
                                                regression=params.data.regression)
        print(json.dumps(decision.to_dict() if decision else {"action": "none"}, indent=1,
                         default=str))
        return 0
    else:
        dep, _ = deployment.read_deployment(reg, name)
    print(json.dumps({"production": reg.aliases(name).get("production"),
                      "deployment": dep.to_dict() if dep else None}, indent=1))
    return 0
