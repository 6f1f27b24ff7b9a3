"""A tiny time-to-live cache, so "what is serving" is re-read every few seconds."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["TTLCache"]

T = TypeVar("T")


class TTLCache(Generic[T]):
    """A tiny time-to-live cache: alias reads are re-done after ``ttl`` seconds.

    The app re-reads aliases on every rerun through this cache, so a promotion made
    elsewhere (CLI, CI, another operator) shows up within ``ttl`` seconds, without a
    restart, while a Hub-backed registry is not asked on every widget click. ``clock``
    (seconds, monotonic) is injectable for tests.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._items: dict[Hashable, tuple[float, T]] = {}

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """Cached value of ``key`` if fresh, else ``load()`` (stored)."""
        now = self.clock()
        hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = load()
        self._items[key] = (now, value)
        return value

    def clear(self) -> None:
        """Forget everything (after the app itself changed an alias)."""
        self._items.clear()
