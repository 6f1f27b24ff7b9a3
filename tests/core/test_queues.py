"""The one drain loop of the background workers (prediction log writer, shadow worker)."""

from __future__ import annotations

import queue

import pytest

from mlops.core import queues
from mlops.core.queues import gather


@pytest.mark.parametrize("kind", [queue.Queue, queue.SimpleQueue])
def test_gather_takes_everything_waiting_in_order(kind) -> None:
    q = kind()
    for i in range(5):
        q.put(i)
    assert gather(q, 0) == [0, 1, 2, 3, 4]
    q.put("late")
    assert gather(q, 0) == ["late"]


def test_items_that_arrive_during_the_window_join_the_batch(monkeypatch) -> None:
    q: queue.SimpleQueue = queue.SimpleQueue()
    waited: list[float] = []

    def window(seconds: float) -> None:  # other threads put while the worker waits
        waited.append(seconds)
        q.put("during-1")
        q.put("during-2")

    monkeypatch.setattr(queues.time, "sleep", window)
    q.put("first")
    assert gather(q, 0.25) == ["first", "during-1", "during-2"]
    assert waited == [0.25]


def test_the_stop_sign_first_skips_the_window_but_still_drains(monkeypatch) -> None:
    q: queue.SimpleQueue = queue.SimpleQueue()
    monkeypatch.setattr(queues.time, "sleep", lambda s: pytest.fail("waited before stopping"))
    q.put(None)
    q.put("left behind")
    assert gather(q, 1.0) == [None, "left behind"]
