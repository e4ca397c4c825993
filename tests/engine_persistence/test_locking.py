"""One runner per flow detail, and a dead runner never blocks the next."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.errors import ConflictError, FlowLockedError
from steadyflow.persistence import Backend

from ._flows import Journal, chain
from .conftest import Opener


def test_a_second_engine_is_refused_while_the_first_runs(reopen: Opener) -> None:
    # Given a run whose task tries to run the same flow detail with another engine
    errors: list[BaseException] = []
    second_backend = reopen()

    class Interloper(sf.Task):
        def execute(self, **_: Any) -> None:
            other = sf.load(chain(Journal(), ["a"]), backend=second_backend, flow_id="locked")
            try:
                other.run()
            except FlowLockedError as exc:
                errors.append(exc)

    flow = sf.Linear("chain", *chain(Journal(), ["a"]).children, Interloper("i"))
    # When it runs, Then the second engine got FlowLockedError and the first finished
    sf.load(flow, store={"start": 0}, backend=reopen(), flow_id="locked").run()
    assert len(errors) == 1
    assert "another engine is running it" in str(errors[0])
    # And once the first is done, running again is allowed
    sf.load(flow, backend=reopen(), flow_id="locked").run()


def test_an_engine_that_loaded_stale_state_is_refused(reopen: Opener) -> None:
    # Given engine A loaded the flow, then engine B ran it to the end
    journal = Journal()
    stale = sf.load(chain(journal, ["a", "b"]), store={"start": 0}, backend=reopen(), flow_id="x")
    stale.prepare()
    sf.load(chain(journal, ["a", "b"]), backend=reopen(), flow_id="x").run()
    # When A runs, Then it is refused before running anything
    with pytest.raises(ConflictError, match="changed by another engine"):
        stale.run()
    assert journal.names("execute") == ["a", "b"]


HOLDER = textwrap.dedent(
    """
    import sys, time
    import steadyflow as sf

    class Hang(sf.Task):
        def execute(self) -> None:
            print("running", flush=True)
            time.sleep(60)

    sf.load(sf.Linear("hang", Hang("h")), backend=sys.argv[1], flow_id="killed").run()
    """
)


@pytest.mark.crash
def test_a_killed_runner_does_not_block_the_next(store_url: str, tmp_path: Path) -> None:
    if store_url == "memory://":
        pytest.skip("a memory store dies with its process")
    # Given a process running the flow, killed with SIGKILL mid-task
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    holder = subprocess.Popen(
        [sys.executable, str(script), store_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "running\n"
        os.kill(holder.pid, signal.SIGKILL)
    finally:
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()

    # When a new engine runs it right away, Then it proceeds (the task runs again)
    class Quick(sf.Task):
        def execute(self) -> str:
            return "done"

    with sf.load(
        sf.Linear("hang", Quick("h", provides="h")), backend=store_url, flow_id="killed"
    ) as engine:
        engine.run()
        assert engine.storage.fetch("h") == "done"
        assert engine.storage.get_attempt("h") == 1


def test_close_releases_an_owned_backend(tmp_path: Path) -> None:
    engine = sf.load(
        chain(Journal(), ["a"]), store={"start": 0}, backend=f"sqlite:///{tmp_path}/x.db"
    )
    engine.run()
    engine.close()
    engine.close()
    record_backend: Backend = engine._record.backend  # type: ignore[union-attr]
    assert record_backend.closed
