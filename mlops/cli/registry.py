"""What ``mlops registry list|show|history``, ``mlops promote`` and ``mlops rollback`` do.

``mlops/cli/main.py`` parses the arguments and calls these with the loaded params; they open
the registry, act, and print plain text (``--json`` prints JSON instead).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlops.core.exceptions import NotFoundError, RegistryError
from mlops.registry import Registry, open_registry, parse_version

if TYPE_CHECKING:
    from mlops.core.config import Params

__all__ = ["registry_for", "cmd_list", "cmd_show", "cmd_history", "cmd_promote", "cmd_rollback"]


def registry_for(params: Params) -> Registry:
    """The registry configured in ``params`` (paths relative to the params file)."""
    return open_registry(params.registry, params.root)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def cmd_list(params: Params, *, as_json: bool = False) -> int:
    """Print every model with its number of versions and its aliases."""
    reg = registry_for(params)
    rows = [{"model": m, "versions": len(reg.versions(m)), "aliases": reg.aliases(m)}
            for m in reg.models()]
    if as_json:
        _print_json(rows)
    elif not rows:
        print(f"no models registered yet in {reg!r}")
    for row in rows if not as_json else []:
        aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(row["aliases"].items())) or "-"
        print(f"{row['model']}\t{row['versions']} versions\t{aliases}")
    return 0


def cmd_show(params: Params, name: str | None, version: str | None, *,
             as_json: bool = False) -> int:
    """Print one version in full, or a table of every version of a model."""
    reg = registry_for(params)
    name = name or params.model.name
    if version is not None:
        mv = reg.resolve(name, version)
        _print_json(mv.to_dict())
        return 0
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


def cmd_history(params: Params, name: str | None, *, as_json: bool = False) -> int:
    """Print the promotion ledger of a model, oldest first."""
    reg = registry_for(params)
    name = name or params.model.name
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
        print(f"#{e.seq}\t{e.time}\t{e.actor}\t{e.action}\t{what}\t{e.reason}")
    return 0


def cmd_promote(
    params: Params, version: str | None, alias: str, *, name: str | None = None,
    expected: str | None = None, latest_validated: bool = False, force: bool = False,
    reason: str | None = None,
) -> int:
    """Move ``alias`` to a version (compare-and-swap on ``expected``) and print the move.

    Without ``expected`` the alias's current version is read and used, which still fails
    if someone moves it between that read and the write.
    """
    reg = registry_for(params)
    name = name or params.model.name
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
        name, number, alias, expected=current, force=force,
        reason=reason or ("--latest-validated" if latest_validated else "manual promotion"),
    )
    before = f"v{entry.from_version}" if entry.from_version else "nothing"
    print(f"{name}: {alias} {before} -> v{entry.to_version} ({entry.action} #{entry.seq})")
    return 0


def cmd_rollback(params: Params, *, name: str | None = None, alias: str = "production",
                 reason: str | None = None) -> int:
    """Move ``alias`` back to the version it held before, and print the move."""
    reg = registry_for(params)
    name = name or params.model.name
    entry = reg.rollback(name, alias=alias, reason=reason or "manual rollback")
    print(f"{name}: {alias} v{entry.from_version} -> v{entry.to_version} (rollback #{entry.seq})")
    return 0
