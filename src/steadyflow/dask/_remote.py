"""What a Dask worker runs for the ``dask`` engine: one request in, one result out.

The request and the result are the JSON messages of
:mod:`steadyflow.workers.protocol`, as text: a task travels as a reference to
its code (``module:qualname`` and version), never pickled. The worker imports
the task's module and runs only a task that module defines at its top level
(its :class:`~steadyflow.workers._registry.Allowlist`).
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

from steadyflow.engine._executor import Completion
from steadyflow.errors import MessageError, UnknownTaskError
from steadyflow.failure import Failure
from steadyflow.workers import protocol
from steadyflow.workers._calls import process_loop, result_body, run_request
from steadyflow.workers._registry import Allowlist

__all__ = ["run"]

_ALLOWLISTS: dict[str, Allowlist] = {}
_LOCK = threading.Lock()


def _allowlist(module: str) -> Allowlist:
    with _LOCK:
        found = _ALLOWLISTS.get(module)
        if found is None:
            found = _ALLOWLISTS[module] = Allowlist(modules=[module])
        return found


def _ignore_progress(fraction: float) -> None:
    """Progress is not relayed from Dask workers (docs/workers.md says so)."""


def run(body: str) -> str:
    """Run the request ``body`` on this Dask worker; return the encoded ``result``.

    Raises:
        MessageError: ``body`` is not a valid request (the future fails with it).
    """
    fields = protocol.decode(body)
    if fields["type"] != "request":
        raise MessageError(f"a Dask worker runs requests, not a {fields['type']} message")
    ref = fields["task"]
    module = ref.partition(":")[0]
    worker = f"{socket.gethostname()}.{os.getpid()}"
    try:
        allowlist = _allowlist(module)
    except Exception as exc:
        why = f"its module {module!r} cannot be imported there ({type(exc).__name__}: {exc})"
        return _refused(fields, worker, why)
    try:
        allowlist.get(ref, fields["version"])
    except UnknownTaskError as exc:
        why = f"module {module!r} defines no such task at its top level ({exc})"
        return _refused(fields, worker, why)
    completion = run_request(allowlist, fields, _ignore_progress, process_loop)
    return result_body(fields, worker, completion, protocol.MAX_MESSAGE_BYTES).decode()


def _refused(fields: dict[str, Any], worker: str, why: str) -> str:
    refused = UnknownTaskError(
        f"task {fields['atom']} ({fields['task']}) cannot run on Dask worker {worker}: {why}; "
        f"tasks must be importable on the Dask workers"
    )
    completion = Completion(0, False, False, Failure.from_exception(refused))
    return result_body(fields, worker, completion, protocol.MAX_MESSAGE_BYTES).decode()
