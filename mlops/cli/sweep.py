"""``mlops sweep``: parameter sets as full runs on Dask; the best one becomes a candidate."""

from __future__ import annotations

import argparse

from mlops.cli.common import HelpFormatter, add_params_args, exit_codes_text

__all__ = ["register", "cmd_sweep"]

DESCRIPTION = """\
Run each parameter set of a grid file as a full `mlops run` (the stage notebooks, its own
run folder and evidence under runs/), in parallel on Dask: a local cluster of worker
processes within the cores, or a Dask scheduler given by its address. The best run by the
primary metric (evaluation.baseline.metric; lower-is-better aware) among those that passed
every gate is registered as a candidate, never production; with none passing, nothing is
registered and the command fails. runs/sweep-<id>/sweep.json summarises every run.

The grid file (YAML) lists the sets under `sets:`, each a list of KEY=VALUE overrides (as
--set takes them) or a mapping KEY: VALUE. --set options apply to every set."""

EXAMPLES = """\
examples:
  mlops sweep --grid sweep.yaml
  mlops sweep --grid sweep.yaml --workers 2 --set evaluation.bootstrap_samples=100
  mlops sweep --grid sweep.yaml --engine tcp://scheduler:8786

a grid file:
  sets:
    - [model.estimator=logistic_regression, model.hyperparameters.logistic_regression.C=0.1]
    - {model.estimator: random_forest, seed: 7}"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops sweep``."""
    p = subparsers.add_parser(
        "sweep", help="run parameter sets as full runs on Dask; register the best as candidate",
        description=DESCRIPTION, epilog=f"{EXAMPLES}\n\n{exit_codes_text((0, 2, 3))}",
        formatter_class=HelpFormatter,
    )
    add_params_args(p)
    p.add_argument("--grid", required=True, metavar="FILE", help="YAML file with `sets:`")
    p.add_argument("--engine", default="local", metavar="local|tcp://HOST:PORT",
                   help="a local Dask cluster (default), or a Dask scheduler's address whose "
                        "workers see this project and --runs-dir at the same paths")
    p.add_argument("--workers", type=int, metavar="N",
                   help="local worker processes (default and at most: the cores)")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (runs)")
    p.add_argument("--no-register", action="store_true", help="do not register the best run")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run the sweep and print every run's verdict and what was registered."""
    from mlops.pipeline.sweep import load_grid, run_sweep

    result = run_sweep(args.params, load_grid(args.grid), overrides=args.overrides,
                       runs_dir=args.runs_dir, engine=args.engine, workers=args.workers,
                       register=not args.no_register)
    best = result.best or {}
    print(f"sweep {result.sweep_id}: best {best.get('run_id')} "
          f"({best.get('metric')}={best.get('value')}) -> {result.folder}")
    if result.registry:
        reg = result.registry
        what = "reused" if reg.get("reused") else f"registered as {reg.get('alias')}"
        print(f"{reg['model']} v{reg['version']}: {what}")
    return 0
