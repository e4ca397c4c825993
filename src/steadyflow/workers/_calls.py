"""One remote call, transport aside: the request a job becomes, its run, its result.

Shared by every way steadyflow sends a task elsewhere (its own workers over
kombu, a Celery fleet, a Dask cluster) so that they all speak the same
versioned JSON of :mod:`steadyflow.workers.protocol` and run only what an
:class:`~steadyflow.workers._registry.Allowlist` names.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from steadyflow.context import AtomContext
from steadyflow.engine._executor import AwaitFn, Completion, Job, failed, invoke
from steadyflow.errors import MessageError, UnknownTaskError
from steadyflow.failure import Failure
from steadyflow.task import Task
from steadyflow.workers import protocol
from steadyflow.workers._registry import Allowlist, task_ref

if TYPE_CHECKING:
    from steadyflow.engine._asyncio import LoopThread

__all__ = [
    "completion_of",
    "prepare",
    "process_loop",
    "request_fields",
    "result_body",
    "run_request",
]


_log = logging.getLogger("steadyflow.workers")


# -- the engine side -----------------------------------------------------------------------------


Prepared = tuple[str, dict[str, Any], bytes]
"""A request ready to send: its id, its fields (all but the id) and its encoded body."""


def prepare(
    job: Job, await_fn: AwaitFn, *, epoch: int | None, reply_to: str, limit: int
) -> Prepared | Completion:
    """What a remote executor does first with a job: a request, or the completion it already has.

    Retry controllers (and anything else that is not a task: deciders, map
    decisions) run here and now, in the engine; a job whose inputs cannot
    travel fails here with the :class:`~steadyflow.errors.MessageError`.
    """
    task = getattr(job.fn, "__self__", None)
    if not isinstance(task, Task):
        return invoke(job, await_fn)
    request_id = uuid.uuid4().hex
    fields = request_fields(job, task, epoch=epoch, reply_to=reply_to)
    try:
        body = protocol.encode("request", limit, id=request_id, **fields)
    except MessageError as exc:
        return failed(job, Failure.from_exception(exc))
    return request_id, fields, body


def request_fields(job: Job, task: Task, *, epoch: int | None, reply_to: str) -> dict[str, Any]:
    """The fields of the ``request`` (all but its id) that runs ``job`` of ``task`` remotely."""
    context = job.context
    return {
        "task": task_ref(task),
        "version": task.version,
        "action": "revert" if job.revert else "execute",
        "flow_id": context.flow_id,
        "atom": context.atom_name,
        "element": job.element,
        "attempt": context.attempt,
        "key": context.idempotency_key,
        "epoch": epoch,
        "deadline": None if job.timeout is None else time.time() + job.timeout,
        "reply_to": reply_to,
        "kwargs": job.kwargs,
    }


def completion_of(
    job: Job, fields: Mapping[str, Any], message: Mapping[str, Any]
) -> Completion | None:
    """The completion a ``result`` message brings for ``job``; None if it answers another call.

    A reply carrying another idempotency key or lease epoch than the request
    was sent with belongs to an earlier engine (one whose lease another runner
    took): it is dropped and logged, never recorded.
    """
    if message["key"] != fields["key"] or message["epoch"] != fields["epoch"]:
        _log.warning(
            "ignoring reply %s: it is for %s epoch %s, not %s epoch %s",
            message["id"],
            message["key"],
            message["epoch"],
            fields["key"],
            fields["epoch"],
        )
        return None
    if message["ok"]:
        return Completion(job.node, job.revert, True, message["value"], job.element)
    try:
        failure = protocol.failure_of(message)
    except MessageError as exc:
        failure = Failure.from_exception(exc)
    return failed(job, failure)


# -- the worker side -----------------------------------------------------------------------------


def run_request(
    allowlist: Allowlist,
    fields: Mapping[str, Any],
    progress: Callable[[float], None],
    loop: Callable[[], LoopThread],
) -> Completion:
    """Run a decoded request's task if the allowlist has it; never raises an ``Exception``.

    Args:
        allowlist: what may run.
        fields: the decoded ``request``.
        progress: where the task's progress reports go.
        loop: the event loop thread ``async def`` tasks run on (made on first use).
    """
    revert = fields["action"] == "revert"
    try:
        task = allowlist.get(fields["task"], fields["version"])
    except UnknownTaskError as exc:
        _log.warning("refused %s: %s", fields["key"], exc)
        return Completion(0, revert, False, Failure.from_exception(exc))
    deadline = fields["deadline"]
    context = AtomContext(
        flow_id=fields["flow_id"],
        atom_name=fields["atom"],
        attempt=fields["attempt"],
        report_progress=progress,
    )
    job = Job(
        0,
        revert,
        task.revert if revert else task.execute,
        dict(fields["kwargs"]),
        context,
        None if deadline is None else max(0.001, deadline - time.time()),
        task.revert_is_async if revert else task.is_async,
        fields["element"],
    )
    if job.is_async:
        return loop().call(job)
    return invoke(job, lambda value, job: loop().run(value, job))


def result_body(
    fields: Mapping[str, Any], worker: str, completion: Completion, limit: int
) -> bytes:
    """The encoded ``result`` of a request; a value that cannot travel becomes its failure."""
    common = {"id": fields["id"], "worker": worker, "key": fields["key"], "epoch": fields["epoch"]}
    if completion.ok:
        try:
            return protocol.encode(
                "result", limit, ok=True, value=completion.value, failure=None, **common
            )
        except MessageError as exc:
            completion = Completion(0, False, False, Failure.from_exception(exc))
    failure: Failure = completion.value
    return protocol.encode(
        "result", limit, ok=False, value=None, failure=failure.to_dict(), **common
    )


_LOOP: LoopThread | None = None
_LOOP_LOCK = threading.Lock()


def process_loop() -> LoopThread:
    """This process's event loop thread for ``async def`` tasks (Celery and Dask workers)."""
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            from steadyflow.engine._asyncio import LoopThread

            _LOOP = LoopThread()
        return _LOOP
