"""Stopping a server the tests started in its own process group, by PID, workers included."""
from __future__ import annotations

import os
import signal
import subprocess
import time


def stop_group(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM to the group, SIGKILL after ``grace`` seconds, then wait (up to 10 s) until no
    member is left: a worker outliving its parent would hold the port for the next test."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
