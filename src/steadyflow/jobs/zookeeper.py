"""A job board on ZooKeeper (kazoo): claims fenced by the claim node's creation zxid.

Layout under the board's root (``<url path>/<quoted board name>``)::

    jobs/<id>        the job (JSON); its version changes only when the job changes hands
    keys/<key>       the id of the job posted with that idempotency key
    ready/<rank>     one entry per UNCLAIMED job; ranks sort by priority, then age
    held/<rank>      one entry per CLAIMED job (so expired claims are found without a scan)
    claims/<id>      the claim: an ephemeral node of the claimer's session
    revokes/<id>     a revoke request (kept apart so it never moves the job's version)
    clock            written by every post: its version orders posts (the rank's middle)
    now              written to read the service's clock (its mtime)

Every change of hands is one multi-op transaction guarded by the job node's
version: claiming creates the claim node, moves the rank from ready/ to held/
and rewrites the job, all at one zxid, so the claim node's czxid (the epoch)
grows on every claim. Renew, complete, abandon and trash are each one
transaction that checks the job node still has the version the claim left it
at: a takeover rewrote the job, so a zombie's transaction fails whole.

Clocks: a claim runs out ``ttl`` seconds after its claim node's mtime (set by
ZooKeeper when claimed or renewed); an abandon delay counts from the job node's
mtime. Whether a claim ran out is judged against the mtime of ``now`` just
written, so only ZooKeeper's clock is used, never the caller's.

Sessions: one ZooKeeper session per board object. Claim nodes are ephemeral,
so a claim ends at the earlier of ``ttl`` after its last renewal and the end
of the session (``session_timeout``, default 10 s, negotiated by the server
within its min/max): a SIGKILLed or SIGSTOPped conductor loses its claims
after the ttl even while its session lives on. While the session is
SUSPENDED (connection lost, session perhaps alive) :attr:`suspended` is True:
a conductor starts no new atoms until it clears. When the session is LOST its
claims are gone: ZooKeeper deleted them, and renewing raises ClaimLostError.

Wake-ups: watches on ``ready/`` and ``claims/`` wake waiting claimers when a
job is posted or handed back, or a claim node vanishes; a waiter also wakes at
the earliest claim expiry or abandon delay it saw. A watch is set again only
when needed (``_zk_watches.py``), so a board that posts and claims without
waiting pays no watch traffic.

Requests (each one round trip on the session's connection): a post is one
transaction, which writes ``clock`` on condition that its version is the one
this board saw last (after its own previous post); when another poster moved
it meanwhile, the transaction fails whole and the post reads the version
first (and does so for its next few posts too, so that several busy posters
do not keep guessing wrong). A claim reads ``ready/`` and ``held/`` in one
pipelined round trip, then the first candidate's job node (not even that for
a job this board object wrote last, guarded by the transaction's version
check), then commits one transaction; complete, abandon and trash are one
transaction each. ``complete_and_claim`` reads like a claim, then completes and
claims in one transaction (a failed guard in it falls back to the two steps).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from steadyflow.errors import BackendUnavailableError, InvalidURLError, MissingDriverError
from steadyflow.jobs._urls import seconds_options
from steadyflow.jobs._zk_watches import Watches
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

__all__ = ["ZooKeeperBoard"]

DEFAULT_ROOT = "/steadyflow/boards"
DEFAULT_SESSION_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0
#: Priorities are encoded in node names: they must fit in a signed 63-bit range.
_PRIORITY_LIMIT = 1 << 62
#: Posts that read the clock's version first after a guess of it was wrong.
_GUESS_PAUSE = 8
#: Unclaimed jobs a board object remembers as it wrote them (see ``_known``).
_KNOWN_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class _Stat:
    version: int
    czxid: int
    mzxid: int
    mtime: float
    ctime: float


@dataclass(slots=True)
class _Completing:
    """A completion riding along with a claim's scan (:meth:`ZooKeeperBoard._finish_and_claim`)."""

    claim: Claim
    done: bool = False
    """Whether the completion ran (alone, or in the transaction that took the next job)."""
    found: str | None = None
    """What the completion returned: the revoke reason of a job handed back for its revert."""


