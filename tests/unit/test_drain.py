"""gpu_worker/drain.py in a process of its own: SIGTERM is ignored by an idle pool child, requests the
drain once a run started, the grace runs out, and a SIGTERM that reached only the child goes up."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from gpu_worker import drain

    parent = os.getppid()
    drain.protect_child()
    os.kill(os.getpid(), signal.SIGTERM)  # idle: ignored, the process goes on
    time.sleep(0.1)
    assert not drain.DRAIN.requested
    drain.install(grace=0.3, parent_pid=parent, on_request=lambda: print("announced", flush=True))
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.1)
    assert drain.DRAIN.requested and not drain.DRAIN.expired()
    time.sleep(0.4)
    assert drain.DRAIN.expired()
    print("drained", flush=True)
    """
)


def test_sigterm_drains_a_running_child_and_reaches_its_parent() -> None:
    import signal

    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["announced", "drained"]
    assert received == [signal.SIGTERM]  # passed up once, so the main process stops consuming too
