"""A job board on Redis (redis-py): every change of state is one Lua script, atomic on the server.

Layout: every key of a board named ``N`` starts with ``steadyflow:board:{N}:``
(the braces are a Redis Cluster hash tag: a board's keys share one slot, so
each script may touch them all). Per job, a hash ``job:<id>`` holds its fixed
fields as JSON (``doc``) beside its changing ones (state, owner, expiry,
epoch, claim count, ...). Sorted sets index them: ``ready`` (unclaimed and
claimable, by priority then age), ``delayed`` (abandoned with a delay, by the
time they become claimable), ``claimed`` (by claim expiry) and ``all`` (every
job in claim order, for :meth:`~steadyflow.jobs.JobBoard.iter_jobs`); a hash
``keys`` maps idempotency keys to job ids; ``layout`` records the version of
this layout (:data:`LAYOUT`), and a board laid out by a newer steadyflow is
refused with :class:`~steadyflow.errors.SchemaVersionError`.

Guarantees, beyond :class:`~steadyflow.jobs.JobBoard`'s:

* Each of post, claim, renew, complete, abandon, trash and revoke is one
  script (``redis_lua/*.lua``, loaded with ``register_script``), so no other
  client sees a half-made change and no check is separated from its write.
* The epoch is a field of the job's hash that the claim script raises by one
  as it claims: it grows on every claim of the job. Renew, complete, abandon
  and trash check the state, the epoch and the owner in the same script that
  writes.
* Expiries, abandon delays and creation times come from Redis's ``TIME``,
  never from the caller's clock.
* Waiting claimers are woken by pub/sub on the board's channel within
  milliseconds of a post, a hand-back or a revoke, and at the next claim
  expiry or abandon delay end; there is no polling loop.

Scripts reach a job's hash through the board's key prefix rather than a
declared key, which a standalone server allows; on Redis Cluster every key of
a board hashes to one slot (the tag), but Cluster is untested. Tested against
a standalone Redis 7.0.

Availability: a connection error (server down, restarting, unreachable)
surfaces as :class:`~steadyflow.errors.BackendUnavailableError` and the board
stays usable: the next call connects afresh. Commands are never retried
behind the caller's back, since a script whose reply was lost may have run.

Durability is Redis's: a server that keeps nothing on disk (``save ""`` and
``appendonly no``) loses every board when it restarts. Run the board on a
Redis with ``appendonly yes`` (and ``appendfsync always`` to lose not even
the last second's claims) when jobs must survive a restart of the server.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from typing import Any, TypeVar

from steadyflow.errors import (
    BackendUnavailableError,
    InvalidURLError,
    MissingDriverError,
    SchemaVersionError,
)
from steadyflow.jobs._redis_link import ScriptRunner, Wakeup
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
from steadyflow.persistence._urls import mask_url

try:
    import redis
    import redis.exceptions
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise MissingDriverError(
        f"the Redis job board needs redis-py ({exc.name or 'redis'} is missing): "
        "pip install 'steadyflow[redis]'"
    ) from exc

__all__ = ["LAYOUT", "RedisBoard"]

#: Version of the board's key layout and scripts, stored in ``...:layout``.
LAYOUT = "1"

_SCRIPTS = ("post", "claim", "renew", "finish", "abandon", "revoke", "trash", "deadline")
#: Scripts made of others (their sources spliced in where ``--@name`` lines stand).
_COMPOSED = {"finish_claim": ("finish", "claim")}
_MICROS = 1_000_000
#: A rank is the post's sequence number in 16 digits, a colon, then the job id.
_RANK_PREFIX = 17
#: Scores are doubles: priorities beyond this would lose their order.
_MAX_PRIORITY = 2**53 - 1
_T = TypeVar("_T")
#: The fields of a job's hash that make a Job, in the order the scripts return them.
_ROW = (
    "doc",
    "rank",
    "created_at",
    "state",
    "reason",
    "claims",
    "owner",
    "expires_at",
    "epoch",
    "not_before",
    "revoke_reason",
)
#: Compact JSON for the fixed fields (arguments and store were checked by JobBoard.post).
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_FIXED = ("name", "flow_id", "factory", "arguments", "store", "priority", "key")


def _load_scripts() -> dict[str, str]:
    folder = resources.files("steadyflow.jobs").joinpath("redis_lua")
    scripts = {name: folder.joinpath(f"{name}.lua").read_text("utf-8") for name in _SCRIPTS}
    # Each step's logic lives in one file only, whatever script runs it.
    for name, parts in _COMPOSED.items():
        text = folder.joinpath(f"{name}.lua").read_text("utf-8")
        for part in parts:
            marker = f"--@{part}\n"
            if marker not in text:
                raise RuntimeError(f"redis_lua/{name}.lua lacks its {marker.strip()} line")
            text = text.replace(marker, scripts[part], 1)
        scripts[name] = text
    return scripts


class RedisBoard(JobBoard):
    """Jobs in Redis hashes and sorted sets, changed only by Lua scripts; see the module doc.

    Args:
        client: a ``redis.Redis`` client (any ``decode_responses`` setting).
        name: the board's name; boards with different names share nothing.
        where: how error messages name the server (default: from the client).
    """

    def __init__(self, client: redis.Redis, *, name: str = "default", where: str = "") -> None:
        super().__init__(name)
        if "{" in name or "}" in name:
            raise ValueError(f"a Redis board name may not contain braces, not {name!r}")
        self._client = client
        self._where = where or _describe(client)
        self._prefix = f"steadyflow:board:{{{name}}}:"
        self._job_prefix = self._prefix + "job:"
        self._ready = self._prefix + "ready"
        self._delayed = self._prefix + "delayed"
        self._claimed = self._prefix + "claimed"
        self._all = self._prefix + "all"
        self._keys = self._prefix + "keys"
        self._seq = self._prefix + "seq"
        self.channel = self._prefix + "events"
        self._layout_key = self._prefix + "layout"
        self._layout_checked = False
        self._scripts = ScriptRunner(client, _load_scripts(), self._unavailable)
        self._wakeup = Wakeup(
            client, self.channel, self.earliest_deadline, f"steadyflow-redis-board-{name}"
        )

    @classmethod
    def from_url(cls, url: str, *, name: str = "default", **options: Any) -> RedisBoard:
        """Open the board ``name`` on the Redis server ``url`` names (``redis://``, ``rediss://``).

        ``options`` go to ``redis.Redis.from_url`` (``socket_timeout``, ...);
        connections time out after 2 s and commands after 10 s unless told otherwise.
        """
        options.setdefault("socket_connect_timeout", 2.0)
        options.setdefault("socket_timeout", 10.0)
        options.setdefault("decode_responses", True)
        # A script whose reply was lost may have run: sending it again could claim or
        # post twice. So a broken connection is reported, never silently re-sent; the
        # pool still connects afresh on the next call.
        options.setdefault("retry", Retry(NoBackoff(), 0))
        try:
            client = redis.Redis.from_url(url, **options)
        except ValueError as exc:
            raise InvalidURLError(f"not a Redis URL: {mask_url(url)!r}: {exc}") from exc
        return cls(client, name=name, where=mask_url(url))

    # -- the primitives ------------------------------------------------------------------

    def _post(self, job: Job) -> Job:
        if abs(job.priority) > _MAX_PRIORITY:
            raise ValueError(f"a Redis board's priorities are within ±2**53, not {job.priority}")
        doc = _ENCODER.encode({field: getattr(job, field) for field in _FIXED})
        reply = self._run(
            "post",
            [self._keys, self._seq, self._ready, self._all],
            [self._job_prefix, job.id, job.key or "", doc, str(-job.priority), self.channel],
        )
        created, *row = reply
        if int(created):
            # The job was made a moment ago by JobBoard.post and nobody else holds it yet:
            # give it the server's creation time in place (dataclasses.replace costs a
            # tenth of a whole post).
            object.__setattr__(job, "created_at", _seconds(row[0]))
            return job
        return self._job(job.key or job.id, row)

    def _get(self, job_id: str) -> Job:
        if not self._layout_checked:
            self._check_layout()
        row = self._call(lambda: self._client.hmget(self._job_prefix + job_id, _ROW))
        return self._job(job_id, _decoded(row))

    def _iter_jobs(self, state: JobState | None) -> Iterator[Job]:
        if not self._layout_checked:
            self._check_layout()
        ranks = self._call(lambda: self._client.zrange(self._all, 0, -1))
        ids = [_id_of(_text(rank)) for rank in ranks]
        jobs: list[Job] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self._call(functools.partial(self._rows, chunk))
            for job_id, row in zip(chunk, rows, strict=True):
                if row[0] is None:
                    continue  # deleted after the index was read
                job = self._job(job_id, _decoded(row))
                if state is None or job.state is state:
                    jobs.append(job)
        return iter(jobs)

    def _rows(self, ids: Sequence[str]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(self._job_prefix + job_id, _ROW)
        return list(pipe.execute())

    def _try_claim(self, owner: str, ttl: float) -> Claim | None:
        self._wakeup.note_attempt()
        reply = self._run(
            "claim",
            [self._ready, self._delayed, self._claimed],
            [self._job_prefix, owner, _us(ttl)],
        )
        if not reply:
            return None
        job = self._job("?", reply)
        assert job.expires_at is not None
        return Claim(self, job, owner, job.epoch, ttl, job.expires_at)

    def _renew(self, claim: Claim) -> tuple[float, str | None]:
        reply = self._run(
            "renew",
            [self._job_prefix + claim.job.id, self._claimed],
            [claim.job.id, str(claim.epoch), claim.owner, _us(claim.ttl)],
        )
        self._check_current(claim, reply)
        return _seconds(reply[1]), (_text(reply[2]) or None)

    def _finish(self, claim: Claim, state: JobState, reason: str | None) -> str | None:
        reply = self._run(
            "finish",
            [self._job_prefix + claim.job.id, self._claimed, self._ready],
            [claim.job.id, str(claim.epoch), claim.owner, state.value, reason or "", self.channel],
        )
        self._check_current(claim, reply)
        return _text(reply[1]) or None

    def _finish_and_claim(self, claim: Claim) -> tuple[str | None, Claim | None]:
        self._wakeup.note_attempt()
        job_id = claim.job.id
        ended, following = self._run(
            "finish_claim",
            (self._job_prefix + job_id, self._claimed, self._ready, self._delayed),
            (job_id, str(claim.epoch), claim.owner, self.channel, self._job_prefix, _us(claim.ttl)),
        )
        self._check_current(claim, ended)
        found = _text(ended[1]) or None
        if not following:
            return found, None
        job = self._job("?", following)
        assert job.expires_at is not None
        return found, Claim(self, job, claim.owner, job.epoch, claim.ttl, job.expires_at)

    def _abandon(self, claim: Claim, delay: float) -> None:
        reply = self._run(
            "abandon",
            [self._job_prefix + claim.job.id, self._claimed, self._ready, self._delayed],
            [claim.job.id, str(claim.epoch), claim.owner, _us(delay), self.channel],
        )
        self._check_current(claim, reply)

    def _revoke(self, job_id: str, reason: str) -> Job:
        reply = self._run(
            "revoke",
            [self._job_prefix + job_id, self._ready, self._delayed],
            [job_id, reason, self.channel],
        )
        if not reply:
            raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
        return self._job(job_id, reply)

    def _trash_job(self, job_id: str, reason: str) -> Job:
        reply = self._run(
            "trash",
            [self._job_prefix + job_id, self._ready, self._delayed, self._claimed],
            [job_id, reason],
        )
        if not reply:
            raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
        verdict, *row = reply
        job = self._job(job_id, row)
        if _text(verdict) == "done":
            raise finished(job_id, self.name)
        if _text(verdict) == "running":
            raise running(job_id, job.owner, self.name)
        return job

    def _wait_for_change(self, timeout: float | None) -> bool:
        return self._wakeup.wait(timeout)

    def _close(self) -> None:
        self._wakeup.stop()
        self._scripts.close()
        self._client.close()

    # -- beyond the contract -----------------------------------------------------------

    def drop(self) -> int:
        """Delete every key of this board (all its jobs); returns how many keys went.

        For tests and for retiring a board: claimers still at work on it get
        :class:`~steadyflow.jobs.ClaimLostError` at their next step.
        """
        self._check_open()

        def delete_all() -> int:
            keys = list(self._client.scan_iter(match=_glob_escape(self._prefix) + "*", count=1000))
            removed = 0
            for start in range(0, len(keys), 1000):
                removed += int(self._client.delete(*keys[start : start + 1000]))
            return removed

        return self._call(delete_all)

    def earliest_deadline(self) -> tuple[float, float | None]:
        """(Redis's clock now, the next claim expiry or abandon delay end to come, or None)."""
        self._check_open()
        now, earliest = self._run("deadline", [self._delayed, self._claimed], [])
        return _seconds(now), (_seconds(earliest) if _text(earliest) else None)

    # -- helpers -------------------------------------------------------------------------

    def _run(self, script: str, keys: Sequence[str], args: Sequence[str]) -> Any:
        if not self._layout_checked:
            self._check_layout()
        return self._scripts.run(script, keys, args)

    def _check_layout(self) -> None:
        """Refuse a board whose keys a newer steadyflow laid out differently.

        The first call of each board object records this code's layout version
        on a new board, or checks the one recorded (two round trips, once).
        """
        self._call(lambda: self._client.setnx(self._layout_key, LAYOUT))
        recorded = self._call(lambda: self._client.get(self._layout_key))
        if recorded is not None and _text(recorded) != LAYOUT:
            raise SchemaVersionError(
                f"job board {self.name!r} at {self._where} has key layout {_text(recorded)!r}; "
                f"this steadyflow reads layout {LAYOUT!r} only"
            )
        self._layout_checked = True

    def _call(self, fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: BaseException) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"cannot reach the Redis server of job board {self.name!r} at {self._where}: {exc}"
        )

    def _check_current(self, claim: Claim, reply: Sequence[Any]) -> None:
        if int(reply[0]) != 1:
            raise lost(claim, f"the job is {_text(reply[1])} at epoch {_text(reply[2])}")

    def _job(self, job_id: str, row: Sequence[str | None]) -> Job:
        """The Job a row of the job's hash (fields in :data:`_ROW` order, as text) describes.

        On every claim's path: no per-field conversion beyond what each field needs
        (scripts' replies are text already, see :class:`ScriptRunner`).
        """
        doc, rank, created, state, reason, claims, owner, expires, epoch, not_before, revoke = row
        # Post writes these fields with the doc, in one HSET: all are there or none is.
        if doc is None or rank is None or state is None or created is None or not_before is None:
            raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
        fixed = json.loads(doc)
        return Job(
            id=_id_of(rank),
            name=fixed["name"],
            flow_id=fixed["flow_id"],
            factory=fixed["factory"],
            arguments=fixed["arguments"],
            store=fixed["store"],
            priority=int(fixed["priority"]),
            key=fixed["key"],
            created_at=int(created) / _MICROS,
            state=JobState(state),
            reason=reason or None,
            claims=int(claims or 0),
            owner=owner or None,
            expires_at=int(expires) / _MICROS if expires else None,
            epoch=int(epoch or 0),
            not_before=int(not_before) / _MICROS,
            revoke_reason=revoke or None,
        )


def _describe(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


def _id_of(rank: str) -> str:
    """The job id in a rank (``"%016d:<id>"``: the post's sequence number, zero-padded so
    that equal scores sort oldest first, as the scripts write it)."""
    return rank[_RANK_PREFIX:]


def _decoded(row: Sequence[Any]) -> list[str | None]:
    """A row the client read (bytes unless it decodes replies) as text, as scripts reply."""
    return [None if value is None else _text(value) for value in row]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _seconds(micros: Any) -> float:
    return int(_text(micros)) / _MICROS


def _us(seconds: float) -> str:
    return str(round(seconds * _MICROS))


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
