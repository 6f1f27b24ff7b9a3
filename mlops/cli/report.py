"""``mlops report comment``: the pull-request comment made from a run's ``report.md``;
``mlops report baseline``: each model's newest report kept as ``reports/<model>/latest.md``.

A comment on GitHub cannot show an image by a relative path, so CI publishes the run's
plots (to the ``mlops-report-assets`` branch by default, see docs/cicd.md) and this command
rewrites every image link of the report to the absolute URL they were published at.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlops.cli.common import HelpFormatter

__all__ = ["register", "cmd_baseline", "cmd_comment"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops report comment``."""
    p = subparsers.add_parser(
        "report", help="the pull-request comment made from a run's report.md",
        description="Turn a run's report.md into the pull-request comment CI posts.",
    )
    rsub = p.add_subparsers(dest="report_command", required=True, metavar="ACTION")
    c = rsub.add_parser(
        "comment", help="write the comment: image links made absolute, a footer added",
        description="Write the comment CI posts from REPORT: every relative image link "
                    "(plots/roc.png) becomes URL/plots/roc.png, where the run's folder was "
                    "published; links that would leave the folder are refused.",
        epilog="example:\n  mlops report comment runs/RUN/report.md --out comment.md "
               "--images-url https://github.com/OWNER/REPO/raw/mlops-report-assets/pr-7/RUN",
        formatter_class=HelpFormatter,
    )
    c.add_argument("report", help="a run's report.md")
    c.add_argument("--out", required=True, help="the comment file to write")
    c.add_argument("--images-url", metavar="URL",
                   help="where the report's folder (its plots/) was published; without it "
                        "the links stay relative (for `cml comment --publish`)")
    c.add_argument("--footer", default="", help="a last line (e.g. a link to the run)")
    c.set_defaults(func=cmd_comment)
    b = rsub.add_parser(
        "baseline", help="copy each model's newest report to reports/<model>/latest.md",
        description="Copy the newest report.md of each model (from the run folders' "
                    "manifests) to reports/<model>/latest.md. Commit them: a pull request "
                    "compares with its model's file when no registry holds production.",
        formatter_class=HelpFormatter,
    )
    b.add_argument("--runs-dir", help="where the run folders are (default: $MLOPS_RUNS_DIR, "
                                      "else runs)")
    b.add_argument("--out", default="reports", help="the folder to write (reports)")
    b.set_defaults(func=cmd_baseline)


def cmd_comment(args: argparse.Namespace) -> int:
    """Write the comment and say how many image links it holds."""
    from mlops.core.exceptions import ConfigError
    from mlops.stages.markdown_links import absolute_image_links, image_links

    source, out = Path(args.report), Path(args.out)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the report ({exc.strerror})",
                          file=str(source)) from None
    if args.images_url:
        try:
            text = absolute_image_links(text, args.images_url)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}", file=str(source)) from None
    if args.footer:
        text = text.rstrip("\n") + "\n\n" + args.footer.strip() + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    links = image_links(text)
    where = f"absolute under {args.images_url}" if args.images_url else "relative"
    print(f"{out}: {len(links)} image links, {where}")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    """Copy each model's newest ``report.md`` to ``OUT/<model>/latest.md``."""
    import json
    import shutil

    from mlops.core.config import runs_dir
    from mlops.core.exceptions import ConfigError

    newest: dict[str, Path] = {}
    for manifest in sorted(Path(args.runs_dir or runs_dir()).glob("*/manifest.json")):
        report = manifest.with_name("report.md")
        try:
            name = json.loads(manifest.read_text(encoding="utf-8"))["params"]["model"]["name"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a pipeline run (a monitoring run, a broken folder)
        if report.is_file():
            newest[name] = report  # run ids sort by time: the last one wins
    if not newest:
        raise ConfigError("no run folder holds a report.md yet: run make pipeline first")
    for name, report in sorted(newest.items()):
        target = Path(args.out) / name / "latest.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(report, target)
        print(f"{target} <- {report}")
    return 0
