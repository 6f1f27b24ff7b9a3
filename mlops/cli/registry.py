"""``mlops registry list|show|history|advance``, ``mlops promote`` and ``mlops rollback``.

Each handler opens the registry named in the params, acts, and prints plain text
(``--json`` prints JSON instead).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.cli.common import (
    HelpFormatter,
    actor_of,
    add_actor_arg,
    add_params_args,
    load_params,
)

if TYPE_CHECKING:
    from mlops.core.config import Params
    from mlops.registry import ModelVersion, Registry

__all__ = ["register", "registry_for", "cmd_list", "cmd_show", "cmd_history", "cmd_promote",
           "cmd_rollback", "cmd_environment_promote"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops registry list|show|history``, ``mlops promote`` and ``mlops rollback``."""
    p = subparsers.add_parser(
        "registry", help="list models, show versions, print the promotion ledger",
        description="Read the model registry named in the params (registry.backend: a local "
                    "folder or a Hub repo).",
    )
    rsub = p.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    c = rsub.add_parser("list", help="every model with its number of versions and its aliases",
                        description="Every model with its number of versions and its aliases.",
                        epilog="example:\n  mlops registry list --json",
                        formatter_class=HelpFormatter)
    add_params_args(c)
    c.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(func=cmd_list)
    c = rsub.add_parser("show", help="a table of the versions of a model, or one version in full",
                        description="A table of the versions of a model, or one version in full.",
                        epilog="examples:\n  mlops registry show\n"
                               "  mlops registry show my-model production --json\n"
                               "  mlops registry show my-model 3 --evidence evidence/v3",
                        formatter_class=HelpFormatter)
    add_params_args(c)
    c.add_argument("--json", action="store_true", help="print JSON")
    c.add_argument("name", nargs="?", help="model name (params model.name)")
    c.add_argument("version", nargs="?", help="version number or alias")
    c.add_argument("--evidence", metavar="DIR",
                   help="with a version: copy its stored evidence (executed notebooks, "
                        "manifest, report, model card, plots) into DIR, each file checked "
                        "against its recorded hash")
    c.set_defaults(func=cmd_show)
    c = rsub.add_parser("history", help="the promotion ledger of a model, oldest first",
                        description="The promotion ledger of a model, oldest first.",
                        epilog="example:\n  mlops registry history my-model --json",
                        formatter_class=HelpFormatter)
    add_params_args(c)
    c.add_argument("--json", action="store_true", help="print JSON")
    c.add_argument("name", nargs="?", help="model name (params model.name)")
    c.set_defaults(func=cmd_history)
    # Once named ``registry promote``, which still works (mlops.cli.main.RENAMED).
    c = rsub.add_parser(
        "advance", help="move a version on to the next environment (staging, production)",
        description="Move a version on to an environment: staging (CD does this for each "
                    "registered candidate), then production, which takes only the version "
                    "staging holds (--force with --reason for a hotfix). The move is a "
                    "compare-and-swap and a ledger entry: who (--actor, MLOPS_ACTOR, "
                    "GITHUB_ACTOR or the OS user), when, why and from where.",
        epilog="examples:\n  mlops registry advance candidate --to staging\n"
               "  mlops registry advance my-model 4 --to production --reason \"checked on "
               "staging\"\n  mlops registry advance my-model staging --to production",
        formatter_class=HelpFormatter)
    add_params_args(c)
    add_actor_arg(c)
    c.add_argument("target", nargs="+", metavar="[NAME] VERSION",
                   help="model name (default params model.name) and a version number or "
                        "alias (candidate, staging)")
    c.add_argument("--to", required=True, metavar="ENVIRONMENT",
                   help="staging or production")
    c.add_argument("--reason", help="why; recorded in the ledger")
    c.add_argument("--force", action="store_true",
                   help="skip the previous environment (needs --reason)")
    c.add_argument("--if-new", action="store_true",
                   help="do nothing (exit 0) when VERSION is an alias that is not set or "
                        "the environment holds it already (CD)")
    c.set_defaults(func=cmd_environment_promote)

    p = subparsers.add_parser(
        "promote", help="move an alias to a version (compare-and-swap)",
        description="Move an alias (production, candidate, ...) to a version. The move is a "
                    "compare-and-swap: it fails if the alias no longer points where it "
                    "did (--expected), and it is recorded in the ledger. To move a version "
                    "through the environments (staging, then production), use "
                    "`mlops registry advance`.",
        epilog="examples:\n  mlops promote 3 --to production --expected 2\n"
               "  mlops promote --latest-validated --to production\n"
               "  mlops promote 4 --to production --force --reason \"hotfix, gates re-run "
               "by hand\"",
        formatter_class=HelpFormatter,
    )
    add_params_args(p, any_model=True)
    p.add_argument("version", nargs="?", help="version to promote (or --latest-validated)")
    p.add_argument("--to", required=True, metavar="ALIAS", help="alias, e.g. production")
    p.add_argument("--expected", metavar="N|none",
                   help="version the alias must point to now (default: its current version)")
    p.add_argument("--latest-validated", action="store_true",
                   help="promote the newest version whose gates passed")
    p.add_argument("--force", action="store_true",
                   help="allow a version whose gates failed into production (needs --reason)")
    p.add_argument("--reason", help="why; recorded in the ledger")
    add_actor_arg(p)
    p.set_defaults(func=cmd_promote)

    p = subparsers.add_parser(
        "rollback", help="move production back to its previous version",
        description="Move an alias (production by default) back to the version it held "
                    "before; recorded in the ledger. The move is a compare-and-swap: it fails "
                    "if the alias no longer points where it did (--expected), so a rollback "
                    "sent during a promote never silently undoes it.",
        epilog='examples:\n  mlops rollback --reason "error rate up after v3"\n'
               '  mlops rollback --expected 3 --reason "error rate up after v3"',
        formatter_class=HelpFormatter,
    )
    add_params_args(p, any_model=True)
    p.add_argument("--alias", default="production", help="alias to roll back (production)")
    p.add_argument("--expected", metavar="N",
                   help="version the alias must point to now, the one you decided to roll "
                        "back (default: its current version)")
    p.add_argument("--reason", help="why; recorded in the ledger")
    add_actor_arg(p)
    p.set_defaults(func=cmd_rollback)


