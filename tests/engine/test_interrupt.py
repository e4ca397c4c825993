"""Ctrl-C stops a parallel or asyncio run at once, not when its running tasks end.

Each test runs a flow in a subprocess, sends it a real SIGINT while a 60 s
task runs, and checks that the process ends within a bound far below the
task's length (a liveness check, generous for a noisy machine).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    import steadyflow as sf

    @sf.task(name="long")
    def long() -> None:
        print("started", flush=True)
        time.sleep(60)

    mode = sys.argv[1]
    engine = sf.load(sf.Linear("l", long), engine="asyncio" if "asyncio" in mode else "parallel")
    try:
        if mode == "asyncio-run_async":
            asyncio.run(engine.run_async())
        else:
            engine.run()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    """
)

BOUND = 20.0
"""Seconds the interrupted process may take to end: a third of the task's length."""


@pytest.mark.parametrize("mode", ["parallel", "asyncio-run", "asyncio-run_async"])
def test_ctrl_c_stops_the_run_without_waiting_for_running_tasks(mode: str) -> None:
    # Given a run whose only task takes 60 s, started in a subprocess
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, mode], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "started"
        # When it gets Ctrl-C while the task runs
        process.send_signal(signal.SIGINT)
        # Then the process ends well before the task would have, by KeyboardInterrupt
        code = process.wait(timeout=BOUND)
        assert process.stdout.read().strip() == "interrupted"
        assert code == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
