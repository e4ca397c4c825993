"""A job board in this process's memory: for tests, users' tests, and one-process farms.

It keeps every promise of :class:`~steadyflow.jobs.base.JobBoard` among the
threads of one process (one lock makes each operation atomic; a condition
wakes waiting claimers at once). Nothing survives the process.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

from steadyflow.jobs.base import (
    Claim,
    Job,
    JobBoard,
    JobNotFoundError,
    JobState,
    claimed,
    finished,
    lost,
    running,
)

__all__ = ["MemoryBoard"]


class MemoryBoard(JobBoard):
    """Jobs in a dict, guarded by one lock; expiries on this process's wall clock."""

    def __init__(self, name: str = "default") -> None:
        super().__init__(name)
        self._jobs: dict[str, Job] = {}
        # Ids of the unclaimed and claimed jobs: claims and waits scan these only, so a
        # board that finished many jobs claims as fast as a new one.
        self._live: dict[str, None] = {}
        # Unclaimed jobs by (-priority, posting order): a job's key never changes, so each
        # is in the heap at most once (``_heaped``), left there when claimed or finished
        # and dropped when it reaches the top so.
        self._ready: list[tuple[int, int, str]] = []
        self._heaped: set[str] = set()
        # Ids of claimed jobs: the only ones whose claims can lapse.
        self._held: dict[str, None] = {}
        self._order: dict[str, int] = {}
        self._by_key: dict[str, str] = {}
        self._changed = threading.Condition()
        self._version = 0
        self._sequence = 0

    def _post(self, job: Job) -> Job:
        with self._changed:
            if job.key is not None and job.key in self._by_key:
                return self._jobs[self._by_key[job.key]]
            self._sequence += 1
            self._order[job.id] = self._sequence
            self._keep(job)
            if job.key is not None:
                self._by_key[job.key] = job.id
            self._bump()
            return job

    def _get(self, job_id: str) -> Job:
        with self._changed:
            try:
                return self._jobs[job_id]
            except KeyError:
                raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}") from None

    def _iter_jobs(self, state: JobState | None) -> Iterator[Job]:
        with self._changed:
            jobs = sorted(self._jobs.values(), key=self._rank)
        return iter([job for job in jobs if state is None or job.state is state])

    def _rank(self, job: Job) -> tuple[int, int]:
        return (-job.priority, self._order[job.id])

    def _try_claim(self, owner: str, ttl: float) -> Claim | None:
        with self._changed:
            now = time.time()
            best = self._best_ready(now)
            for job_id in self._held:
                job = self._jobs[job_id]
                if not _claimable(job, owner, now):
                    continue
                if best is None or self._rank(job) < self._rank(best):
                    best = job
            if best is None:
                return None
            taken = claimed(best, owner, now + ttl)
            self._keep(taken)
            return Claim(self, taken, owner, taken.epoch, ttl, now + ttl)

    def _best_ready(self, now: float) -> Job | None:
        """The best unclaimed job past its ``not_before``, left in the heap."""
        held_back: list[tuple[int, int, str]] = []
        best: Job | None = None
        while self._ready:
            job = self._jobs[self._ready[0][2]]
            if job.state is not JobState.UNCLAIMED:
                self._heaped.discard(heapq.heappop(self._ready)[2])
            elif job.not_before > now:
                held_back.append(heapq.heappop(self._ready))
            else:
                best = job
                break
        for entry in held_back:
            heapq.heappush(self._ready, entry)
        return best

    def _current(self, claim: Claim) -> Job:
        job = self._jobs.get(claim.job.id)
        if job is None:
            raise lost(claim, "the job is gone")
        if job.state is not JobState.CLAIMED or job.epoch != claim.epoch:
            raise lost(claim, f"the job is {job.state.value} at epoch {job.epoch}")
        return job

    def _renew(self, claim: Claim) -> tuple[float, str | None]:
        with self._changed:
            job = self._current(claim)
            expires_at = time.time() + claim.ttl
            self._keep(replace(job, expires_at=expires_at))
            return expires_at, job.revoke_reason

    def _finish(self, claim: Claim, state: JobState, reason: str | None) -> str | None:
        with self._changed:
            job = self._current(claim)
            if state is JobState.DONE and job.revoke_reason is not None:
                # Revoked since the owner last renewed: left for the next conductor to revert.
                self._keep(
                    replace(
                        job, state=JobState.UNCLAIMED, owner=None, expires_at=None, not_before=0.0
                    )
                )
                self._bump()
                return job.revoke_reason
            self._keep(replace(job, state=state, reason=reason, owner=None, expires_at=None))
            self._bump()
            return None

    def _finish_and_claim(self, claim: Claim) -> tuple[str | None, Claim | None]:
        with self._changed:  # reentrant: both steps under one hold of the lock
            return super()._finish_and_claim(claim)

    def _abandon(self, claim: Claim, delay: float) -> None:
        with self._changed:
            job = self._current(claim)
            self._keep(
                replace(
                    job,
                    state=JobState.UNCLAIMED,
                    owner=None,
                    expires_at=None,
                    not_before=time.time() + delay,
                )
            )
            self._bump()

    def _revoke(self, job_id: str, reason: str) -> Job:
        with self._changed:
            job = self._get(job_id)
            if job.state is JobState.TRASHED:
                return job
            if job.state is JobState.UNCLAIMED and job.claims == 0:
                job = replace(job, state=JobState.TRASHED, reason=reason, revoke_reason=reason)
            elif job.state is JobState.DONE:
                job = replace(job, state=JobState.UNCLAIMED, revoke_reason=reason, not_before=0.0)
            else:
                job = replace(job, revoke_reason=reason)
            self._keep(job)
            self._bump()
            return job

    def _trash_job(self, job_id: str, reason: str) -> Job:
        with self._changed:
            job = self._get(job_id)
            if job.state is JobState.TRASHED:
                return job
            if job.state is JobState.DONE:
                raise finished(job_id, self.name)
            if (
                job.state is JobState.CLAIMED
                and job.expires_at is not None
                and job.expires_at > time.time()
            ):
                raise running(job_id, job.owner, self.name)
            job = replace(job, state=JobState.TRASHED, reason=reason, owner=None, expires_at=None)
            self._keep(job)
            self._bump()
            return job

    def _wait_for_change(self, timeout: float | None) -> bool:
        with self._changed:
            # A job posted between the caller's failed claim and this wait bumped
            # the version before it was read here: a ready job must wake it at once.
            now = time.time()
            if any(
                job.state is JobState.UNCLAIMED and job.not_before <= now
                for job in self._live_jobs()
            ):
                return True
            seen = self._version
            limit = timeout
            # Wake up when the earliest claim or abandon delay runs out, too:
            # that makes a job claimable without anybody touching the board.
            soonest = self._next_deadline()
            if soonest is not None:
                left = max(0.0, soonest - time.time())
                limit = left if limit is None else min(limit, left)
            self._changed.wait_for(lambda: self._version != seen, limit)
            return self._version != seen or (soonest is not None and time.time() >= soonest)

    def _next_deadline(self) -> float | None:
        times = [
            job.expires_at if job.state is JobState.CLAIMED else job.not_before
            for job in self._live_jobs()
        ]
        future = [t for t in times if t is not None and t > time.time()]
        return min(future, default=None)

    def _keep(self, job: Job) -> None:
        self._jobs[job.id] = job
        if job.state in (JobState.UNCLAIMED, JobState.CLAIMED):
            self._live[job.id] = None
        else:
            self._live.pop(job.id, None)
        if job.state is JobState.CLAIMED:
            self._held[job.id] = None
        else:
            self._held.pop(job.id, None)
        if job.state is JobState.UNCLAIMED and job.id not in self._heaped:
            self._heaped.add(job.id)
            heapq.heappush(self._ready, (-job.priority, self._order[job.id], job.id))

    def _live_jobs(self) -> Iterator[Job]:
        return (self._jobs[job_id] for job_id in self._live)

    def _bump(self) -> None:
        self._version += 1
        self._changed.notify_all()


def _claimable(job: Job, owner: str, now: float) -> bool:
    if job.state is JobState.UNCLAIMED:
        return job.not_before <= now
    if job.state is JobState.CLAIMED:
        # An expired claim is up for grabs, but never by the owner that let it lapse
        # while it may still be working on it: it must claim afresh after renewing fails.
        return job.expires_at is not None and job.expires_at <= now and job.owner != owner
    return False
