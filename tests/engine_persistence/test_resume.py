"""A persisted run resumes where it stopped: skips, re-runs, keys, reverts, history."""

from __future__ import annotations

import pytest

import steadyflow as sf
from steadyflow.errors import RemoteFailureError, ResultSerializationError
from steadyflow.persistence import Backend
from steadyflow.states import AtomState, FlowState

from ._flows import Crash, Journal, Step, chain
from .conftest import Opener

NAMES = ["a", "b", "c", "d"]


def test_a_new_flow_id_creates_the_flow_detail(backend: Backend) -> None:
    # Given a chain persisted under a new flow id
    journal = Journal()
    engine = sf.load(chain(journal, NAMES), store={"start": 0}, backend=backend, flow_id="run-1")
    # When it runs
    engine.run()
    # Then the flow detail holds the final state, every result and every attempt number
    detail = backend.get_flow_detail("run-1")
    assert engine.resumed is False
    assert detail.state is FlowState.SUCCESS
    assert {name: atom.state for name, atom in detail.atoms.items()} == dict.fromkeys(
        NAMES, AtomState.SUCCESS
    )
    assert [detail.atoms[name].result for name in NAMES] == [1, 2, 3, 4]
    assert all(detail.atoms[name].meta["attempt"] == 1 for name in NAMES)
    assert detail.meta["store"] == {"start": 0}


def test_a_flow_without_flow_id_gets_a_fresh_one(backend: Backend) -> None:
    engine = sf.load(chain(Journal(), NAMES), store={"start": 0}, backend=backend)
    engine.run()
    assert backend.get_flow_detail(engine.flow_id).state is FlowState.SUCCESS


def test_resume_skips_successes_and_reruns_the_interrupted_atom(reopen: Opener) -> None:
    # Given a run that died while executing c (a and b succeeded)
    journal = Journal()
    journal.crash_on.add(("execute", "c"))
    first = sf.load(chain(journal, NAMES), store={"start": 0}, backend=reopen(), flow_id="f")
    with pytest.raises(Crash):
        first.run()
    # When a new engine (another backend object, as after a restart) resumes it
    resumed = sf.load(chain(journal, NAMES), backend=reopen(), flow_id="f")
    assert resumed.resumed is True
    assert resumed.storage.get_state("c") is AtomState.RUNNING
    resumed.run()
    # Then a and b did not run again, c ran again with the same idempotency key
    assert journal.names("execute") == ["a", "b", "c", "c", "d"]
    first_key, second_key = journal.keys("execute", "c")
    assert first_key == second_key == "f:c:1"
    assert resumed.storage.fetch_all() == {"a": 1, "b": 2, "c": 3, "d": 4}


def test_a_finished_flow_resumes_as_finished(reopen: Opener) -> None:
    journal = Journal()
    sf.load(chain(journal, NAMES), store={"start": 0}, backend=reopen(), flow_id="done").run()
    again = sf.load(chain(journal, NAMES), backend=reopen(), flow_id="done")
    again.run()
    assert journal.names("execute") == NAMES
    assert again.storage.fetch_all()["d"] == 4


def test_a_revert_in_progress_finishes_after_a_crash(reopen: Opener) -> None:
    # Given d fails and the run dies while reverting b
    journal = Journal()
    journal.crash_on.add(("revert", "b"))
    flow = chain(journal, NAMES, fail="d")
    first = sf.load(flow, store={"start": 0}, backend=reopen(), flow_id="rv")
    with pytest.raises(Crash):
        first.run()
    assert journal.names("revert") == ["d", "c", "b"]
    # When it resumes
    resumed = sf.load(chain(journal, NAMES, fail="d"), backend=reopen(), flow_id="rv")
    # Then b's revert runs again, then a's, and the original failure is raised
    with pytest.raises(RemoteFailureError, match="d failed"):
        resumed.run()
    assert journal.names("revert") == ["d", "c", "b", "b", "a"]
    assert resumed.storage.flow_state is FlowState.REVERTED
    assert journal.names("execute") == NAMES  # nothing ran forward again