def registry_for(params: Params) -> Registry:
    """The registry configured in ``params`` (paths relative to the params file)."""
    from mlops.registry import open_registry

    return open_registry(params.registry, params.root)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def cmd_list(args: argparse.Namespace) -> int:
    """Print every model with its number of versions and its aliases."""
    from mlops.registry import ENVIRONMENTS

    as_json = args.json
    reg = registry_for(load_params(args))
    rows = [{"model": m, "versions": len(reg.versions(m)), "aliases": aliases,
             "environments": {e: aliases.get(e) for e in ENVIRONMENTS}}
            for m in reg.models() for aliases in (reg.aliases(m),)]
    if as_json:
        _print_json(rows)
    elif not rows:
        print(f"no models registered yet in {reg!r}")
    for row in rows if not as_json else []:
        aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(row["aliases"].items())) or "-"
        print(f"{row['model']}\t{_count(row['versions'], 'version')}\t{aliases}\t"
              f"{_environments(row['environments'])}")
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _environments(held: dict[str, int | None]) -> str:
    """``staging v2 -> production v2``; an environment without a version is named apart
    (``production v1 (no staging version)``), never drawn as ``staging -``."""
    have = [f"{e} v{v}" for e, v in held.items() if v]
    empty = [e for e, v in held.items() if not v]
    if not have:
        return f"no {' or '.join(empty)} version"
    return " -> ".join(have) + (f" (no {' or '.join(empty)} version)" if empty else "")


def _v(version: int | None) -> str:
    return f"v{version}" if version else "-"


