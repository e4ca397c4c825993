"""A job board on etcd v3 (etcd3gw, through etcd's JSON gateway): claims are leased keys.

Keys under the board's prefix (``<url path>/<quoted board name>/``)::

    job/<id>              the job (JSON)
    open/<rank>/<id>      a copy of the job while it is UNCLAIMED or CLAIMED (written in
                          the same transactions as job/<id>): what claimers read;
                          ranks sort by priority, the entry's create revision by age
                          (see steadyflow.jobs._etcd_scan: a claim reads a few of
                          them, not the whole backlog)
    key/<key>             the id of the job posted with that idempotency key
    claim/<id>            the claim, on a lease of the claim's ttl
    hold/<id>             an abandon delay, on a lease of the delay
    revoke/<id>           a revoke request

Every change is one transaction (``/v3/kv/txn``): a claim puts ``claim/<id>`` with
its lease and rewrites the job, guarded on the job being as read (its open entry
exists with the mod revision read) and on ``claim/<id>`` and ``hold/<id>`` being
absent. The
claim key's create revision is the epoch: etcd's revision grows on every write,
so every claim of a job has a larger one. Complete, abandon and trash are each
one transaction guarded on ``claim/<id>`` still having the claim's create
revision; a claim that expired and was taken over has another, so the zombie's
transaction changes nothing. Renewal keeps the lease alive and checks, in one
read transaction, that the claim key is still the claim's.

Clocks: etcd keeps time only in leases, so that is where every expiry lives:
etcd deletes an unrenewed claim key when its lease runs out, and a held-back
job's hold key when its delay does. Lease ttls are whole seconds (rounded up;
at least etcd's minimum, 1 s with the election timeout .ci/services.sh sets)
and etcd sweeps expired leases every 0.5 s, so a claim without renewal lasts
at least the granted ttl and at most 0.5 s more: :attr:`Claim.ttl` is that
upper bound, and a conductor renewing every ttl/3 stays well inside the lower
one. ``expires_at`` and ``not_before`` shown on jobs are the claimer's estimates,
and ``created_at`` the poster's clock (etcd tells no time); nothing is decided on them.

Leases: each live claim has a lease of its own (renewing one claim never
keeps another alive, and revoking a lost claim's lease touches no other
claim), but a lease outlives its claim: once a claim is completed, abandoned
or trashed, its lease holds no key and goes to a pool of free leases of that
ttl. The next claim takes one from the pool and keeps it alive first (a
keep-alive restores the lease's full ttl, so the claim still lasts the whole
granted ttl from then), instead of granting a new one: a keep-alive is answered
by etcd's leader without a write to its log, a grant is a logged write. The
keep-alive (or grant, when the pool is empty) runs on a thread of the board
beside the claim's read of the open jobs, so it adds no round trip; a lease
prepared for a claim that finds nothing goes back to the pool. A free lease
nobody takes runs out by itself.

Requests: a post is one transaction; a claim is one read transaction beside
one lease keep-alive, then one transaction. The read holds the claim and hold
keys, the open entries of better ranks than the last claim's (busy ones only,
unless one became claimable) and the first few entries the board knows to be
the oldest of that rank, read by key: its size grows with live claims and
holds, not with the open jobs. When those are all the entries it knows, the
read also holds the rank's next sorted page (etcd sorts that from the whole
rank: once per ``_etcd_scan.PAGE`` claims when a conductor drains a backlog).
Further reads come only when all that is busy (more claims than the last
claim saw, or a whole rank busy).
Complete, abandon and trash are one transaction each (abandon with a delay
also grants the hold's lease).

Wake-ups: one watch on the board's prefix (a streamed ``/v3/watch``) wakes
waiting claimers on every change, including etcd deleting an expired claim or
hold key.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from steadyflow.errors import BackendUnavailableError, InvalidURLError, MissingDriverError
from steadyflow.jobs._etcd_leases import LeasePool
from steadyflow.jobs._etcd_scan import OpenScan, b64, prefix_end, unb64
from steadyflow.jobs._urls import seconds_options
from steadyflow.jobs.base import (
    Claim,
    Job,
    JobBoard,
    JobNotFoundError,
    JobState,
    finished,
    lost,
    running,
)

__all__ = ["EtcdBoard"]

DEFAULT_PREFIX = "/steadyflow/boards"
REQUEST_TIMEOUT = 10.0
#: etcd checks for expired leases this often (lessor's sweep, not configurable in 3.4).
LEASE_SWEEP = 0.5
_PRIORITY_LIMIT = 1 << 62


def _import_etcd3gw() -> tuple[Any, Any]:
    """etcd3gw's client class and exceptions module (``etcd3gw.client`` is also a function)."""
    try:
        client_module = importlib.import_module("etcd3gw.client")
        exceptions = importlib.import_module("etcd3gw.exceptions")
    except ImportError as exc:
        raise MissingDriverError(
            "the etcd job board needs etcd3gw: pip install 'steadyflow[etcd]'"
        ) from exc
    return client_module.Etcd3Client, exceptions


