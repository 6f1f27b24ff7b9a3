"""The one process helper: a free port, waiting for a server, stopping what we started."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from mlops.core.processes import free_port, stop, wait_for_http


def test_a_server_on_a_free_port_answers_and_stops(tmp_path) -> None:
    (tmp_path / "hello.txt").write_text("hi", encoding="utf-8")
    port = free_port()
    with socket.socket() as sock:  # nothing listens there: it can be bound
        sock.bind(("127.0.0.1", port))
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1", "--directory", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}/hello.txt", proc=proc) == (200, "hi")
    finally:
        stop(proc)
    assert proc.poll() is not None
    stop(proc)  # stopping a stopped process is a no-op


def test_a_server_that_exits_is_reported_not_waited_for() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait(timeout=30)
    with pytest.raises(ChildProcessError, match="exited with 3"):
        wait_for_http(f"http://127.0.0.1:{free_port()}/", proc=proc, timeout=30)


def test_nothing_answering_times_out() -> None:
    with pytest.raises(TimeoutError, match="did not answer"):
        wait_for_http(f"http://127.0.0.1:{free_port()}/", timeout=0.3, interval=0.05)
