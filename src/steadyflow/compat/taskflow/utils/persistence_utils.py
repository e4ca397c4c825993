"""TaskFlow's helpers that make a temporary logbook or flow detail in a backend."""

from __future__ import annotations

import uuid
from typing import Any

from steadyflow.compat.taskflow.persistence import models

__all__ = ["create_flow_detail", "temporary_flow_detail", "temporary_log_book"]


def temporary_log_book(backend: Any = None) -> models.LogBook:
    """A new logbook with a random name, saved in ``backend`` when given."""
    book = models.LogBook("tmp")
    if backend is not None:
        backend.get_connection().save_logbook(book)
    return book


def temporary_flow_detail(
    backend: Any = None, meta: Any = None
) -> tuple[models.LogBook, models.FlowDetail]:
    """A new logbook holding one new flow detail, saved in ``backend`` when given."""
    flow_id = str(uuid.uuid4())
    book = temporary_log_book()
    fd = models.FlowDetail(name=flow_id, uuid=flow_id)
    if meta is not None:
        fd.meta.update(meta)
    book.add(fd)
    if backend is not None:
        backend.get_connection().save_logbook(book)
    return book, fd


def create_flow_detail(
    flow: Any, book: Any = None, backend: Any = None, meta: Any = None
) -> models.FlowDetail:
    """A new flow detail for ``flow``, added to ``book`` (and saved) when given."""
    fd = models.FlowDetail(name=flow.name, uuid=str(uuid.uuid4()))
    if meta is not None:
        fd.meta.update(meta)
    if book is not None:
        book.add(fd)
        if backend is not None:
            backend.get_connection().save_logbook(book)
    return fd
