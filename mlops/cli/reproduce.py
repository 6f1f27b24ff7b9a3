"""``mlops reproduce NAME VERSION``: rebuild a registered version and compare its bytes."""

from __future__ import annotations

import argparse

from mlops.cli.common import HelpFormatter, add_params_args, load_params

__all__ = ["register"]

DESCRIPTION = """\
Check out the version's recorded git commit into a temporary worktree, check that the data
there hashes to the recorded data hash, rerun the pipeline with the recorded params against
the champion the version was compared with, and compare every result file and the model
file byte for byte with the registered ones. Refuses, with the reason, a version built
from uncommitted inputs or with other package versions than this environment's."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops reproduce``."""
    p = subparsers.add_parser(
        "reproduce", help="rebuild a registered version from git and compare it byte for byte",
        description=DESCRIPTION, formatter_class=HelpFormatter,
        epilog="examples:\n  mlops reproduce my-model 1\n"
               "  mlops reproduce my-model production --keep /tmp/rebuild")
    add_params_args(p)
    p.add_argument("name", help="model name")
    p.add_argument("version", help="version number or alias")
    p.add_argument("--keep", metavar="DIR", help="keep the rebuilt run in DIR")
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Rebuild, print one verdict per file, exit 4 when any file differs."""
    from mlops.core.exceptions import IntegrityError
    from mlops.pipeline.reproduce import reproduce
    from mlops.registry import open_registry

    params = load_params(args)
    registry = open_registry(params.registry, params.root)
    result = reproduce(registry, args.name, args.version, project=params.root, keep=args.keep)
    for f in result.files:
        verdict = "identical" if f.identical else ("missing" if f.rebuilt is None
                                                   else "DIFFERS")
        print(f"{verdict:9}  {f.name}")
    same = sum(f.identical for f in result.files)
    print(f"{result.label} from {result.commit[:12]}: {same} of {len(result.files)} files "
          f"identical, rebuilt in {result.seconds:.1f} s (the pipeline run "
          f"{result.run_seconds:.1f} s)")
    if not result.identical:
        raise IntegrityError(f"{result.label}: the rebuild differs from the registered files",
                             model=args.name)
    return 0