def cmd_show(args: argparse.Namespace) -> int:
    """Print one version in full, or a table of every version of a model."""
    from mlops.core.exceptions import NotFoundError

    params, version, as_json = load_params(args), args.version, args.json
    reg = registry_for(params)
    name = args.name or params.model.name
    if version is not None:
        mv = reg.resolve(name, version)
        if args.evidence:
            return _fetch_evidence(reg, mv, Path(args.evidence))
        _print_json(mv.to_dict())
        return 0
    if args.evidence:
        from mlops.core.exceptions import ConfigError

        raise ConfigError("--evidence needs a version: mlops registry show NAME VERSION "
                          "--evidence DIR", key="version")
    versions = reg.versions(name)
    if not versions:
        raise NotFoundError(f"{name}: no versions registered; run `mlops run` first", model=name)
    by_version: dict[int, list[str]] = {}
    for alias, number in reg.aliases(name).items():
        by_version.setdefault(number, []).append(alias)
    if as_json:
        _print_json([{**mv.to_dict(), "aliases": by_version.get(mv.version, [])}
                     for mv in versions])
        return 0
    print("version\tcreated\tgates\tsha256\taliases")
    for mv in versions:
        gates = "passed" if mv.gates_passed else "FAILED"
        aliases = ",".join(sorted(by_version.get(mv.version, []))) or "-"
        print(f"v{mv.version}\t{mv.created}\t{gates}\t{mv.sha256[:12]}\t{aliases}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """Print the promotion ledger of a model, oldest first."""
    params, as_json = load_params(args), args.json
    reg = registry_for(params)
    name = args.name or params.model.name
    entries = reg.history(name)
    if as_json:
        _print_json([e.to_dict() for e in entries])
        return 0
    if not entries:
        print(f"{name}: the ledger is empty (nothing promoted yet)")
    for e in entries:
        if e.action == "set-state":
            what = f"state {e.key} = {json.dumps(e.value, sort_keys=True)}"
        else:
            before = f"v{e.from_version}" if e.from_version else "-"
            after = f"v{e.to_version}" if e.to_version else "-"
            what = f"{e.alias}: {before} -> {after}"
            source = (e.evidence or {}).get("from_environment")
            if source:
                what += f" (from {source})"
        print(f"#{e.seq}\t{e.time}\t{e.actor}\t{e.action}\t{what}\t{e.reason}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    """Move ``--to`` to a version (compare-and-swap on ``--expected``) and print the move.

    Without ``--expected`` the alias's current version is read and used, which still fails
    if someone moves it between that read and the write.
    """
    from mlops.core.exceptions import NotFoundError, RegistryError
    from mlops.registry import parse_version

    params = load_params(args)
    version, alias, expected, reason = args.version, args.to, args.expected, args.reason
    latest_validated, force = args.latest_validated, args.force
    reg = registry_for(params)
    name = args.model or params.model.name
    if force and not (reason or "").strip():
        raise RegistryError("--force needs --reason TEXT: the reason is recorded in the ledger")
    if latest_validated == (version is not None):
        raise RegistryError("give either VERSION or --latest-validated (not both, not neither)")
    if latest_validated:
        mv = reg.latest_validated(name)
        if mv is None:
            raise NotFoundError(
                f"{name}: no version passed its gates; nothing to promote with "
                "--latest-validated", model=name,
            )
        number = mv.version
    else:
        number = parse_version(version)
    if expected is None:
        current: int | None = reg.aliases(name).get(alias)
    elif expected.strip().lower() in ("none", "null", "-"):
        current = None
    else:
        current = parse_version(expected)
    entry = reg.promote(
        name, number, alias, expected=current, force=force, actor=actor_of(args),
        reason=reason or ("--latest-validated" if latest_validated else "manual promotion"),
    )
    before = f"v{entry.from_version}" if entry.from_version else "nothing"
    print(f"{name}: {alias} {before} -> v{entry.to_version} ({entry.action} #{entry.seq})")
    return 0


def cmd_environment_promote(args: argparse.Namespace) -> int:
    """Move a version on to ``--to`` (an environment) and print the move."""
    from mlops.core.exceptions import RegistryError

    params = load_params(args)
    if len(args.target) > 2:
        raise RegistryError(f"expected [NAME] VERSION, got {args.target}")
    name, version = (args.target if len(args.target) == 2
                     else [params.model.name, args.target[0]])
    if args.force and not (args.reason or "").strip():
        raise RegistryError("--force needs --reason TEXT: the reason is recorded in the ledger")
    from mlops.registry.base import Unmoved

    entry = registry_for(params).promote_environment(
        name, version, args.to, actor=actor_of(args), force=args.force,
        reason=args.reason or f"moved on to {args.to}", if_new=args.if_new)
    if isinstance(entry, Unmoved):
        held = f"v{entry.version}" if entry.version else f"{version!r} is not set"
        print(f"{name}: nothing to move on to {args.to} ({held}; {args.to} holds "
              f"{_v(entry.held)})")
        return 0
    before = f"v{entry.from_version}" if entry.from_version else "nothing"
    print(f"{name}: {args.to} {before} -> v{entry.to_version} by {entry.actor} "
          f"({entry.action} #{entry.seq})")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    """Move ``--alias`` back to the version it held before (compare-and-swap on
    ``--expected``), and print the move.

    Without ``--expected`` the alias's current version is read and used, which still fails
    if someone moves it between that read and the write.
    """
    from mlops.registry import parse_version

    params, alias = load_params(args), args.alias
    reg = registry_for(params)
    name = args.model or params.model.name
    expected = (reg.aliases(name).get(alias) if args.expected is None
                else parse_version(args.expected))
    entry = reg.rollback(name, alias=alias, reason=args.reason or "manual rollback",
                         actor=actor_of(args), expected=expected)
    print(f"{name}: {alias} v{entry.from_version} -> v{entry.to_version} (rollback #{entry.seq})")
    return 0


def _fetch_evidence(reg: Registry, mv: ModelVersion, out: Path) -> int:
    """Copy every stored file of ``mv`` but the model into ``out``, hash-checked."""
    import shutil

    names = sorted(mv.files)
    if not names:
        print(f"{mv.label}: no evidence stored with this version")
        return 0
    for filename in names:
        source = reg.file_path(mv.name, mv.version, filename)  # verifies the hash
        target = out / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        print(f"{filename}\t{mv.files[filename][:12]}")
    print(f"{mv.label}: {len(names)} file(s) in {out}")
    return 0