def test_retry_history_and_attempt_numbers_survive(reopen: Opener) -> None:
    # Given a retried task that failed once, then crashed in its second attempt
    journal = Journal()

    class Flaky(sf.Task):
        def execute(self) -> str:
            journal.record("execute")
            if len(journal.names("execute")) == 1:
                raise RuntimeError("first attempt fails")
            if len(journal.names("execute")) == 2:
                raise Crash("dies in the second attempt")
            return "ok"

    def build() -> sf.Linear:
        return sf.Linear("flaky", Flaky("t", provides="t"), retry=sf.retry.Times(3, name="r"))

    first = sf.load(build(), backend=reopen(), flow_id="retry")
    with pytest.raises(Crash):
        first.run()
    # When it resumes
    resumed = sf.load(build(), backend=reopen(), flow_id="retry")
    history = resumed.storage.get_history("r")
    # Then the history is back and the re-run keeps attempt 2's key
    assert len(history) == 2
    assert [str(f) for f in history[0].failures.values()] == ["RuntimeError: first attempt fails"]
    resumed.run()
    assert journal.keys("execute", "t") == ["retry:t:1", "retry:t:2", "retry:t:2"]
    assert resumed.storage.fetch("t") == "ok"


def test_the_store_survives(reopen: Opener) -> None:
    journal = Journal()
    journal.crash_on.add(("execute", "b"))
    first = sf.load(chain(journal, NAMES), store={"start": 10}, backend=reopen(), flow_id="st")
    with pytest.raises(Crash):
        first.run()
    resumed = sf.load(chain(journal, NAMES), backend=reopen(), flow_id="st")
    assert resumed.storage.store == {"start": 10}
    resumed.run()
    assert resumed.storage.fetch("d") == 14


def test_an_unserializable_result_fails_its_task_and_reverts(backend: Backend) -> None:
    # Given a task returning a set, which JSON cannot hold
    journal = Journal()

    class Bad(sf.Task):
        def execute(self, a: int) -> set[int]:
            journal.record("execute")
            return {a}

    flow = sf.Linear("bad", *chain(journal, ["a"]).children, Bad("bad", provides="x"))
    engine = sf.load(flow, store={"start": 0}, backend=backend, flow_id="bad")
    # When it runs, Then the task fails with an error naming it, and a is reverted
    with pytest.raises(ResultSerializationError, match="'bad'"):
        engine.run()
    assert journal.names("revert") == ["a"]
    stored = backend.get_flow_detail("bad")
    assert stored.atoms["bad"].state is AtomState.REVERTED
    assert stored.atoms["bad"].failure is not None
    assert stored.atoms["bad"].failure.check(ResultSerializationError)
    assert stored.state is FlowState.REVERTED


def test_an_unserializable_store_value_is_refused(backend: Backend) -> None:
    engine = sf.load(chain(Journal(), NAMES), store={"start": object()}, backend=backend)
    with pytest.raises(ResultSerializationError, match="store value 'start'"):
        engine.run()


def test_reset_reruns_with_new_idempotency_keys(backend: Backend) -> None:
    journal = Journal()
    engine = sf.load(chain(journal, ["a"], fail="a"), store={"start": 0}, backend=backend)
    with pytest.raises(RuntimeError):
        engine.run()
    engine.reset()
    with pytest.raises(RuntimeError):
        engine.run()
    key = engine.flow_id + ":a:"
    assert journal.keys("execute", "a") == [key + "1", key + "2"]
    assert backend.get_flow_detail(engine.flow_id).atoms["a"].meta["attempt"] == 2


def test_a_retried_scope_revert_finishes_after_a_crash(reopen: Opener) -> None:
    # Given a retried scope whose second task fails once, and a run that dies
    # while that scope is being reverted for the retry
    journal = Journal()
    journal.crash_on.add(("revert", "a"))

    class FailsOnce(sf.Task):
        def execute(self, a: int) -> int:
            journal.record("execute")
            if len(journal.names("execute")) == 2:
                raise RuntimeError("b fails once")
            return a * 10

        def revert(self) -> None:
            journal.record("revert")

    def build() -> sf.Linear:
        return sf.Linear(
            "scope",
            *chain(journal, ["a"]).children,
            FailsOnce("b", provides="b"),
            retry=sf.retry.Times(3, name="r"),
        )

    first = sf.load(build(), store={"start": 0}, backend=reopen(), flow_id="scope")
    with pytest.raises(Crash):
        first.run()
    assert journal.names("revert") == ["b", "a"]
    # When it resumes
    resumed = sf.load(build(), backend=reopen(), flow_id="scope")
    resumed.run()
    # Then a's revert is finished, the scope is retried, and the flow succeeds
    assert journal.names("revert") == ["b", "a", "a"]
    assert journal.names("execute") == ["a", "b", "a", "b"]
    assert journal.keys("execute", "b")[-1] == "scope:b:2"
    assert resumed.storage.fetch("b") == 10
    assert len(resumed.storage.get_history("r")) == 2


