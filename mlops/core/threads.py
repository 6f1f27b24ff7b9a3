"""Thread budgets: native thread pools sized to the cores a process may use.

``mlops run`` gives its notebook kernel ``OMP_NUM_THREADS`` (and the BLAS equivalents) set
to its share of the cores (:func:`kernel_thread_env`; one kernel runs, so all of them).
Inside a process, fits and predictions run under :func:`limited_threads`, which caps the
OpenMP and BLAS pools at :func:`thread_budget` even where those variables were read before
they were set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

__all__ = ["THREAD_ENV", "available_cores", "kernel_thread_env", "limited_threads",
           "thread_budget"]

# The variables OpenMP, OpenBLAS and MKL read when they start their thread pools.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


def thread_budget(environ: Mapping[str, str] | None = None) -> int:
    """``OMP_NUM_THREADS`` when it is a positive integer, else :func:`available_cores`."""
    text = (os.environ if environ is None else environ).get("OMP_NUM_THREADS", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else available_cores()


def kernel_thread_env(processes: int, environ: Mapping[str, str] | None = None
                      ) -> dict[str, str]:
    """The thread variables for one of ``processes`` processes running at once.

    Each gets ``max(1, cores // processes)`` threads. A variable already set in
    ``environ`` (the user's own choice) is kept as it is.
    """
    environ = os.environ if environ is None else environ
    share = str(max(1, available_cores() // max(1, processes)))
    return {var: environ.get(var) or share for var in THREAD_ENV}


@contextmanager
def limited_threads(limit: int | None = None) -> Iterator[int]:
    """Cap the OpenMP and BLAS thread pools at ``limit`` (default :func:`thread_budget`)."""
    from threadpoolctl import threadpool_limits

    limit = thread_budget() if limit is None else max(1, int(limit))
    with threadpool_limits(limits=limit):
        yield limit
