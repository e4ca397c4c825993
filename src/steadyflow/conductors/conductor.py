"""The conductor: claims jobs from a board and runs their flows, many processes at once.

Each claimed job runs on a thread of its own (at most ``max_concurrent`` at
a time), its claim renewed every ttl/3 on another thread whatever its tasks
are doing; see :mod:`steadyflow.conductors._run` for what the board is told
at the end of each job. Every call the conductor makes to its board is made
on one thread of its own (:mod:`steadyflow.conductors._board_thread`), so a
board object need not be thread-safe.

Stopping (:meth:`Conductor.stop`, or SIGTERM while :meth:`Conductor.run` runs
in the main thread): no new claims; every running flow is asked to suspend
(the atoms in flight finish, none starts), stored SUSPENDED and its job
handed back (claimable at once by another conductor). A flow still running
``stop_timeout`` seconds later is dropped: its lease is given up as lost (so
nothing it does later is stored), its job handed back, and the atoms it had
in flight run again on the next conductor under the same idempotency keys.
So :meth:`Conductor.run` returns at most ``stop_timeout`` + 2 s after the
request, plus one board round trip per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from steadyflow.conductors._board_thread import BoardThread
from steadyflow.conductors._run import JobRun, Outcome, Settings
from steadyflow.engine.engine import ENGINE_KINDS
from steadyflow.jobs.base import JobBoard, check_seconds

if TYPE_CHECKING:
    from steadyflow.engine.options import EngineKind
    from steadyflow.jobs.base import Claim
    from steadyflow.persistence.base import Backend

__all__ = ["Conductor", "ConductorStatistics"]

log = logging.getLogger("steadyflow.conductors")

T = TypeVar("T")

WAIT_SLICE = 0.1
"""Longest a wait for new jobs holds up the board thread at a time (seconds)."""

DROP_GRACE = 1.0
"""Seconds a dropped run gets to notice before its job is handed back from outside."""


@dataclass(frozen=True, slots=True)
class ConductorStatistics:
    """What one conductor did so far (:meth:`Conductor.statistics`)."""

    claimed: int
    completed: int
    reverted: int
    """Completed after a clean revert."""
    trashed: int
    abandoned: int
    handed_back: int
    lost: int
    running: int


class Conductor:
    """Claims jobs from ``board`` and runs their flows, persisted in ``backend``.

    Args:
        board: where jobs are posted (a :class:`~steadyflow.jobs.JobBoard`).
        backend: where the flows are stored (a URL or a
            :class:`~steadyflow.persistence.Backend`); the conductor closes
            one it opened from a URL in :meth:`close`.
        name: for people and logs (default: host and pid); the claim owner
            is this name plus a random suffix, unique per conductor.
        max_concurrent: jobs run at once (each on its own thread).
        ttl: seconds a claim (and the flow's lease) lasts unless renewed;
            renewed every ttl/3. How long a dead conductor holds its jobs up.
        max_claims: a job claimed more often than this is trashed (dead
            letter) with the last failure known, instead of cycling forever.
        abandon_delay: seconds before a job handed back after an error
            (the store unreachable, a factory that fails) can be claimed again.
        stop_timeout: seconds running flows get to suspend when stopping.
        engine: ``"serial"`` or ``"parallel"``: how each flow runs.

    Raises:
        TypeError: ``board`` is not a JobBoard, ``backend`` neither URL nor Backend.
        ValueError: a bad number, an unknown engine, an empty name.
    """

    def __init__(
        self,
        board: JobBoard,
        backend: str | Backend,
        *,
        name: str | None = None,
        max_concurrent: int = 1,
        ttl: float = 30.0,
        max_claims: int = 5,
        abandon_delay: float = 5.0,
        stop_timeout: float = 10.0,
        engine: EngineKind = "serial",
    ) -> None:
        from steadyflow.engine._persist import resolve_backend

        if not isinstance(board, JobBoard):
            raise TypeError(f"board must be a steadyflow.jobs.JobBoard, not {board!r:.80}")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError(f"a conductor name must be a non-empty string, not {name!r}")
        _check_count("max_concurrent", max_concurrent)
        _check_count("max_claims", max_claims)
        check_seconds("ttl", ttl, allow_zero=False)
        check_seconds("abandon_delay", abandon_delay, allow_zero=True)
        check_seconds("stop_timeout", stop_timeout, allow_zero=True)
        if engine not in ENGINE_KINDS or engine == "asyncio":
            raise ValueError(f"a conductor runs flows with 'serial' or 'parallel', not {engine!r}")
        opened, self._owns_backend = resolve_backend(backend)
        self.board = board
        self.backend = opened
        self.name = name or f"conductor-{socket.gethostname()}-{os.getpid()}"
        self.owner = f"{self.name}.{secrets.token_hex(4)}"
        self.max_concurrent = max_concurrent
        self.ttl = float(ttl)
        self.stop_timeout = float(stop_timeout)
        self._settings = Settings(opened, engine, max_claims, float(abandon_delay))
        self._poll = min(0.5, self.ttl / 6)
        self._board = BoardThread(f"steadyflow-board-{self.name}")
        self._stopping = threading.Event()
        self._running = False
        self._runs: dict[JobRun, threading.Thread] = {}
        self._changed = threading.Condition()
        self._counts = dict.fromkeys(Outcome, 0)
        self._claimed = 0
        self._successor = _Successor(self._wants_successor, self._take_successor)

    # -- running ---------------------------------------------------------------------------

    def run(self, *, idle_timeout: float | None = None, handle_signals: bool = True) -> None:
        """Claim and run jobs until :meth:`stop` (or SIGTERM); blocks.

        Args:
            idle_timeout: also return once no job could be claimed for this
                many seconds and none is running (a batch that drains a board).
            handle_signals: in the main thread, make SIGTERM call :meth:`stop`
                (the previous handler is put back on return).

        Raises:
            RuntimeError: this conductor is already running.
        """
        if idle_timeout is not None:
            check_seconds("idle_timeout", idle_timeout, allow_zero=True)
        if self._running:
            raise RuntimeError(f"conductor {self.name!r} is already running")
        self._running = True
        self._stopping.clear()
        previous = self._install_sigterm() if handle_signals else None
        try:
            self._loop(idle_timeout)
        finally:
            try:
                self._shut_down()
            finally:
                self._board.close()
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)
                self._running = False

    async def run_async(self, *, idle_timeout: float | None = None) -> None:
        """:meth:`run` from a coroutine, on a thread of its own: the event loop never blocks.

        SIGTERM (where the loop can watch signals) and cancelling the
        coroutine both stop the conductor gracefully; a cancelled
        ``run_async`` returns once the conductor stopped.
        """
        loop = asyncio.get_running_loop()
        watching = False
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, self.stop)
            watching = True
        done = loop.run_in_executor(
            None, lambda: self.run(idle_timeout=idle_timeout, handle_signals=False)
        )
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            self.stop()
            await done
            raise
        finally:
            if watching:
                loop.remove_signal_handler(signal.SIGTERM)

    def stop(self) -> None:
        """Stop claiming; running flows suspend and are handed back (module docstring).

        Safe from any thread and from a signal handler; returns at once.
        """
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def statistics(self) -> ConductorStatistics:
        """Counts of what this conductor did with the jobs it claimed."""
        with self._changed:
            counts = dict(self._counts)
            running = len(self._runs)
        return ConductorStatistics(
            claimed=self._claimed,
            completed=counts[Outcome.COMPLETED],
            reverted=counts[Outcome.REVERTED],
            trashed=counts[Outcome.TRASHED],
            abandoned=counts[Outcome.ABANDONED],
            handed_back=counts[Outcome.HANDED_BACK],
            lost=counts[Outcome.LOST],
            running=running,
        )

    def close(self) -> None:
        """Close the backend this conductor opened from a URL (the board is the caller's)."""
        if self._running:
            raise RuntimeError(f"cannot close conductor {self.name!r} while it runs")
        if self._owns_backend:
            self._owns_backend = False
            self.backend.close()

    def __enter__(self) -> Conductor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the claim loop --------------------------------------------------------------------

    def _loop(self, idle_timeout: float | None) -> None:
        idle_since = time.monotonic()
        while not self._stopping.is_set():
            with self._changed:
                busy = len(self._runs)
                if busy >= self.max_concurrent:
                    self._changed.wait(self._poll)
                    continue
            if busy:
                idle_since = time.monotonic()
            claimed_at = time.monotonic()
            claim = self._claim()
            if claim is not None:
                self._start(claim, claimed_at)
                idle_since = time.monotonic()
                continue
            idle = time.monotonic() - idle_since
            if idle_timeout is not None and not busy and idle >= idle_timeout:
                return
            self._wait_for_jobs()

    def _claim(self) -> Claim | None:
        try:
            return self.call(lambda: self.board.claim(self.owner, self.ttl))
        except Exception:
            log.exception("conductor %s: claiming failed; trying again", self.name)
            self._stopping.wait(self._poll)
            return None

    def _wait_for_jobs(self) -> None:
        """Wait for the board to change, in slices: renewals and settlements queued on the
        board thread meanwhile never wait long behind a waiting claimer."""
        deadline = time.monotonic() + self._poll
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                if self.call(partial(self.board.wait, min(WAIT_SLICE, left))):
                    return
            except Exception:
                log.exception("conductor %s: waiting on the board failed", self.name)
                self._stopping.wait(left)
                return

    def _start(self, claim: Claim, claimed_at: float) -> None:
        job_run = JobRun(
            claim, self._settings, self.call, claimed_at=claimed_at, successor=self._successor
        )
        thread = threading.Thread(
            target=self._work, args=(job_run,), name=f"steadyflow-job-{claim.job_id}", daemon=True
        )
        with self._changed:
            self._claimed += 1
            self._runs[job_run] = thread
            # Started under the lock: a stop's snapshot of the runs never sees this one
            # registered but not yet alive (taken for finished, it would not be suspended).
            thread.start()

    def _wants_successor(self) -> bool:
        with self._changed:
            # The finishing run is still counted: its successor takes its place.
            return not self._stopping.is_set() and len(self._runs) <= self.max_concurrent

    def _take_successor(self, claim: Claim, claimed_at: float) -> None:
        with self._changed:
            if not self._stopping.is_set():
                self._start(claim, claimed_at)
                return
        # Stopped between the ask and the answer: the job goes back at once.
        try:
            self.call(lambda: claim.abandon(0.0))
        except Exception:
            log.exception("conductor %s: handing back job %s failed", self.name, claim.job_id)

    def _work(self, job_run: JobRun) -> None:
        try:
            job_run.run()
        finally:
            with self._changed:
                if self._runs.pop(job_run, None) is not None:
                    self._counts[job_run.outcome or Outcome.LOST] += 1
                self._changed.notify_all()

    def call(self, operation: Callable[[], T]) -> T:
        """Run one board operation on the conductor's board thread, after those queued."""
        return self._board.call(operation)

    # -- stopping --------------------------------------------------------------------------

    def _shut_down(self) -> None:
        with self._changed:
            runs = dict(self._runs)
        if not runs:
            return
        log.info("conductor %s: stopping; suspending %d running job(s)", self.name, len(runs))
        deadline = time.monotonic() + self.stop_timeout
        self._suspend_all(runs, deadline)
        stuck = [job_run for job_run, thread in runs.items() if thread.is_alive()]
        for job_run in stuck:
            job_run.drop()
        self._join(runs, time.monotonic() + DROP_GRACE)
        for job_run in stuck:
            if runs[job_run].is_alive():
                # Stuck in a task: settle from here; its thread can no longer write anything.
                job_run.settle_now()
                with self._changed:
                    if self._runs.pop(job_run, None) is not None:
                        self._counts[job_run.outcome or Outcome.LOST] += 1

    def _suspend_all(self, runs: dict[JobRun, threading.Thread], deadline: float) -> None:
        """Ask every run to suspend until it ends or ``deadline`` passes.

        Asked again every :data:`WAIT_SLICE`: an engine asked between being built
        and starting its run forgets a suspend (its run starts afresh), and a
        later ask reaches the run itself.
        """
        while time.monotonic() < deadline:
            alive = [job_run for job_run, thread in runs.items() if thread.is_alive()]
            if not alive:
                return
            for job_run in alive:
                job_run.hand_back()
            runs[alive[0]].join(min(WAIT_SLICE, max(0.0, deadline - time.monotonic())))

    def _join(self, runs: dict[JobRun, threading.Thread], deadline: float) -> None:
        for thread in runs.values():
            thread.join(max(0.0, deadline - time.monotonic()))

    def _install_sigterm(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            self.stop()

        return signal.signal(signal.SIGTERM, on_sigterm)

    def __repr__(self) -> str:
        return f"<Conductor {self.name!r} owner={self.owner!r} board={self.board.name!r}>"


@dataclass(frozen=True, slots=True)
class _Successor:
    """The conductor as its runs see it when they complete (see ``JobRun._complete``)."""

    wanted: Callable[[], bool]
    take: Callable[[Claim, float], None]


def _check_count(what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive int, not {value!r}")