def test_a_parallel_engine_resumes_a_flow(reopen: Opener) -> None:
    # Given a run of independent tasks that died in one of them
    journal = Journal()
    journal.crash_on.add(("execute", "u3"))

    def build() -> sf.Unordered:
        steps = [Step(f"u{i}", journal, rebind={"value": "start"}) for i in range(6)]
        return sf.Unordered("wide", *steps)

    first = sf.load(build(), store={"start": 1}, backend=reopen(), flow_id="wide")
    with pytest.raises(Crash):
        first.run()
    # When the parallel engine resumes it
    resumed = sf.load(build(), engine="parallel", backend=reopen(), flow_id="wide")
    done = [n for n, s in resumed.storage.atom_states().items() if s is AtomState.SUCCESS]
    resumed.run()
    # Then every task has its result and none that had succeeded ran twice
    assert done
    assert resumed.storage.fetch_all() == {f"u{i}": 2 for i in range(6)}
    assert all(journal.names("execute").count(name) == 1 for name in done)
    assert journal.names("execute").count("u3") == 2


def test_a_store_given_on_resume_is_merged_over_the_stored_one(reopen: Opener) -> None:
    journal = Journal()
    journal.crash_on.add(("execute", "a"))
    first = sf.load(
        chain(journal, ["a"]), store={"start": 1, "x": "y"}, backend=reopen(), flow_id="merge"
    )
    with pytest.raises(Crash):
        first.run()
    backend = reopen()
    resumed = sf.load(chain(journal, ["a"]), store={"start": 5}, backend=backend, flow_id="merge")
    resumed.run()
    assert resumed.storage.fetch("a") == 6
    assert backend.get_flow_detail("merge").meta["store"] == {"start": 5, "x": "y"}


def test_sf_run_persists_and_closes_what_it_opened(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/run.db"
    results = sf.run(
        chain(Journal(), ["a", "b"]), store={"start": 0}, backend=url, flow_id="one-call"
    )
    assert results == {"a": 1, "b": 2}
    with sf.persistence.open_backend(url) as backend:
        assert backend.get_flow_detail("one-call").state is FlowState.SUCCESS


def test_reset_before_loading_starts_the_stored_flow_over(reopen: Opener) -> None:
    journal = Journal()
    with pytest.raises(RuntimeError):
        sf.load(
            chain(journal, ["a"], fail="a"), store={"start": 0}, backend=reopen(), flow_id="again"
        ).run()
    fresh = sf.load(chain(journal, ["a"]), backend=reopen(), flow_id="again")
    fresh.reset()
    fresh.run()
    assert fresh.storage.fetch("a") == 1
    assert journal.keys("execute", "a") == ["again:a:1", "again:a:2"]


def test_run_async_persists_and_resumes(reopen: Opener) -> None:
    import asyncio

    journal = Journal()
    journal.crash_on.add(("execute", "b"))
    first = sf.load(chain(journal, NAMES), store={"start": 0}, backend=reopen(), flow_id="aio")
    with pytest.raises(Crash):
        asyncio.run(first.run_async())
    results = asyncio.run(sf.run_async(chain(journal, NAMES), backend=reopen(), flow_id="aio"))
    assert results == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert journal.names("execute") == ["a", "b", "b", "c", "d"]


class SetsAsJSON:
    """A serializer that also stores sets (as sorted tagged lists)."""

    def __init__(self) -> None:
        self.inner = sf.persistence.JSONSerializer()

    def dumps(self, obj: object) -> str:
        if isinstance(obj, set):
            obj = {"__set__": sorted(obj)}
        return self.inner.dumps(obj)

    def loads(self, text: str) -> object:
        value = self.inner.loads(text)
        if isinstance(value, dict) and set(value) == {"__set__"}:
            return set(value["__set__"])
        return value


def test_a_pluggable_serializer_decides_what_a_result_may_be(tmp_path: object) -> None:
    # Given a store whose serializer knows sets
    class Tags(sf.Task):
        def execute(self) -> set[str]:
            return {"b", "a"}

    url = f"sqlite:///{tmp_path}/sets.db"
    with sf.persistence.open_backend(url, serializer=SetsAsJSON()) as backend:
        # When a task returns a set, Then it is stored and read back as a set
        sf.run(sf.Linear("tags", Tags("t", provides="tags")), backend=backend, flow_id="sets")
        assert backend.get_flow_detail("sets").atoms["t"].result == {"a", "b"}
