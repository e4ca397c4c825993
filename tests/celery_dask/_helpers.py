"""What the Celery and Dask tests share: reading the side-effect log, runs on a thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import steadyflow as sf
from celery_dask._flows import make_then_slow


def lines(
    path: Path, count: int, timeout: float = 30, *, flow_id: str | None = None
) -> list[list[str]]:
    """The side-effect log's lines, split, once it has ``count`` of them.

    With ``flow_id``, only the lines of that flow's tasks count (a worker
    shared by several tests may still finish an earlier test's task).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line.split() for line in path.read_text().splitlines()]
        if flow_id is not None:
            found = [line for line in found if line[1].startswith(f"{flow_id}:")]
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"{path} has fewer than {count} lines: {path.read_text()!r}")


class Run:
    """``engine.run()`` on a thread of its own; what it raised is kept."""

    def __init__(self, engine: sf.Engine) -> None:
        self.errors: list[BaseException] = []
        self.began = time.monotonic()
        self._engine = engine
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._engine.run()
        except BaseException as exc:
            self.errors.append(exc)

    def join(self, timeout: float = 60) -> list[BaseException]:
        """What the run raised, once it ended (fails if it did not within ``timeout``)."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the run did not end within {timeout} s"
        return self.errors


def _sigkill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def kill_mid_task_and_check_it_ran_once_more(
    engine: sf.Engine, log: Path, kill: Callable[[int], None] = _sigkill
) -> None:
    """Kill the process running ``slow``; check it ran again under its key and counted once.

    ``engine`` runs a flow of ``workers._tasks.slow`` alone; ``kill`` gets the
    pid of the process running it (default: SIGKILL it).
    """
    run = Run(engine)
    first = lines(log, 1, flow_id=engine.flow_id)[0]
    kill(int(first[2]))
    assert run.join() == []
    found = lines(log, 3, flow_id=engine.flow_id)
    starts = [line for line in found if line[0] == "start"]
    ends = [line for line in found if line[0] == "end"]
    assert len(starts) == 2
    assert starts[0][1] == starts[1][1]  # the idempotency key
    assert len(ends) == 1
    assert ends[0][2] == starts[1][2] != first[2]
    assert str(engine.storage.fetch("slow")).startswith(f"{ends[0][2]}:")
    assert engine.storage.flow_state is sf.FlowState.SUCCESS


def revoke_mid_task_and_check_the_revert(log: Path, tmp_path: Path, **engine: Any) -> None:
    """Revoke a persisted ``make`` then 10 s ``slow`` flow while slow runs; check the revert.

    ``engine`` holds the engine options (``engine="dask", client=...``, ...).
    """
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    loaded = sf.load(
        make_then_slow(),
        backend=url,
        factory="celery_dask._flows:make_then_slow",
        store={"x": 2, "seconds": 10},
        **engine,
    )
    run = Run(loaded)
    lines(log, 2, flow_id=loaded.flow_id)  # make, then slow's start
    assert revoke_from_another_process(url, loaded.flow_id) == "requested"
    errors = run.join()
    # The run stopped without waiting for slow, and make was reverted remotely.
    assert time.monotonic() - run.began < 8
    assert len(errors) == 1
    assert isinstance(errors[0], sf.errors.FlowRevokedError)
    found = lines(log, 3, flow_id=loaded.flow_id)
    assert [line[0] for line in found][:3] == ["make", "start", "revert:20"]
    assert loaded.storage.flow_state is sf.FlowState.REVERTED


def revoke_from_another_process(url: str, flow_id: str) -> str:
    """``sf.revoke`` the flow from a process of its own (this one holds its lease); the outcome."""
    code = f"import steadyflow as sf; print(sf.revoke({url!r}, {flow_id!r}, 'stop').outcome)"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