def _import_kazoo() -> Any:
    try:
        import kazoo.client
        import kazoo.exceptions
        import kazoo.protocol.states
    except ImportError as exc:
        raise MissingDriverError(
            "the ZooKeeper job board needs kazoo: pip install 'steadyflow[zookeeper]'"
        ) from exc
    return kazoo


class ZooKeeperBoard(JobBoard):
    """Jobs in ZooKeeper znodes; claims are ephemeral nodes whose czxid is the epoch.

    Open one with ``open_board("zookeeper://127.0.0.1:2181/path", name=...)``
    (``?session_timeout=SECONDS`` sets the session timeout) or directly with
    ``ZooKeeperBoard(name, hosts=..., root=...)``.
    """

    def __init__(
        self,
        name: str = "default",
        *,
        hosts: str = "127.0.0.1:2181",
        root: str = DEFAULT_ROOT,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        super().__init__(name)
        if not root.startswith("/"):
            raise ValueError(f"a ZooKeeper root must be an absolute path, not {root!r}")
        kazoo = _import_kazoo()
        self._errors = kazoo.exceptions
        self._states = kazoo.protocol.states.KazooState
        self.hosts = hosts
        self.root = f"{root.rstrip('/')}/{quote(name, safe='')}"
        self._suspended = threading.Event()
        self._sessions_lost = 0
        #: (job id, epoch) → (the job node's version after the claim, the job record,
        #: how many sessions were lost before it: a claim dies with its session).
        self._held: dict[tuple[str, int], tuple[int, dict[str, Any], int]] = {}
        #: Unclaimed jobs this board object wrote last: job id → (the job node's stat as
        #: written, the record). A claim of one skips reading it; the transaction's
        #: version check is what decides, and a stale entry only costs a re-read.
        self._known: dict[str, tuple[_Stat, dict[str, Any]]] = {}
        #: The clock node's version after this board's last post (the next post's guess).
        self._sequence: int | None = None
        self._guess_after = 0
        self._client = kazoo.client.KazooClient(
            hosts=hosts,
            timeout=session_timeout,
            connection_retry={"max_tries": -1, "delay": 0.05, "backoff": 2, "max_delay": 1.0},
        )
        self._watches = Watches(self._client, self.root)
        self._client.add_listener(self._on_state)
        try:
            self._client.start(timeout=connect_timeout)
        except Exception as exc:
            self._client.close()
            raise BackendUnavailableError(f"ZooKeeper at {hosts} did not answer: {exc}") from exc
        try:
            for part in ("jobs", "keys", "ready", "held", "claims", "revokes"):
                self._client.ensure_path(f"{self.root}/{part}")
            self._client.ensure_path(f"{self.root}/clock")
            self._client.ensure_path(f"{self.root}/now")
            self._watches.arm_all()
        except Exception:
            self._client.stop()
            self._client.close()
            raise

    @classmethod
    def from_url(cls, url: str, *, name: str = "default", **options: Any) -> ZooKeeperBoard:
        """``zookeeper://host:port[,host:port...]/root?session_timeout=SECONDS``."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "zookeeper" or not parts.netloc:
            raise InvalidURLError(
                f"a ZooKeeper board URL looks like 'zookeeper://host:port/path', not {url!r}"
            )
        found = seconds_options(url, parts.query, "ZooKeeper", ("session_timeout",))
        for option, value in found.items():
            options.setdefault(option, value)
        root = unquote(parts.path).rstrip("/") or DEFAULT_ROOT
        return cls(name, hosts=parts.netloc, root=root, **options)

    # -- session state -----------------------------------------------------------------------

    @property
    def suspended(self) -> bool:
        """True while the connection is lost and the session may or may not live on.

        A conductor starts no new atoms while it is True: its claims may be
        expiring and it cannot renew them. It clears when the connection comes back.
        """
        return self._suspended.is_set()

    @property
    def sessions_lost(self) -> int:
        """How many times this board's session ended (every claim it held was lost)."""
        return self._sessions_lost

    def _on_state(self, state: Any) -> None:
        if state == self._states.SUSPENDED:
            self._suspended.set()
            return
        self._suspended.clear()
        if state == self._states.LOST:
            self._sessions_lost += 1
        self._watches.session_changed()

    # -- paths and codecs --------------------------------------------------------------------

    def _path(self, part: str, child: str) -> str:
        return f"{self.root}/{part}/{child}"

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (self._errors.ConnectionLoss, self._errors.SessionExpiredError) as exc:
            raise BackendUnavailableError(f"ZooKeeper at {self.hosts}: {exc!r}") from exc
        except self._errors.OperationTimeoutError as exc:
            raise BackendUnavailableError(f"ZooKeeper at {self.hosts} timed out") from exc

    def _read(self, part: str, child: str) -> tuple[bytes, _Stat] | None:
        try:
            data, stat = self._call(self._client.get, self._path(part, child))
        except self._errors.NoNodeError:
            return None
        return data, _stat(stat)

    def _commit(self, build: Callable[[Any], None]) -> list[Any] | None:
        """Run one multi-op transaction; its results, or None when a guard failed."""
        transaction = self._client.transaction()
        build(transaction)
        results: list[Any] = self._call(transaction.commit)
        if any(isinstance(result, Exception) for result in results):
            return None
        return results

    def _now(self) -> float:
        """The service's clock: the mtime of the ``now`` node, written now."""
        stat = self._call(self._client.set, f"{self.root}/now", b"")
        return float(stat.mtime) / 1000.0

    # -- posting -----------------------------------------------------------------------------

    def _post(self, job: Job) -> Job:
        if not -_PRIORITY_LIMIT < job.priority < _PRIORITY_LIMIT:
            raise ValueError(f"a ZooKeeper job priority must be within ±2**62, not {job.priority}")
        for _ in range(3):
            if job.key is not None:
                existing = self._job_by_key(job.key)
                if existing is not None:
                    return existing
            created_at = self._post_once(job)
            if created_at is not None:
                return replace(job, created_at=created_at)
            if job.key is None:
                break
        raise BackendUnavailableError(f"posting job {job.id} to ZooKeeper failed")

    def _post_once(self, job: Job) -> float | None:
        """One transaction: the job, its ready entry and its key.

        Returns when ZooKeeper stored it (its clock), or None when the key was taken.
        """
        # The clock node's version orders posts: the rank sorts by priority, then by it.
        guess = self._sequence if self._guess_after == 0 else None
        self._guess_after = max(0, self._guess_after - 1)
        if guess is None:
            sequence = self._call(self._client.exists, f"{self.root}/clock").version
        else:
            sequence = guess
        rank = f"{_PRIORITY_LIMIT - job.priority:020d}-{sequence:012d}-{job.id}"
        record = {**job.to_dict(), "rank": rank, "delay": 0.0}

        def build(txn: Any) -> None:
            # A guess is checked by the write itself: another version fails it whole.
            txn.set_data(f"{self.root}/clock", b"", -1 if guess is None else guess)
            txn.create(self._path("jobs", job.id), _encode(record))
            txn.create(self._path("ready", rank), job.id.encode())
            if job.key is not None:
                txn.create(self._path("keys", _quote_key(job.key)), job.id.encode())

        transaction = self._client.transaction()
        build(transaction)
        results: list[Any] = self._call(transaction.commit)
        if isinstance(results[0], self._errors.BadVersionError):
            # Another post moved the clock since this board's last one: read it from now on
            # (for a few posts), and post this job again.
            self._sequence, self._guess_after = None, _GUESS_PAUSE
            return self._post_once(job)
        if any(isinstance(result, Exception) for result in results):
            return None
        written = _stat(results[0])  # the clock's stat: same transaction, same time
        self._sequence = written.version
        self._remember(job.id, _Stat(0, 0, 0, written.mtime, written.mtime), record)
        return written.mtime

    def _remember(self, job_id: str, stat: _Stat, record: dict[str, Any]) -> None:
        """Keep the unclaimed job as this board wrote it (bounded; oldest dropped first)."""
        if len(self._known) >= _KNOWN_LIMIT:
            with contextlib.suppress(RuntimeError, StopIteration, KeyError):  # other threads
                self._known.pop(next(iter(self._known)))
        self._known[job_id] = (stat, record)

    def _job_by_key(self, key: str) -> Job | None:
        found = self._read("keys", _quote_key(key))
        if found is None:
            return None
        return self._get(found[0].decode())

    # -- reading -----------------------------------------------------------------------------

    def _load(self, job_id: str) -> tuple[dict[str, Any], _Stat]:
        found = self._read("jobs", job_id)
        if found is None:
            raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
        return json.loads(found[0]), found[1]

    def _get(self, job_id: str) -> Job:
        record, stat = self._load(job_id)
        return self._snapshot(record, stat)

    def _snapshot(self, record: dict[str, Any], stat: _Stat) -> Job:
        job = Job.from_dict(record)
        revoke = self._read("revokes", job.id)
        not_before = stat.mtime + float(record.get("delay", 0.0)) if record.get("delay") else 0.0
        job = replace(
            job,
            created_at=stat.ctime,
            not_before=not_before,
            revoke_reason=job.revoke_reason if revoke is None else revoke[0].decode(),
        )
        if job.state is not JobState.CLAIMED:
            return replace(job, owner=None, expires_at=None)
        claim = self._read("claims", job.id)
        if claim is None:  # the claimer's session ended: the claim is over
            return replace(job, expires_at=stat.mtime)
        ttl = float(json.loads(claim[0])["ttl"])
        return replace(job, epoch=claim[1].czxid, expires_at=claim[1].mtime + ttl)

    def _iter_jobs(self, state: JobState | None) -> Iterator[Job]:
        jobs = []
        for job_id in self._call(self._client.get_children, f"{self.root}/jobs"):
            try:
                record, stat = self._load(job_id)
            except JobNotFoundError:
                continue
            if state is None or record["state"] == state.value:
                jobs.append((record["rank"], self._snapshot(record, stat)))
        return iter([job for _, job in sorted(jobs, key=lambda pair: pair[0])])

    # -- claiming ----------------------------------------------------------------------------

    def _try_claim(
        self, owner: str, ttl: float, completing: _Completing | None = None
    ) -> Claim | None:
        # Jobs whose claim node this scan saw (or raced for): the wait after it checks
        # that none vanished before it set its watch on claims/.
        busy = self._watches.begin_scan()
        # The job a completion riding along completes is ours, held on to: no candidate.
        ready, held = self._children(None if completing is None else completing.claim.job.id)
        candidates = sorted([(rank, True) for rank in ready] + [(rank, False) for rank in held])
        now: float | None = None
        soonest: float | None = None
        for rank, is_ready in candidates:
            job_id = rank.rsplit("-", 1)[1]
            known = self._known.pop(job_id, None) if is_ready else None
            try:
                record, stat = self._load(job_id) if known is None else (known[1], known[0])
            except JobNotFoundError:
                continue
            claim_node = None if is_ready else self._read("claims", job_id)
            due = self._due(record, stat, claim_node, is_ready)
            if due is not None:
                now = self._now() if now is None else now
                if due > now:
                    if due != float("inf"):
                        soonest = due if soonest is None else min(soonest, due)
                    if claim_node is not None:
                        busy.add(job_id)
                    continue
            if not is_ready and record.get("owner") == owner:
                continue  # never re-claim what this owner let lapse: it may still be at it
            claim = self._take(owner, ttl, rank, record, stat, claim_node, completing)
            if claim is None and known is not None:
                # Written by this board, but changed since: read it as it is, once.
                try:
                    record, stat = self._load(job_id)
                except JobNotFoundError:
                    continue
                if self._due(record, stat, None, True) is None:
                    claim = self._take(owner, ttl, rank, record, stat, None)
            if claim is not None:
                return claim
            busy.add(job_id)
        self._watches.expect_change_by(
            None if soonest is None else time.monotonic() + (soonest - (now or 0))
        )
        return None

    def _children(self, unheld: str | None = None) -> tuple[list[str], list[str]]:
        """The ranks in ready/ and in held/, read in one pipelined round trip.

        The read of ready/ sets its watch (a post or hand-back after it wakes the
        wait that follows); held/ is read without one, and without job ``unheld``.
        """
        read_ready, mark = self._watches.read_ready()
        read_held = self._client.get_children_async(f"{self.root}/held")
        ready, held = self._call(read_ready.get), self._call(read_held.get)
        self._watches.ready_read(mark)
        suffix = f"-{unheld}"
        return list(ready), [rank for rank in held if unheld is None or not rank.endswith(suffix)]

    @staticmethod
    def _due(
        record: dict[str, Any], stat: _Stat, claim_node: tuple[bytes, _Stat] | None, ready: bool
    ) -> float | None:
        """When (service clock) the job becomes claimable; None when it is already."""
        if ready:
            if record["state"] != JobState.UNCLAIMED.value:
                return float("inf")  # a stale entry: never claimable through it
            delay = float(record.get("delay") or 0.0)
            return stat.mtime + delay if delay > 0 else None
        if record["state"] != JobState.CLAIMED.value:
            return float("inf")
        if claim_node is None:
            return None  # the claimer's session ended: its claim is over
        return claim_node[1].mtime + float(json.loads(claim_node[0])["ttl"])

    def _take(
        self,
        owner: str,
        ttl: float,
        rank: str,
        record: dict[str, Any],
        stat: _Stat,
        claim_node: tuple[bytes, _Stat] | None,
        completing: _Completing | None = None,
    ) -> Claim | None:
        """Claim the job; with a pending completion, in the same transaction as it."""
        build, taken = self._take_ops(owner, ttl, rank, record, stat, claim_node)
        results = None
        if completing is not None and not completing.done:
            results = self._commit_completing(completing, build)
        if results is None:
            results = self._commit(build)
        return None if results is None else self._taken(owner, ttl, record, stat, taken, results)

    def _take_ops(
        self,
        owner: str,
        ttl: float,
        rank: str,
        record: dict[str, Any],
        stat: _Stat,
        claim_node: tuple[bytes, _Stat] | None,
    ) -> tuple[Callable[[Any], None], dict[str, Any]]:
        """The operations of a claim's transaction (the job's write last), and the record
        they write."""
        job_id = record["id"]
        job_path, claim_path = self._path("jobs", job_id), self._path("claims", job_id)
        taken = {
            **record,
            "state": JobState.CLAIMED.value,
            "owner": owner,
            "claims": int(record["claims"]) + 1,
            "delay": 0.0,
        }
        from_ready = record["state"] == JobState.UNCLAIMED.value

        def build(txn: Any) -> None:
            txn.check(job_path, stat.version)
            if from_ready:
                txn.delete(self._path("ready", rank))
                txn.create(self._path("held", rank), job_id.encode())
            elif claim_node is not None:
                txn.delete(claim_path, claim_node[1].version)
            txn.create(claim_path, _encode({"owner": owner, "ttl": ttl}), ephemeral=True)
            txn.set_data(job_path, _encode(taken))

        return build, taken

    def _taken(
        self,
        owner: str,
        ttl: float,
        record: dict[str, Any],
        stat: _Stat,
        taken: dict[str, Any],
        results: list[Any],
    ) -> Claim:
        """The claim a committed transaction of :meth:`_take_ops` (last in it) made."""
        job_id = record["id"]
        from_ready = record["state"] == JobState.UNCLAIMED.value
        written = _stat(results[-1])
        expires_at = written.mtime + ttl
        self._held[(job_id, written.mzxid)] = (written.version, taken, self._sessions_lost)
        job = replace(
            self._snapshot_without_reads(taken, stat),
            epoch=written.mzxid,
            expires_at=expires_at,
            # A revoke while the job was claimed is only in revokes/ (it must not move the
            # job's version); any other revoke is in the record too.
            revoke_reason=(
                record.get("revoke_reason") if from_ready else self._revoke_reason(job_id, record)
            ),
        )
        return Claim(self, job, owner, written.mzxid, ttl, expires_at)

    def _finish_and_claim(self, claim: Claim) -> tuple[str | None, Claim | None]:
        """Complete ``claim`` and claim the next job, in one transaction when it can.

        The scan for the next job runs first (it only reads); the first job it
        would take is taken in the transaction that completes ``claim``. When
        that transaction fails, on any of its guards, nothing was applied: the
        completion then runs alone, as :meth:`_finish` does (raising
        ClaimLostError when the claim was lost), and the scan goes on with
        plain claims. With nothing to claim, the completion runs alone.
        """
        completing = _Completing(claim)
        following = self._try_claim(claim.owner, claim._asked_ttl, completing)
        if not completing.done:
            completing.found = self._finish(claim, JobState.DONE, None)
        return completing.found, following

    def _commit_completing(
        self, completing: _Completing, take: Callable[[Any], None]
    ) -> list[Any] | None:
        """Commit ``take`` in one transaction with the completion riding along.

        The results when applied. Else nothing was: the completion then runs
        alone (as _finish does, raising ClaimLostError when the claim was lost)
        and None is returned, for the take to be committed alone.
        """
        claim = completing.claim
        version, held = self._holding(claim)
        # As _finish's first try: DONE, guarded on no revoke request being stored.
        finish, _ = self._hand_over_ops(
            claim,
            version,
            held,
            {"state": JobState.DONE.value, "reason": None},
            requeue=False,
            absent=self._path("revokes", claim.job.id),
        )

        def build(txn: Any) -> None:
            finish(txn)
            take(txn)

        results = self._commit(build)
        completing.done = True
        if results is None:
            completing.found = self._finish(claim, JobState.DONE, None)
            return None
        self._held.pop((claim.job.id, claim.epoch), None)
        return results

    @staticmethod
    def _snapshot_without_reads(record: dict[str, Any], stat: _Stat) -> Job:
        return replace(Job.from_dict(record), created_at=stat.ctime, not_before=0.0)

    def _revoke_reason(self, job_id: str, record: dict[str, Any]) -> str | None:
        revoke = self._read("revokes", job_id)
        return record.get("revoke_reason") if revoke is None else revoke[0].decode()

    # -- a claim's life ----------------------------------------------------------------------

    def _holding(self, claim: Claim) -> tuple[int, dict[str, Any]]:
        try:
            version, record, sessions_lost = self._held[(claim.job.id, claim.epoch)]
        except KeyError:
            raise lost(claim, "this board object did not make the claim") from None
        if sessions_lost != self._sessions_lost:
            self._held.pop((claim.job.id, claim.epoch), None)
            raise lost(claim, "the ZooKeeper session that held it ended")
        return version, record

    def _renew(self, claim: Claim) -> tuple[float, str | None]:
        version, record = self._holding(claim)
        job_path, claim_path = self._path("jobs", claim.job.id), self._path("claims", claim.job.id)

        def build(txn: Any) -> None:
            txn.check(job_path, version)
            txn.set_data(claim_path, _encode({"owner": claim.owner, "ttl": claim.ttl}))

        results = self._commit(build)
        if results is None:
            self._held.pop((claim.job.id, claim.epoch), None)
            raise lost(claim, "the job changed hands, or the claimer's session ended")
        expires_at = _stat(results[-1]).mtime + claim.ttl
        return expires_at, self._revoke_reason(claim.job.id, record)

    def _finish(self, claim: Claim, state: JobState, reason: str | None) -> str | None:
        changes: dict[str, Any] = {"state": state.value, "reason": reason}
        if state is not JobState.DONE:
            self._hand_over(claim, changes, requeue=False)
            return None
        # A revoke request lives in revokes/ and does not move the job's version: the
        # transaction also asserts its absence (creating and deleting the node), so a
        # request stored since the last renewal makes it fail; then the job is handed
        # back for its revert instead, guarded on the request's node as read.
        revoke_path = self._path("revokes", claim.job.id)
        if self._hand_over(claim, changes, requeue=False, absent=revoke_path, final=False):
            return None
        revoke = self._read("revokes", claim.job.id)
        if revoke is None:  # the transaction failed for another reason: the claim is lost
            self._hand_over(claim, changes, requeue=False)
            return None
        found = revoke[0].decode()
        changes = {"state": JobState.UNCLAIMED.value, "reason": reason, "revoke_reason": found}
        self._hand_over(claim, changes, requeue=True, present=(revoke_path, revoke[1].version))
        return found

    def _abandon(self, claim: Claim, delay: float) -> None:
        self._hand_over(claim, {"state": JobState.UNCLAIMED.value, "delay": delay}, requeue=True)

    def _hand_over(
        self,
        claim: Claim,
        changes: dict[str, Any],
        *,
        requeue: bool,
        absent: str | None = None,
        present: tuple[str, int] | None = None,
        final: bool = True,
    ) -> bool:
        """One transaction handing the job over; True when applied.

        ``absent``/``present`` add guards on a node's absence or version; with
        ``final`` False a failed transaction returns False (the claim is kept)
        instead of raising ClaimLostError.
        """
        version, record = self._holding(claim)
        job_id = claim.job.id
        build, updated = self._hand_over_ops(
            claim, version, record, changes, requeue=requeue, absent=absent, present=present
        )
        results = self._commit(build)
        if results is None and not final:
            return False
        self._held.pop((job_id, claim.epoch), None)
        if results is not None and requeue:
            self._remember(job_id, _stat(results[-1]), updated)
        if results is None and not self._already_handed_over(job_id, claim.epoch, changes):
            raise lost(claim, "the job changed hands, or the claimer's session ended")
        return True

    def _hand_over_ops(
        self,
        claim: Claim,
        version: int,
        record: dict[str, Any],
        changes: dict[str, Any],
        *,
        requeue: bool,
        absent: str | None = None,
        present: tuple[str, int] | None = None,
    ) -> tuple[Callable[[Any], None], dict[str, Any]]:
        """The operations of a hand-over's transaction (the job's write last), and the
        record they write."""
        job_id = claim.job.id
        rank = record["rank"]
        updated = {**record, "owner": None, "expires_at": None, "epoch": claim.epoch, "delay": 0.0}
        updated.update(changes)

        def build(txn: Any) -> None:
            txn.check(self._path("jobs", job_id), version)
            if absent is not None:
                txn.create(absent, b"")
                txn.delete(absent)
            if present is not None:
                txn.check(*present)
            txn.delete(self._path("claims", job_id))
            txn.delete(self._path("held", rank))
            if requeue:
                txn.create(self._path("ready", rank), job_id.encode())
            txn.set_data(self._path("jobs", job_id), _encode(updated))

        return build, updated

    def _already_handed_over(self, job_id: str, epoch: int, changes: dict[str, Any]) -> bool:
        """Whether an earlier try of this very hand-over was applied (its answer lost with
        the connection): the job is in the state it asked for, stamped with its epoch."""
        try:
            record, _ = self._load(job_id)
        except JobNotFoundError:
            return False
        return bool(record.get("epoch") == epoch and record["state"] == changes["state"])

    # -- revoking ----------------------------------------------------------------------------

    def _revoke(self, job_id: str, reason: str) -> Job:
        self._known.pop(job_id, None)
        while True:
            record, stat = self._load(job_id)
            if record["state"] == JobState.TRASHED.value:
                return self._snapshot(record, stat)
            if self._revoke_once(record, stat, reason):
                return self._get(job_id)

    def _revoke_once(self, record: dict[str, Any], stat: _Stat, reason: str) -> bool:
        """Store the revoke request, and move an unclaimed or done job, in one transaction."""
        job_id, state = record["id"], JobState(record["state"])
        revoke_path = self._path("revokes", job_id)
        has_revoke = self._call(self._client.exists, revoke_path) is not None
        changed: dict[str, Any] | None = None
        if state is JobState.UNCLAIMED and int(record["claims"]) == 0:
            changed = {"state": JobState.TRASHED.value, "reason": reason}
        elif state is JobState.DONE:
            changed = {"state": JobState.UNCLAIMED.value, "delay": 0.0}
        elif state is JobState.UNCLAIMED:
            changed = {}  # handed back earlier: its next claimer reverts it

        def build(txn: Any) -> None:
            if has_revoke:
                txn.set_data(revoke_path, reason.encode())
            else:
                txn.create(revoke_path, reason.encode())
            job_path, ready_path = self._path("jobs", job_id), self._path("ready", record["rank"])
            # Guarded on the job as read, even when only the request is stored: a job
            # completed meanwhile must be seen DONE (and requeued) on the next try.
            txn.check(job_path, stat.version)
            if changed is None:
                return  # a claimed job's version must not move: its owner's claim stays good
            if changed.get("state") == JobState.TRASHED.value:
                txn.delete(ready_path)
            elif state is JobState.DONE:
                txn.create(ready_path, job_id.encode())
            txn.set_data(job_path, _encode({**record, **changed, "revoke_reason": reason}))

        return self._commit(build) is not None

    # -- an operator's trash -----------------------------------------------------------------

    def _trash_job(self, job_id: str, reason: str) -> Job:
        self._known.pop(job_id, None)
        while True:
            record, stat = self._load(job_id)
            state = JobState(record["state"])
            if state is JobState.TRASHED:
                return self._snapshot(record, stat)
            if state is JobState.DONE:
                raise finished(job_id, self.name)
            claim_node = None
            if state is JobState.CLAIMED:
                claim_node = self._read("claims", job_id)
                due = self._due(record, stat, claim_node, ready=False)
                if due is not None and due > self._now():
                    raise running(job_id, record.get("owner"), self.name)
            if self._trash_once(record, stat, claim_node, reason):
                return self._get(job_id)

    def _trash_once(
        self,
        record: dict[str, Any],
        stat: _Stat,
        claim_node: tuple[bytes, _Stat] | None,
        reason: str,
    ) -> bool:
        """Trash the job as read, in one transaction guarded on the job's version and, for
        a lapsed claim, on its claim node's (a renewal since the read fails it)."""
        job_id, rank = record["id"], record["rank"]
        trashed = {
            **record,
            "state": JobState.TRASHED.value,
            "reason": reason,
            "owner": None,
            "expires_at": None,
            "delay": 0.0,
        }

        def build(txn: Any) -> None:
            txn.check(self._path("jobs", job_id), stat.version)
            if record["state"] == JobState.UNCLAIMED.value:
                txn.delete(self._path("ready", rank))
            else:
                if claim_node is not None:
                    txn.delete(self._path("claims", job_id), claim_node[1].version)
                txn.delete(self._path("held", rank))
            txn.set_data(self._path("jobs", job_id), _encode(trashed))

        return self._commit(build) is not None

    # -- waiting and closing -----------------------------------------------------------------

    def _wait_for_change(self, timeout: float | None) -> bool:
        return self._watches.wait(timeout)

    def _close(self) -> None:
        try:
            self._client.stop()
        finally:
            self._client.close()

    def destroy(self) -> None:
        """Delete the whole board (every job, key and claim) from ZooKeeper."""
        self._call(self._client.delete, self.root, recursive=True)


def _stat(stat: Any) -> _Stat:
    return _Stat(
        version=int(stat.version),
        czxid=int(stat.czxid),
        mzxid=int(stat.mzxid),
        mtime=float(stat.mtime) / 1000.0,
        ctime=float(stat.ctime) / 1000.0,
    )


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def _quote_key(key: str) -> str:
    # A key may hold "/" or be "." or "..": quote it into one safe node name.
    return "k" + quote(key, safe="")
