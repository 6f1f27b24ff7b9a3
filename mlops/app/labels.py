"""The words every screen uses for the model's outcome: class labels, the target and its unit.

The Predict screen says a class in the words of ``data.class_labels`` ("Chance of <label>
87%"), or a value with ``data.unit`` ("Predicted <target> 151 <unit>"); the Batch table and
its download, Compare, the model card and the monitoring tables use the same words through
:class:`OutcomeWords`. No Streamlit here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlops.core.config import DataConfig

__all__ = ["OutcomeWords", "fmt_number", "words"]


def words(name: str) -> str:
    """A column or target name as it is read: ``saving_accounts`` -> ``saving accounts``."""
    return str(name).replace("_", " ")


def fmt_number(value: Any, unit: str = "", digits: int = 3) -> str:
    """``0.752``, ``1,234 DM``, ``12.5 ms``; an en dash for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or abs(value) >= 1000:  # counts, and large amounts
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.{digits}g}"
    else:
        text = f"{value:.{digits}f}"
    return f"{text} {unit}".strip()


@dataclass(frozen=True)
class OutcomeWords:
    """How people call the model's outcome (from ``data`` in params).

    ``class_labels`` maps a class (as text) to its words; a class without one is shown as
    itself. ``unit`` is the target's unit (regression).
    """

    target: str
    regression: bool = False
    unit: str = ""
    class_labels: Mapping[str, str] = field(default_factory=dict)
    positive_class: Any = None

    @classmethod
    def of(cls, data: DataConfig) -> OutcomeWords:
        """The words of a model's ``data`` section."""
        return cls(data.target, data.regression, data.unit,
                   {str(k): str(v) for k, v in data.class_labels.items()}, data.positive_class)

    def class_name(self, value: Any) -> str:
        """A class as people call it: ``1`` -> its label in ``data.class_labels``."""
        if hasattr(value, "item"):
            value = value.item()
        return self.class_labels.get(str(value)) or str(value)

    @property
    def prediction_column(self) -> str:
        """``predicted <target>``, with ``(<unit>)`` for regression."""
        unit = f" ({self.unit})" if self.regression and self.unit else ""
        return f"predicted {words(self.target)}{unit}"

    def chance_column(self, binary: bool) -> str:
        """What the probability column holds: ``chance of <positive label>`` for two classes,
        the predicted class's chance for more."""
        if binary and self.positive_class is not None:
            return f"chance of {self.class_name(self.positive_class)}"
        return "chance of the predicted class"

    def value(self, value: Any) -> str:
        """A predicted value with the unit (``151 <unit>``), or a class in words."""
        if self.regression:
            return fmt_number(value, self.unit)
        return self.class_name(value)

    def metric_label(self, label: str) -> str:
        """An evaluation's metric label with classes in words: ``F1 of class 1`` ->
        ``F1 of <label of 1>``."""
        return re.sub(r"\bclass `?([^\s`,;)]+)`?",
                      lambda m: self.class_labels.get(m.group(1)) or m.group(0), label)

    def batch_table(self, scored: pd.DataFrame, *, binary: bool) -> pd.DataFrame:
        """The app's scored rows (:class:`~mlops.app.context.ScoredRequest`) as people read
        them: the prediction in words, the chance named, the version as ``vN``.

        The input columns keep their names (they are the user's own); the chance stays a
        number (0 to 1), so a spreadsheet can sort it.
        """
        out = scored.copy()
        names = {"request_id": "request id", "predicted_value": self.prediction_column,
                 "predicted_class": self.prediction_column,
                 "probability": self.chance_column(binary), "version": "answered by"}
        if "predicted_class" in out:
            out["predicted_class"] = [self.class_name(v) for v in out["predicted_class"]]
        if "version" in out:
            out["version"] = [f"v{int(v)}" for v in out["version"]]
        # A user's column that happens to share a heading with ours keeps its own.
        return out.rename(columns={k: v for k, v in names.items() if v not in out.columns})
