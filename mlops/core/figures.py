"""A matplotlib Figure that Jupyter shows as an image, without pyplot.

The plots are built on ``matplotlib.figure.Figure`` directly: no global figure manager,
so a figure is freed as soon as nothing refers to it, and a long process (``mlops
monitor``, the app) that draws thousands never leaks them; ``pyplot.figure`` would keep
each one until ``pyplot.close``. But Jupyter draws a bare Figure only when pyplot's inline
backend was switched on, and otherwise prints ``<Figure size 600x350 with 1 Axes>``. A
:class:`NotebookFigure` renders itself: IPython asks for ``_repr_png_``, which draws the
figure once on a temporary Agg canvas. Opened in Jupyter or executed by papermill, a
notebook then stores the image, whatever backend the kernel has.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure

__all__ = ["DISPLAY_DPI", "NotebookFigure"]

DISPLAY_DPI = 100  # a 6 x 3.5 in figure is 600 x 350 px: readable at a notebook's width


class NotebookFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that IPython displays as a PNG image."""

    def _repr_png_(self) -> bytes | None:
        if not self.axes:
            return None
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=DISPLAY_DPI, bbox_inches="tight")
        return buffer.getvalue()
