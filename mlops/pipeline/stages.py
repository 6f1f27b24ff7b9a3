"""The stage list: which notebooks make a run, in order, and the parameters each declares."""

from __future__ import annotations

__all__ = ["NOTEBOOK_PARAMETERS", "STAGES"]

STAGES: tuple[tuple[str, str], ...] = (
    ("validate", "01_validate_data.ipynb"),
    ("train", "02_train.ipynb"),
    ("evaluate", "03_evaluate.ipynb"),
)

# Every stage notebook declares exactly these in its cell tagged ``parameters``.
NOTEBOOK_PARAMETERS = ("params_path", "overrides", "run_dir", "run_id")
