"""The ``dask`` engine's executor: each task call becomes a future on a Dask cluster.

Retry controllers (and anything that is not a task) still run here, in the
engine; a task's ``execute`` or ``revert``, or one element of a Map, is
submitted as :func:`steadyflow.dask._remote.run` of its ``request`` (the JSON
of the workers protocol, never pickled code or values).

What Dask guarantees and what this adds (docs/workers.md states it for users):

- the scheduler reruns a task whose worker died mid-task on another worker,
  with the same request, so under the same idempotency key; a task that
  keeps killing workers ends as ``KilledWorker`` and fails;
- a future whose result the scheduler lost is submitted again (same request);
- past its timeout, or when the run is revoked or given up, a future is
  cancelled and its result, should it still come, is never recorded.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from typing import Any

from steadyflow.engine._executor import (
    Completion,
    Job,
    ThreadedExecutor,
    failed,
    timeout_failure,
)
from steadyflow.errors import MessageError, MissingDriverError, WorkerError
from steadyflow.failure import Failure
from steadyflow.workers import protocol
from steadyflow.workers._calls import completion_of, prepare

__all__ = ["DaskExecutor"]

_log = logging.getLogger("steadyflow.dask")

_WAKE = ""
"""What :meth:`DaskExecutor.wake` puts in the inbox (never a request id)."""


class _Pending:
    """One future awaited: its job, its request, and when it times out."""

    __slots__ = ("body", "deadline", "fields", "future", "job")

    def __init__(self, job: Job, fields: dict[str, Any], body: str) -> None:
        self.job = job
        self.fields = fields
        self.body = body
        self.deadline = None if job.timeout is None else time.monotonic() + job.timeout
        self.future: Any = None


class DaskExecutor(ThreadedExecutor):
    """Runs tasks as futures of a Dask ``distributed.Client``.

    Args:
        client: a synchronous ``distributed.Client``, or a scheduler address
            (``tcp://host:8786``) to connect to (and close at the end).
        capacity: futures kept in flight at once (the scheduler queues them
            until a worker thread is free).
        epoch: returns the lease epoch of the persisted run (None without
            one), sent with every request and checked on every result.
        max_message_bytes: the size limit of one request or result.

    Raises:
        TypeError: ``client`` is neither a Client nor an address.
        ValueError: an invalid capacity.
    """

    def __init__(
        self,
        client: Any,
        *,
        capacity: int = 64,
        epoch: Callable[[], int | None] | None = None,
        max_message_bytes: int = protocol.MAX_MESSAGE_BYTES,
    ) -> None:
        if not isinstance(client, str) and not callable(getattr(client, "submit", None)):
            raise TypeError(
                f"client must be a distributed.Client or a scheduler address, not {client!r}"
            )
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, not {capacity}")
        self.capacity = capacity
        self._address = client if isinstance(client, str) else None
        self._client: Any = None if isinstance(client, str) else client
        self._epoch = epoch or (lambda: None)
        self._limit = max_message_bytes
        self._pending: dict[str, _Pending] = {}
        self._local: list[Completion] = []
        self._inbox: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._buffer: list[str] = []
        self.resubmitted = 0
        """Futures submitted again because the cluster lost their result."""

    # -- the Executor interface ------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._pending) + len(self._local)

    def submit(self, job: Job) -> None:
        prepared = prepare(
            job, self._await, epoch=self._epoch(), reply_to="dask", limit=self._limit
        )
        if isinstance(prepared, Completion):
            self._local.append(prepared)
            return
        request_id, fields, body = prepared
        pending = _Pending(job, fields, body.decode())
        self._pending[request_id] = pending
        self._send(request_id, pending)

    def take(self) -> list[Completion]:
        done, self._local = self._local, []
        arrived, self._buffer = self._buffer, []
        while True:
            try:
                arrived.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        ready = {rid: self._pending[rid] for rid in arrived if rid in self._pending}
        # (Not pending: a wake, or a future already given up on.)
        bodies = self._gather(ready)
        for request_id, pending in ready.items():
            completion = self._outcome(request_id, pending, bodies.get(request_id))
            if completion is not None:
                done.append(completion)
        if self._pending:
            done.extend(self._overdue())
        return done

    def wait(self, timeout: float | None) -> None:
        if self._local or self._buffer or not self._pending:
            return
        deadlines = [p.deadline for p in self._pending.values() if p.deadline is not None]
        if deadlines:
            left = max(0.0, min(deadlines) - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        try:
            self._buffer.append(self._inbox.get(timeout=timeout))
        except queue.Empty:
            return

    def wake(self) -> None:
        self._inbox.put(_WAKE)

    def abandon(self) -> list[Job]:
        jobs = []
        for pending in self._pending.values():
            pending.future.cancel()
            jobs.append(pending.job)
        self._pending.clear()
        return jobs

    def close(self) -> None:
        for pending in self._pending.values():
            pending.future.cancel()
        self._pending.clear()
        if self._address is not None and self._client is not None:
            self._client.close()
            self._client = None
        self._close_loop()

    # -- futures ---------------------------------------------------------------------------------

    def _connect(self) -> Any:
        if self._client is None:
            try:
                from distributed import Client
            except ImportError as exc:
                raise MissingDriverError(
                    "the dask engine needs distributed: pip install 'steadyflow[dask]'"
                ) from exc
            connect: Any = Client
            self._client = connect(self._address, set_as_default=False)
        return self._client

    def _send(self, request_id: str, pending: _Pending) -> None:
        from steadyflow.dask._remote import run

        inbox = self._inbox
        future = self._connect().submit(
            run, pending.body, key=f"steadyflow-{pending.fields['atom']}-{request_id}", pure=False
        )
        pending.future = future
        future.add_done_callback(lambda _: inbox.put(request_id))

    def _gather(self, ready: dict[str, _Pending]) -> dict[str, str]:
        """The results of the finished futures among ``ready``, fetched in one round trip.

        One ``future.result()`` each would cost a round trip to the cluster per
        task, in the engine's thread: the dask engine's throughput would be
        bounded by that latency.
        """
        finished = [(rid, p.future) for rid, p in ready.items() if p.future.status == "finished"]
        if len(finished) < 2:
            return {}
        try:
            bodies = self._connect().gather([future for _, future in finished])
        except Exception as exc:  # one of them changed state meanwhile: fetch them one by one
            _log.info("gathering %d results at once failed (%s)", len(finished), exc)
            return {}
        return {rid: body for (rid, _), body in zip(finished, bodies, strict=True)}

    def _outcome(self, request_id: str, pending: _Pending, body: str | None) -> Completion | None:
        future = pending.future
        status = "finished" if body is not None else future.status
        if status == "lost":
            _log.warning(
                "the cluster lost the result of %s: submitting it again", pending.fields["key"]
            )
            self.resubmitted += 1
            self._send(request_id, pending)
            return None
        if status == "pending":
            return None  # a retried future's callback from before its resubmission
        del self._pending[request_id]
        job = pending.job
        if status == "finished":
            try:
                message = protocol.decode(body or future.result(), self._limit)
                if message["type"] != "result":
                    raise MessageError(f"a Dask task returned a {message['type']} message")
            except MessageError as exc:
                return failed(job, Failure.from_exception(exc))
            completion = completion_of(job, pending.fields, message)
            if completion is None:
                return failed(job, Failure.from_exception(WorkerError("a result of another call")))
            return completion
        if status == "cancelled":
            error = WorkerError(
                f"the Dask future of {job.context.atom_name} was cancelled on the cluster"
            )
            return failed(job, Failure.from_exception(error))
        return failed(job, Failure.from_exception(_as_exception(future.exception())))

    def _overdue(self) -> list[Completion]:
        now = time.monotonic()
        done: list[Completion] = []
        for request_id, pending in list(self._pending.items()):
            if pending.deadline is not None and pending.deadline <= now:
                del self._pending[request_id]
                pending.future.cancel()
                done.append(failed(pending.job, timeout_failure(pending.job)))
        return done


def _as_exception(error: BaseException | None) -> BaseException:
    if error is None:
        return WorkerError("a Dask future failed without an exception")
    if type(error).__name__ == "KilledWorker":
        return WorkerError(f"the task kept killing Dask workers, which gave up on it: {error}")
    return error
