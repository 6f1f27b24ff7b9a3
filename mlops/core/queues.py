"""Draining a work queue in gathered batches: one shared loop for background workers."""

from __future__ import annotations

import queue
import time
from typing import Any

__all__ = ["gather"]


def gather(source: queue.SimpleQueue[Any] | queue.Queue[Any], window_s: float) -> list[Any]:
    """Block for one item, let more arrive for ``window_s`` seconds, then take every item
    waiting, without blocking again.

    A worker then handles them together (one transaction, one scoring call) instead of one
    call per item, so it seldom competes with its callers for the GIL or the disk. ``None``
    is the stop sign: when it comes first there is no wait, only the drain, so a worker
    stops at once with nothing left behind.
    """
    items = [source.get()]
    if items[0] is not None and window_s > 0:
        time.sleep(window_s)
    while True:
        try:
            items.append(source.get_nowait())
        except queue.Empty:
            return items