class EtcdBoard(JobBoard):
    """Jobs in etcd keys; claims are keys on leases whose create revision is the epoch.

    Open one with ``open_board("etcd://127.0.0.1:2379/prefix", name=...)`` or
    directly with ``EtcdBoard(name, host=..., port=..., prefix=...)``.
    """

    def __init__(
        self,
        name: str = "default",
        *,
        host: str = "127.0.0.1",
        port: int = 2379,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        super().__init__(name)
        client_class, self._errors = _import_etcd3gw()
        self.address = f"{host}:{port}"
        self.prefix = f"{prefix.rstrip('/')}/{quote(name, safe='')}/"
        self._client = client_class(host=host, port=port, timeout=timeout, api_path="/v3/")
        # Leases are prepared on a thread of their own, with a client (a session) of its own.
        self._lease_client = client_class(host=host, port=port, timeout=timeout, api_path="/v3/")
        for client in (self._client, self._lease_client):
            # etcd is reached directly at the given address: no proxy or .netrc lookup in
            # the environment on every request (half of requests' own cost per request).
            client.session.trust_env = False
        lease_client = self._lease_client
        self._pool = LeasePool(lambda path, payload: self._call(path, payload, lease_client))
        # Through self._call as it is at each request (tests count what a claim reads).
        self._scan = OpenScan(lambda path, payload: self._call(path, payload), self.prefix)
        self._changed = threading.Condition()
        self._version = 0
        self._local = threading.local()
        #: (job id, epoch) → the claim's lease id, the job record it wrote, the lease's ttl.
        self._leases: dict[tuple[str, int], tuple[int, dict[str, Any], int]] = {}
        self._call("/maintenance/status", {})
        self._watcher = _Watcher(self._client.base_url + "/v3/watch", self.prefix, self._bump)

    @classmethod
    def from_url(cls, url: str, *, name: str = "default", **options: Any) -> EtcdBoard:
        """``etcd://host:port/prefix`` (``?timeout=SECONDS`` for each request)."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "etcd" or not parts.hostname:
            raise InvalidURLError(
                f"an etcd board URL looks like 'etcd://host:port/prefix', not {url!r}"
            )
        for option, value in seconds_options(url, parts.query, "etcd", ("timeout",)).items():
            options.setdefault(option, value)
        prefix = unquote(parts.path).rstrip("/") or DEFAULT_PREFIX
        return cls(name, host=parts.hostname, port=parts.port or 2379, prefix=prefix, **options)

    # -- requests ----------------------------------------------------------------------------

    def _call(self, path: str, payload: dict[str, Any], client: Any = None) -> dict[str, Any]:
        client = client or self._client
        try:
            reply: dict[str, Any] = client.post(client.get_url(path), json=payload)
        except (self._errors.ConnectionFailedError, self._errors.ConnectionTimeoutError) as exc:
            raise BackendUnavailableError(f"etcd at {self.address}: {exc}") from exc
        except self._errors.Etcd3Exception as exc:
            raise BackendUnavailableError(f"etcd at {self.address} refused: {exc}") from exc
        return reply

    def _txn(
        self, compare: list[dict[str, Any]], success: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """One transaction: its reply when the guards held, else None."""
        reply = self._call("/kv/txn", {"compare": compare, "success": success, "failure": []})
        return reply if reply.get("succeeded") else None

    def _range(self, key: str, *, prefix: bool = False, keys_only: bool = False) -> list[Any]:
        payload: dict[str, Any] = {"key": b64(key)}
        if prefix:
            payload["range_end"] = b64(prefix_end(key))
        if keys_only:
            payload["keys_only"] = True
        kvs: list[Any] = self._call("/kv/range", payload).get("kvs", [])
        return kvs

    def _k(self, part: str, child: str) -> str:
        return f"{self.prefix}{part}/{child}"

    def _grant(self, seconds: float) -> tuple[int, int]:
        """A new lease of ``seconds`` rounded up to whole seconds: (id, ttl granted)."""
        reply = self._call("/lease/grant", {"TTL": max(1, math.ceil(seconds)), "ID": 0})
        return int(reply["ID"]), int(reply["TTL"])

    def _revoke_lease(self, lease: int) -> None:
        with contextlib.suppress(BackendUnavailableError):  # it runs out on its own anyway
            self._call("/kv/lease/revoke", {"ID": lease})

    # -- posting and reading -----------------------------------------------------------------

    def _post(self, job: Job) -> Job:
        if not -_PRIORITY_LIMIT < job.priority < _PRIORITY_LIMIT:
            raise ValueError(f"an etcd job priority must be within ±2**62, not {job.priority}")
        rank = f"{_PRIORITY_LIMIT - job.priority:020d}"
        record = {**job.to_dict(), "rank": rank}
        compare = []
        success = [
            _put(self._k("job", job.id), record),
            _put(self._k("open", f"{rank}/{job.id}"), record),
        ]
        if job.key is not None:
            key_key = self._k("key", quote(job.key, safe=""))
            compare.append(_absent(key_key))
            success.append(_put(key_key, job.id))
        for _ in range(3):
            if self._txn(compare, success) is not None:
                return job
            if job.key is None:  # nothing guards a keyless post: it cannot fail this way
                break
            found = self._range(self._k("key", quote(job.key, safe="")))
            if found:
                return self._get(unb64(found[0]["value"]))
        raise BackendUnavailableError(f"posting job {job.id} to etcd failed")

    def _get(self, job_id: str) -> Job:
        found = self._range(self._k("job", job_id))
        if not found:
            raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
        return self._snapshot(found[0])

    def _snapshot(self, kv: dict[str, Any]) -> Job:
        record = json.loads(unb64(kv["value"]))
        job_id = record["id"]
        record["created_at"] = record.get("created_at", 0.0)
        revoke = self._range(self._k("revoke", job_id))
        if revoke:
            record["revoke_reason"] = unb64(revoke[0]["value"])
        if record["state"] == JobState.CLAIMED.value:
            claim = self._range(self._k("claim", job_id))
            if claim:
                record["epoch"] = int(claim[0]["create_revision"])
                record["expires_at"] = json.loads(unb64(claim[0]["value"]))["expires_at"]
            else:
                record["expires_at"] = 0.0  # the lease ran out: the claim is over
        else:
            record["owner"] = record["expires_at"] = None
        if record["state"] == JobState.UNCLAIMED.value:
            hold = self._range(self._k("hold", job_id))
            if hold:
                record["not_before"] = float(unb64(hold[0]["value"]))
        return Job.from_dict(record)

    def _iter_jobs(self, state: JobState | None) -> Iterator[Job]:
        jobs = []
        for kv in self._range(self._k("job", ""), prefix=True):
            job = self._snapshot(kv)
            if state is None or job.state is state:
                rank = json.loads(unb64(kv["value"]))["rank"]
                jobs.append(((rank, int(kv["create_revision"])), job))
        return iter([job for _, job in sorted(jobs, key=lambda pair: pair[0])])

    # -- claiming ----------------------------------------------------------------------------

    def _try_claim(self, owner: str, ttl: float) -> Claim | None:
        # A change that lands while this scan runs must still wake the wait after it.
        self._local.seen = self._version
        # The claim's lease is made ready beside the read (no round trip of its own).
        preparing = self._pool.prepare(ttl)
        lease: tuple[int, int] | None = None
        asked = False  # once its result is asked for, the lease is this call's to dispose of
        try:
            for entry, record in self._candidates(owner):
                if lease is None:
                    asked = True
                    lease = preparing.result()
                try:
                    claim = self._take(owner, entry, record, lease)
                except BaseException:
                    # The take may have been applied with its answer lost: its claim key
                    # must not live on with the lease; revoking it deletes that key.
                    self._revoke_lease(lease[0])
                    lease = None
                    raise
                if claim is not None:
                    lease = None
                    return claim
            return None
        finally:
            if lease is not None:
                self._pool.release(lease)  # the takes failed whole: no key is on it
            elif not asked:
                preparing.add_done_callback(self._pool.release_unused)

    def _candidates(self, owner: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """The claimable open jobs, best first: (open entry, job record)."""
        return self._scan.candidates(lambda record: _claimable(record, owner))

    def _take(
        self, owner: str, entry: dict[str, Any], record: dict[str, Any], lease: tuple[int, int]
    ) -> Claim | None:
        job_id = record["id"]
        taken = {
            **record,
            "state": JobState.CLAIMED.value,
            "owner": owner,
            "claims": int(record["claims"]) + 1,
        }
        claim_key = self._k("claim", job_id)
        expires_at = time.time() + lease[1]
        reply = self._txn(
            [
                _same(unb64(entry["key"]), int(entry["mod_revision"])),
                _absent(claim_key),
                _absent(self._k("hold", job_id)),
            ],
            [
                _put(claim_key, {"owner": owner, "expires_at": expires_at}, lease=lease[0]),
                _put(self._k("job", job_id), taken),
                _put(unb64(entry["key"]), taken),
                {"request_range": {"key": b64(self._k("revoke", job_id))}},
            ],
        )
        if reply is None:
            return None
        epoch = int(reply["header"]["revision"])
        # While the claim lasts only its own transactions rewrite the job: keep the record.
        self._leases[(job_id, epoch)] = (lease[0], taken, lease[1])
        revoke = reply["responses"][3]["response_range"].get("kvs", [])
        if revoke:
            taken = {**taken, "revoke_reason": unb64(revoke[0]["value"])}
        job = Job.from_dict({**taken, "epoch": epoch, "expires_at": expires_at})
        return Claim(self, job, owner, epoch, lease[1] + LEASE_SWEEP, expires_at)

    # -- a claim's life ----------------------------------------------------------------------

    def _lease_of(self, claim: Claim) -> tuple[int, dict[str, Any], int]:
        try:
            return self._leases[(claim.job.id, claim.epoch)]
        except KeyError:
            raise lost(claim, "this board object did not make the claim") from None

    def _renew(self, claim: Claim) -> tuple[float, str | None]:
        lease, _, _ = self._lease_of(claim)
        reply = self._call("/lease/keepalive", {"ID": lease})
        left = int(reply.get("result", {}).get("TTL", 0))
        expires_at = time.time() + left
        # Keeping a lease alive proves nothing about the key: the same transaction that
        # records the new expiry checks the claim key is still this claim's.
        claim_key = self._k("claim", claim.job.id)
        checked = None
        if left > 0:
            checked = self._txn(
                [_created_at(claim_key, claim.epoch)],
                [
                    _put(claim_key, {"owner": claim.owner, "expires_at": expires_at}, lease=lease),
                    {"request_range": {"key": b64(self._k("revoke", claim.job.id))}},
                ],
            )
        if checked is None:
            self._forget(claim, lease)
            raise lost(claim, "its lease ran out, or the job changed hands")
        kvs = checked["responses"][1]["response_range"].get("kvs", [])
        return expires_at, unb64(kvs[0]["value"]) if kvs else None

    def _finish(self, claim: Claim, state: JobState, reason: str | None) -> str | None:
        changes: dict[str, Any] = {"state": state.value, "reason": reason}
        if state is not JobState.DONE:
            self._hand_over(claim, changes, delay=0.0)
            return None
        # A revoke request is its own key: the transaction also asserts its absence, so
        # a request stored since the last renewal makes it fail; then the job is handed
        # back for its revert instead, guarded on the request's key as read.
        revoke_key = self._k("revoke", claim.job.id)
        if self._hand_over(claim, changes, delay=0.0, guard=_absent(revoke_key), final=False):
            return None
        found = self._range(revoke_key)
        if not found:  # the transaction failed for another reason: the claim is lost
            self._hand_over(claim, changes, delay=0.0)
            return None
        reason_found = unb64(found[0]["value"])
        changes = {
            "state": JobState.UNCLAIMED.value,
            "reason": reason,
            "revoke_reason": reason_found,
        }
        guard = _same(revoke_key, int(found[0]["mod_revision"]))
        self._hand_over(claim, changes, delay=0.0, guard=guard)
        return reason_found

    def _abandon(self, claim: Claim, delay: float) -> None:
        self._hand_over(claim, {"state": JobState.UNCLAIMED.value}, delay=delay)

    def _hand_over(
        self,
        claim: Claim,
        changes: dict[str, Any],
        *,
        delay: float,
        guard: dict[str, Any] | None = None,
        final: bool = True,
    ) -> bool:
        """One transaction handing the job over; True when applied.

        ``guard`` is one more comparison the transaction needs; with ``final``
        False a failed transaction returns False (the claim is kept) instead of
        raising ClaimLostError.
        """
        lease, record, granted = self._lease_of(claim)
        job_id = claim.job.id
        updated = {**record, "owner": None, "expires_at": None, "epoch": claim.epoch, **changes}
        success = [
            {"request_delete_range": {"key": b64(self._k("claim", job_id))}},
            _put(self._k("job", job_id), updated),
        ]
        open_key = self._k("open", f"{record['rank']}/{job_id}")
        if changes["state"] == JobState.UNCLAIMED.value:
            success.append(_put(open_key, updated))
        else:
            success.append({"request_delete_range": {"key": b64(open_key)}})
        hold = self._grant(delay) if delay > 0 else None
        if hold is not None:
            not_before = str(time.time() + hold[1])
            success.append(_put(self._k("hold", job_id), not_before, lease=hold[0]))
        # The claim key's create revision is the claim: a takeover made another one.
        compare = [_created_at(self._k("claim", job_id), claim.epoch)]
        if guard is not None:
            compare.append(guard)
        reply = self._txn(compare, success)
        if reply is None and not final:
            return False
        if reply is None and self._already_handed_over(job_id, claim.epoch, changes):
            reply = {}
        self._forget(claim, lease if reply is None else None)
        if reply is not None:
            self._pool.release((lease, granted))  # it holds no key any more: reused
        if reply is None:
            if hold is not None:
                self._revoke_lease(hold[0])
            raise lost(claim, "its lease ran out, or the job changed hands")
        return True

    def _already_handed_over(self, job_id: str, epoch: int, changes: dict[str, Any]) -> bool:
        """Whether an earlier try of this very hand-over was applied (its answer lost with
        the connection): the job is in the state it asked for, stamped with its epoch."""
        found = self._range(self._k("job", job_id))
        if not found:
            return False
        record = json.loads(unb64(found[0]["value"]))
        return bool(record.get("epoch") == epoch and record["state"] == changes["state"])

    def _forget(self, claim: Claim, lease: int | None) -> None:
        self._leases.pop((claim.job.id, claim.epoch), None)
        if lease is not None:
            self._revoke_lease(lease)

    # -- revoking ----------------------------------------------------------------------------

    def _revoke(self, job_id: str, reason: str) -> Job:
        while True:
            found = self._range(self._k("job", job_id))
            if not found:
                raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
            record = json.loads(unb64(found[0]["value"]))
            state = JobState(record["state"])
            if state is JobState.TRASHED:
                return self._snapshot(found[0])
            success = [_put(self._k("revoke", job_id), reason)]
            open_key = self._k("open", f"{record['rank']}/{job_id}")
            if state is JobState.UNCLAIMED and int(record["claims"]) == 0:
                trashed = {**record, "state": "TRASHED", "reason": reason, "revoke_reason": reason}
                success += [
                    _put(self._k("job", job_id), trashed),
                    {"request_delete_range": {"key": b64(open_key)}},
                ]
            elif state is JobState.DONE:
                again = {**record, "state": "UNCLAIMED", "revoke_reason": reason}
                success += [_put(self._k("job", job_id), again), _put(open_key, again)]
            guard = [_same(self._k("job", job_id), int(found[0]["mod_revision"]))]
            if self._txn(guard, success) is not None:
                return self._get(job_id)

    # -- an operator's trash -----------------------------------------------------------------

    def _trash_job(self, job_id: str, reason: str) -> Job:
        while True:
            found = self._range(self._k("job", job_id))
            if not found:
                raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
            record = json.loads(unb64(found[0]["value"]))
            state = JobState(record["state"])
            if state is JobState.TRASHED:
                return self._snapshot(found[0])
            if state is JobState.DONE:
                raise finished(job_id, self.name)
            claim_key = self._k("claim", job_id)
            # A live claim is its key, on its lease: the transaction asserts its absence,
            # so a claim made (or a lapsed one renewed) since the read fails it.
            trashed = {
                **record,
                "state": JobState.TRASHED.value,
                "reason": reason,
                "owner": None,
                "expires_at": None,
            }
            open_key = self._k("open", f"{record['rank']}/{job_id}")
            reply = self._txn(
                [_same(self._k("job", job_id), int(found[0]["mod_revision"])), _absent(claim_key)],
                [
                    _put(self._k("job", job_id), trashed),
                    {"request_delete_range": {"key": b64(open_key)}},
                    {"request_delete_range": {"key": b64(self._k("hold", job_id))}},
                ],
            )
            if reply is not None:
                return self._get(job_id)
            if self._range(claim_key):
                raise running(job_id, record.get("owner"), self.name)

    # -- waiting and closing -----------------------------------------------------------------

    def _bump(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def _wait_for_change(self, timeout: float | None) -> bool:
        with self._changed:
            seen = getattr(self._local, "seen", None)
            self._local.seen = None
            if seen is None:
                seen = self._version
            return self._changed.wait_for(lambda: self._version != seen, timeout)

    def _close(self) -> None:
        self._watcher.stop()
        self._pool.close()
        self._client.session.close()
        self._lease_client.session.close()

    def destroy(self) -> None:
        """Delete the whole board (every job, key, claim and hold) from etcd."""
        self._call(
            "/kv/deleterange",
            {"key": b64(self.prefix), "range_end": b64(prefix_end(self.prefix))},
        )


class _Watcher:
    """A thread streaming etcd's watch of the board's prefix; calls ``on_change`` per event.

    The stream is re-opened after each quiet second (so :meth:`stop` takes
    effect) and after errors, from the revision after the last one seen, so no
    change is missed between two streams; every re-open also counts as a change.
    """

    def __init__(self, url: str, prefix: str, on_change: Any) -> None:
        import requests

        self._url = url
        self._prefix = prefix
        self._on_change = on_change
        self._session = requests.Session()
        self._session.trust_env = False  # etcd at the given address, not through a proxy
        self._stopped = threading.Event()
        self._revision: int | None = None
        self._thread = threading.Thread(target=self._run, name="etcd-board-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                try:
                    self._stream()
                except Exception:  # any failure: re-open after a pause, and wake waiters
                    self._on_change()
                    self._stopped.wait(0.2)
        finally:
            self._session.close()

    def _stream(self) -> None:
        request: dict[str, Any] = {
            "key": b64(self._prefix),
            "range_end": b64(prefix_end(self._prefix)),
        }
        if self._revision is not None:
            request["start_revision"] = self._revision + 1
        with self._session.post(
            self._url, json={"create_request": request}, stream=True, timeout=(2.0, 1.0)
        ) as reply:
            for line in reply.iter_lines():
                if self._stopped.is_set():
                    return
                if not line:
                    continue
                result = json.loads(line).get("result", {})
                header = result.get("header", {})
                if "revision" in header:
                    self._revision = max(self._revision or 0, int(header["revision"]))
                if result.get("events"):
                    self._revision = max(
                        self._revision or 0,
                        *(int(event["kv"]["mod_revision"]) for event in result["events"]),
                    )
                    self._on_change()

    def stop(self) -> None:
        # The thread sees the flag within a second (the stream's read timeout) and ends;
        # nothing waits for it.
        self._stopped.set()


def _claimable(record: dict[str, Any], owner: str) -> bool:
    """Whether a job whose claim and hold keys are absent can be claimed by ``owner``."""
    if record["state"] == JobState.UNCLAIMED.value:
        return True
    # A CLAIMED job without its claim key: the lease ran out. Never re-claimed by the
    # owner that let it lapse: it may still be working on it.
    return bool(record["state"] == JobState.CLAIMED.value and record.get("owner") != owner)


def _put(key: str, value: Any, *, lease: int | None = None) -> dict[str, Any]:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    request: dict[str, Any] = {"key": b64(key), "value": b64(text)}
    if lease is not None:
        request["lease"] = lease
    return {"request_put": request}


def _absent(key: str) -> dict[str, Any]:
    return {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": 0}


def _created_at(key: str, revision: int) -> dict[str, Any]:
    return {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": revision}


def _same(key: str, mod_revision: int) -> dict[str, Any]:
    return {"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision}
