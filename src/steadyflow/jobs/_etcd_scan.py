"""The etcd board's way to its next claimable job, without reading every open one.

Claim order is the rank (``open/<rank>/<id>`` keys sort by priority), then the
open entry's create revision (the post's commit order). etcd sorts a range by
create revision only by reading the whole range first (and in 3.4 even a
limited range walks every key of its span in the server's index), so a scan
must not ask for the open jobs' order on every claim.

It need not: a sorted page of a rank's oldest entries, once read, stays a
prefix of that rank's create order for good. An entry created later has a
larger create revision than every entry of the page (an abandoned job keeps
its entry, and its revision, so its place); an entry of the page that is
gone (completed, trashed) or was deleted and created anew (a revoked DONE
job, now younger) is dropped when seen so. The scan keeps that prefix, the
*cursor*, and a claim reads the cursor's first entries by their exact keys
(each a point lookup for etcd), beside the claim and hold keys and the
entries of better ranks than the cursor's, all in one read transaction. When
that read covers the whole cursor, it also holds the rank's next sorted page
(``PAGE`` entries, so draining a backlog pays the server's sort once per that
many claims; a short queue is read whole each time, one round trip still).
Only when nothing read is claimable does the claim read more: the cursor's
next entries, the rank's next page, then the next rank. Entries of better
ranks than the cursor's are read in full (up to the count of busy ones seen
last, plus a few): when one is claimable, its rank's order is theirs sorted;
when there are more than that, the scan starts again from the best rank.

Every claimable job it yields is still checked by the claim's transaction
(the open entry's mod revision, claim and hold keys absent): a stale read
only costs a failed take and the next candidate.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["MARGIN", "MAX_GETS", "PAGE", "OpenScan", "b64", "prefix_end", "unb64"]

PAGE = 256
"""Open entries a sorted read of a rank asks for (with their values)."""

MARGIN = 4
"""Entries read beyond those the last scan found busy or gone."""

MAX_GETS = 100
"""Point lookups in one transaction (etcd refuses more than 128 operations by default)."""

Cursor = tuple[str, tuple[tuple[str, int], ...]]
"""A rank and its oldest open entries as (key, create revision), oldest first."""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def prefix_end(prefix: str) -> str:
    raw = prefix.encode()
    return (raw[:-1] + bytes([raw[-1] + 1])).decode()


class OpenScan:
    """The claimable open jobs of one board, best first, read a few at a time.

    Args:
        call: sends one request to etcd's gateway and returns the reply.
        prefix: the board's key prefix (ending in ``/``).
    """

    def __init__(self, call: Callable[[str, dict[str, Any]], dict[str, Any]], prefix: str) -> None:
        self._call = call
        self._open = prefix + "open/"
        self._claims = prefix + "claim/"
        self._holds = prefix + "hold/"
        # Replaced whole, never changed in place: threads scanning at once each leave a
        # valid prefix (a stale one only holds entries the next scan drops).
        self._cursor: Cursor | None = None
        #: Claim and hold keys, and entries gone or unclaimable, the last scan saw: the
        #: next one reads that many entries and a few more.
        self._skipped = 0

    def candidates(
        self, claimable: Callable[[dict[str, Any]], bool]
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(open entry, job record) of each job no claim or hold key shows busy and
        ``claimable`` accepts, in claim order."""
        cursor = self._cursor
        requests = [_range(self._claims, keys_only=True), _range(self._holds, keys_only=True)]
        if cursor is None:  # the best rank: the first open key
            requests.append(_range(self._open, keys_only=True, limit=1))
            first = []
        else:  # better ranks than the cursor's (busy entries only, usually none)
            rank, known = cursor
            limit = self._skipped + MARGIN
            requests.append(_range(self._open, end=f"{self._open}{rank}/", limit=limit))
            first = list(known[: min(MAX_GETS, limit)])
            requests += ({"request_range": {"key": b64(key)}} for key, _ in first)
            if len(first) == len(known):
                # The cursor may run out in this read: the rank's next page comes with it
                # (read once per PAGE claims from a backlog; every time from a short queue).
                requests.append(self._page(rank, _last(known)))
        replies = self._txn(requests)
        busy = {unb64(kv["key"]).rsplit("/", 1)[1] for reply in replies[:2] for kv in _kvs(reply)}
        self._skipped = len(busy)
        if cursor is None:
            found = _kvs(replies[2])
            if found:
                yield from self._walk(self._rank_of(found[0]), busy, claimable)
            return
        better = replies[2]
        if better.get("more"):  # more entries of better ranks than read: from the best rank
            self._cursor = None
            yield from self._walk(self._rank_of(_kvs(better)[0]), busy, claimable)
            return
        yield from self._better(_kvs(better), busy, claimable)
        gets = replies[3 : 3 + len(first)]
        page = replies[3 + len(first)] if len(replies) > 3 + len(first) else None
        yield from self._follow(cursor, first, gets, page, busy, claimable)

    def _better(
        self,
        kvs: list[dict[str, Any]],
        busy: set[str],
        claimable: Callable[[dict[str, Any]], bool],
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """The claimable entries of ranks better than the cursor's (posted since, or
        their claim or hold ran out), best first.

        ``kvs`` is every entry of those ranks (the read was not cut short), so their
        order needs no sorted read, and a rank's entries are a whole cursor.
        """
        waiting = {_id(kv) for kv in kvs if _id(kv) not in busy and claimable(_record(kv))}
        if not waiting:
            return
        for rank in dict.fromkeys(self._rank_of(kv) for kv in kvs):  # key order: best first
            entries = sorted(
                (kv for kv in kvs if self._rank_of(kv) == rank),
                key=lambda kv: int(kv["create_revision"]),
            )
            self._cursor = (rank, tuple(_known(kv) for kv in entries))
            for kv in entries:
                if _id(kv) in waiting:
                    yield kv, _record(kv)

    # -- the cursor --------------------------------------------------------------------------

    def _follow(
        self,
        cursor: Cursor,
        first: list[tuple[str, int]],
        replies: list[dict[str, Any]],
        page: dict[str, Any] | None,
        busy: set[str],
        claimable: Callable[[dict[str, Any]], bool],
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """The cursor's entries, read by key a batch at a time, then the rank's next
        pages (the first of them already read when ``page`` is given)."""
        rank, known = cursor
        after = _last(known)  # the next page starts after every entry once known
        at = 0  # entries of ``known`` before ``at`` were read (and are still there)
        batch = first
        while batch:
            kept: list[tuple[str, int]] = []
            found = []
            for (key, created), reply in zip(batch, replies, strict=True):
                kvs = _kvs(reply)
                if not kvs or int(kvs[0]["create_revision"]) != created:
                    self._skipped += 1  # gone (or made anew: younger, found by a later page)
                    continue
                kept.append((key, created))
                if _id(kvs[0]) not in busy:  # busy ones are counted already
                    found.append(kvs[0])
            known = (*known[:at], *kept, *known[at + len(batch) :])
            at += len(kept)
            self._cursor = (rank, known)
            for kv in found:
                record = _record(kv)
                if claimable(record):
                    yield kv, record
                else:
                    self._skipped += 1
            batch = list(known[at : at + MAX_GETS])
            if batch:
                replies = self._txn([{"request_range": {"key": b64(key)}} for key, _ in batch])
        # Nothing claimable among the entries known: the rank's next pages, then worse ranks.
        yield from self._walk(rank, busy, claimable, known=known, after=after, page=page)

    def _walk(
        self,
        rank: str,
        busy: set[str],
        claimable: Callable[[dict[str, Any]], bool],
        *,
        known: tuple[tuple[str, int], ...] = (),
        after: int = 0,
        page: dict[str, Any] | None = None,
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Sorted pages of ``rank`` (entries created after revision ``after``; ``page``
        is the first when already read), then of each worse rank; the cursor follows
        the pages read."""
        while True:
            while True:
                if page is None:
                    page = self._txn([self._page(rank, after)])[0]
                kvs = _kvs(page)
                known = (*known, *(_known(kv) for kv in kvs))
                self._cursor = (rank, known)
                for kv in kvs:
                    if _id(kv) in busy:  # counted already
                        continue
                    record = _record(kv)
                    if claimable(record):
                        yield kv, record
                    else:
                        self._skipped += 1
                if not page.get("more") or not kvs:
                    break
                after, page = int(kvs[-1]["create_revision"]), None
            # Nothing claimable in this rank: the next one, if any.
            worse = _range(
                prefix_end(f"{self._open}{rank}/"),
                end=prefix_end(self._open),
                keys_only=True,
                limit=1,
            )
            found = _kvs(self._txn([worse])[0])
            if not found:
                return
            rank, known, after, page = self._rank_of(found[0]), (), 0, None

    def _page(self, rank: str, after: int) -> dict[str, Any]:
        """The oldest entries of ``rank`` created after revision ``after``, with values.

        The board writes at most one open entry per transaction, so no two entries
        share a create revision and a page ends where the next one starts.
        """
        request = _range(f"{self._open}{rank}/", limit=PAGE)
        request["request_range"].update(sort_target="CREATE", sort_order="ASCEND")
        if after:
            request["request_range"]["min_create_revision"] = after + 1
        return request

    # -- reading -----------------------------------------------------------------------------

    def _txn(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One read transaction: each request's range response."""
        reply = self._call("/kv/txn", {"compare": [], "success": requests, "failure": []})
        return [response["response_range"] for response in reply["responses"]]

    def _rank_of(self, kv: dict[str, Any]) -> str:
        return unb64(kv["key"])[len(self._open) :].split("/", 1)[0]


def _range(
    key: str, *, end: str | None = None, keys_only: bool = False, limit: int = 0
) -> dict[str, Any]:
    """A range of the keys from ``key`` to ``end`` (default: every key under ``key``)."""
    request: dict[str, Any] = {"key": b64(key), "range_end": b64(end or prefix_end(key))}
    if keys_only:
        request["keys_only"] = True
    if limit:
        request["limit"] = limit
    return {"request_range": request}


def _kvs(response: dict[str, Any]) -> list[dict[str, Any]]:
    kvs: list[dict[str, Any]] = response.get("kvs", [])
    return kvs


def _known(kv: dict[str, Any]) -> tuple[str, int]:
    """A cursor's record of an open entry: its key and create revision."""
    return unb64(kv["key"]), int(kv["create_revision"])


def _last(known: tuple[tuple[str, int], ...]) -> int:
    """The create revision of a cursor's youngest entry (0 for an empty cursor)."""
    return known[-1][1] if known else 0


def _id(kv: dict[str, Any]) -> str:
    return unb64(kv["key"]).rsplit("/", 1)[1]


def _record(kv: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(unb64(kv["value"]))
    return record
