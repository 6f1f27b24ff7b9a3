"""Keeping the checked outputs of source notebooks up to date for nbval.

Source notebooks are committed without outputs, except cells marked ``# NBVAL_CHECK_OUTPUT``
with ``keep_output: true`` metadata: nbval (``--nbval-lax``) re-executes the notebook and
compares those cells' outputs with the stored ones. ``make notebook-outputs``
(``python -m mlops.pipeline.notebooks``) runs the notebooks with their defaults and stores the new
outputs of exactly those cells.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

__all__ = ["CHECK_MARK", "mark_checked_cells", "copy_checked_outputs", "portable_notebook",
           "refresh"]

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def mark_checked_cells(nb: nbformat.NotebookNode) -> list[str]:
    """Set ``keep_output`` on cells whose source has the nbval mark; return their ids."""
    ids = []
    for cell in nb.cells:
        if cell.cell_type == "code" and CHECK_MARK in cell.source:
            cell.metadata["keep_output"] = True
            ids.append(cell.id)
        elif cell.cell_type == "code":
            cell.metadata.pop("keep_output", None)
    return ids


def copy_checked_outputs(source: nbformat.NotebookNode, executed: nbformat.NotebookNode) -> None:
    """Give every checked cell of ``source`` the outputs of the same cell in ``executed``.

    Cells are matched by id; every other cell loses its outputs and execution count. Images
    are dropped (nbval does not compare them). nbval compares only cells that have an
    execution count, so checked cells get a fixed one.
    """
    checked = set(mark_checked_cells(source))
    runs = {c.id: c for c in executed.cells if c.cell_type == "code"}
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        cell.outputs = []
        if cell.id not in checked or cell.id not in runs:
            continue
        cell.execution_count = 1
        for out in runs[cell.id].outputs:
            out = nbformat.from_dict(dict(out))
            if "execution_count" in out:
                out.execution_count = None
            if "data" in out:
                out.data = {k: v for k, v in out.data.items() if not k.startswith("image/")}
                if not out.data:
                    continue
            cell.outputs.append(out)


def portable_notebook(path: str | Path, prefixes: dict[str, str]) -> None:
    """Rewrite the executed notebook ``path`` so that it names no absolute folder of
    ``prefixes`` (see :func:`mlops.core.lineage.portable_strings`).

    Papermill records the parameters it injected (the params file, the run folder) in the
    injected cell and in the metadata, with its input and output paths; outputs may quote
    a file path too. All of them become relative to the project, as the manifest records
    them, because the notebook is published with the version it made.
    """
    from mlops.core.lineage import portable_strings

    nb = nbformat.read(path, as_version=4)
    portable = nbformat.from_dict(portable_strings(nb, prefixes))
    if portable != nb:
        nbformat.write(portable, path)


def refresh(paths: list[Path], workdir: Path) -> None:
    """Execute each notebook with its defaults and store its checked cells' outputs."""
    import papermill

    for path in paths:
        executed_path = workdir / path.name
        papermill.execute_notebook(str(path), str(executed_path), kernel_name="python3",
                                   progress_bar=False, cwd=str(path.parent))
        source = nbformat.read(path, as_version=4)
        copy_checked_outputs(source, nbformat.read(executed_path, as_version=4))
        nbformat.write(source, path)


if __name__ == "__main__":  # python -m mlops.pipeline.notebooks notebooks/*.ipynb
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        refresh([Path(p) for p in sys.argv[1:]], Path(tmp))
