"""Child processes on this machine: a free local port, waiting for a server to answer, and
stopping a process that we started (by its own id, never by name)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request

__all__ = ["free_port", "stop", "wait_for_http"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, *, proc: subprocess.Popen | None = None, timeout: float = 30,
                  interval: float = 0.1) -> tuple[int, str]:
    """``(status, body)`` of the first ``GET url`` that answers, polling until ``timeout``.

    Raises :class:`ChildProcessError` when ``proc`` (the server) exits first, and
    :class:`TimeoutError` when nothing answered in time.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (local)
                return response.status, response.read().decode("utf-8", "replace")
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise ChildProcessError(f"the process exited with {proc.returncode} before "
                                        f"{url} answered") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer in {timeout:g} s") from None
            time.sleep(interval)


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a process we started, by its own id: politely, then for good."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
