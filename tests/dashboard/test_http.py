"""The dashboard over plain HTTP: tokens, CSRF, the jobs page, event streams, bad input."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

import steadyflow as sf
from steadyflow.persistence import MemoryBackend
from steadyflow.states import AtomState, FlowState

from . import _flows


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str


def _request(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Reply:
    """One request, without following redirects."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    body = urlencode(form).encode() if form is not None else None
    sent = dict(headers or {})
    if form is not None:
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    path = parts.path + ("?" + parts.query if parts.query else "")
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return Reply(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read().decode(),
        )
    finally:
        connection.close()


def _cookie(reply: Reply, name: str) -> str:
    for part in reply.headers.get("set-cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    raise AssertionError(f"no cookie {name} in {reply.headers}")


@pytest.fixture
def store() -> MemoryBackend:
    backend = MemoryBackend()
    sf.run(_flows.diamond(), backend=backend, flow_id="one", factory="dashboard._flows:diamond")
    return backend


def test_a_token_is_required_when_given(
    store: MemoryBackend, dashboard: Callable[..., Any]
) -> None:
    with dashboard(store, token="s3cret") as url:
        # Without it, every page (and the event stream) is refused
        for path in ("/", "/flows/one", "/flows/one/events", "/static/dashboard.js"):
            reply = _request(url + path)
            assert reply.status == 401, path
            assert "one" not in reply.body
        assert _request(url + "/", headers={"Authorization": "Bearer wrong"}).status == 401
        # With the bearer token, the pages answer
        ok = _request(url + "/flows/one", headers={"Authorization": "Bearer s3cret"})
        assert ok.status == 200
        assert "diamond" in ok.body
        # And a browser trades ?token= for a cookie, and the address loses the token
        traded = _request(url + "/flows/one?token=s3cret")
        assert traded.status == 303
        assert traded.headers["location"] == "/flows/one"
        cookie = _cookie(traded, "steadyflow_token")
        assert "HttpOnly" in traded.headers["set-cookie"]
        kept = _request(url + "/?state=SUCCESS&token=s3cret&name=dia")
        assert kept.headers["location"] == "/?state=SUCCESS&name=dia"
        with_cookie = _request(url + "/flows/one", headers={"Cookie": f"steadyflow_token={cookie}"})
        assert with_cookie.status == 200


def test_actions_need_the_csrf_token_and_the_same_origin(
    store: MemoryBackend, dashboard: Callable[..., Any]
) -> None:
    with dashboard(store, allow_actions=True) as url:
        page = _request(url + "/flows/one")
        csrf = _cookie(page, "steadyflow_csrf")
        host = urlsplit(url).netloc
        cookie = {"Cookie": f"steadyflow_csrf={csrf}"}
        form = {"confirm": "yes", "reason": "test"}
        # Without the token, with a wrong one, or from another origin: refused
        assert _request(url + "/flows/one/revoke", method="POST", form=form).status == 403
        wrong = {**form, "csrf_token": "forged"}
        assert (
            _request(url + "/flows/one/revoke", method="POST", form=wrong, headers=cookie).status
            == 403
        )
        right = {**form, "csrf_token": csrf}
        foreign = {**cookie, "Origin": "http://evil.example"}
        assert (
            _request(url + "/flows/one/revoke", method="POST", form=right, headers=foreign).status
            == 403
        )
        # Unconfirmed: refused too
        unconfirmed = {"csrf_token": csrf, "reason": "test"}
        assert (
            _request(
                url + "/flows/one/revoke", method="POST", form=unconfirmed, headers=cookie
            ).status
            == 400
        )
        assert store.get_flow_detail("one").state == FlowState.SUCCESS
        # With the token, from the page's own origin: done
        own = {**cookie, "Origin": f"http://{host}"}
        done = _request(url + "/flows/one/revoke", method="POST", form=right, headers=own)
        assert done.status == 303
        assert done.headers["location"] == "/flows/one?notice=revoke-started"
        deadline = time.monotonic() + 10
        while store.get_flow_detail("one").state != FlowState.REVERTED:
            assert time.monotonic() < deadline, "the revoke did not finish"
            time.sleep(0.02)


def test_resume_runs_a_suspended_flow_to_its_end(
    dashboard: Callable[..., Any], tmp_path: Any
) -> None:
    # Given a diamond suspended while its "left" task held
    backend = MemoryBackend()
    gate = tmp_path / "gate"
    engine = sf.load(
        _flows.diamond(gate=str(gate)),
        backend=backend,
        flow_id="paused",
        factory="dashboard._flows:diamond",
        factory_kwargs={"gate": str(gate)},
    )
    runner = threading.Thread(target=engine.run)
    runner.start()
    deadline = time.monotonic() + 10
    while not _running(backend, "paused", "left"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    engine.suspend()
    gate.touch()
    runner.join(timeout=10)
    engine.close()
    assert backend.get_flow_detail("paused").state == FlowState.SUSPENDED
    with dashboard(backend, allow_actions=True) as url:
        page = _request(url + "/flows/paused")
        assert 'id="resume"' in page.body
        csrf = _cookie(page, "steadyflow_csrf")
        reply = _request(
            url + "/flows/paused/resume",
            method="POST",
            form={"csrf_token": csrf},
            headers={"Cookie": f"steadyflow_csrf={csrf}"},
        )
        assert reply.status == 303
        deadline = time.monotonic() + 10
        while backend.get_flow_detail("paused").state != FlowState.SUCCESS:
            assert time.monotonic() < deadline, "the resume did not finish"
            time.sleep(0.02)
        # And a flow that succeeded is not resumed again
        again = _request(
            url + "/flows/paused/resume",
            method="POST",
            form={"csrf_token": csrf},
            headers={"Cookie": f"steadyflow_csrf={csrf}"},
        )
        assert again.status == 409


def _running(backend: MemoryBackend, flow_id: str, atom: str) -> bool:
    try:
        atoms = backend.get_flow_detail(flow_id).atoms
    except sf.errors.NotFoundError:
        return False
    return atom in atoms and atoms[atom].state == "RUNNING"


@dataclass
class FakeJob:
    id: str
    name: str
    state: str
    owner: str | None
    expires_at: float | None
    epoch: int
    claims: int
    reason: str | None
    flow_id: str = "flow-of-job"
    factory: str | None = "dashboard._flows:diamond"
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    store: dict[str, Any] = field(default_factory=dict)
    priority: int = 0


class FakeBoard:
    """A job board as the dashboard uses one: iter_jobs(state=...), get() and post()."""

    def __init__(self, jobs: list[FakeJob]) -> None:
        self.jobs = jobs
        self.asked: list[str | None] = []

    def iter_jobs(self, state: str | None = None) -> list[FakeJob]:
        self.asked.append(state)
        return [job for job in self.jobs if state is None or job.state == state]

    def get(self, job_id: str) -> FakeJob:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise sf.errors.NotFoundError(f"no job {job_id}")

    def post(self, name: str, **fields: Any) -> FakeJob:
        kwargs = fields.pop("kwargs")
        args = tuple(fields.pop("args"))
        job = FakeJob(
            f"j{len(self.jobs) + 1}",
            name,
            "UNCLAIMED",
            None,
            None,
            0,
            0,
            None,
            args=args,
            kwargs=kwargs,
            **fields,
        )
        self.jobs.append(job)
        return job


def _board() -> FakeBoard:
    return FakeBoard(
        [
            FakeJob("j1", "boot-vm", "CLAIMED", "c1-<b>", time.time() + 30, 4, 2, None),
            FakeJob(
                "j2",
                "<script>x</script>",
                "TRASHED",
                None,
                None,
                7,
                5,
                "gave up <i>",
                flow_id="f-2",
                kwargs={"fail": True},
                priority=3,
            ),
        ]
    )


def test_jobs_page_lists_the_boards_jobs(
    store: MemoryBackend, dashboard: Callable[..., Any]
) -> None:
    board = _board()
    with dashboard(store, board=board) as url:
        page = _request(url + "/jobs")
        assert page.status == 200
        assert "boot-vm" in page.body
        assert "c1-&lt;b&gt;" in page.body
        assert "&lt;script&gt;x&lt;/script&gt;" in page.body
        assert "gave up &lt;i&gt;" in page.body
        assert 'href="/flows/f-2"' in page.body
        trashed = _request(url + "/jobs?state=TRASHED")
        assert "boot-vm" not in trashed.body
        assert board.asked == [None, "TRASHED"]
        assert 'href="/jobs"' in _request(url + "/").body
        # Read-only: no re-post offered, and one asked for anyway is refused
        assert "Re-post" not in page.body
        assert _request(url + "/jobs/j2/repost", method="POST", form={}).status == 403
    with dashboard(store) as url:
        assert _request(url + "/jobs").status == 404
        assert 'href="/jobs"' not in _request(url + "/").body


def test_a_trashed_job_is_reposted_as_it_was(
    store: MemoryBackend, dashboard: Callable[..., Any]
) -> None:
    board = _board()
    with dashboard(store, board=board, allow_actions=True) as url:
        page = _request(url + "/jobs")
        assert page.body.count("Re-post") == 1
        csrf = _cookie(page, "steadyflow_csrf")
        cookie = {"Cookie": f"steadyflow_csrf={csrf}"}
        form = {"csrf_token": csrf}
        assert (
            _request(url + "/jobs/j2/repost", method="POST", form={}, headers=cookie).status == 403
        )
        # A claimed job, or one the board does not have, is not re-posted
        assert (
            _request(url + "/jobs/j1/repost", method="POST", form=form, headers=cookie).status
            == 409
        )
        assert (
            _request(url + "/jobs/j9/repost", method="POST", form=form, headers=cookie).status
            == 404
        )
        done = _request(url + "/jobs/j2/repost", method="POST", form=form, headers=cookie)
        assert done.status == 303
        assert done.headers["location"] == "/jobs?notice=reposted"
    new = board.jobs[-1]
    assert (new.id, new.name, new.state, new.flow_id) == (
        "j3",
        "<script>x</script>",
        "UNCLAIMED",
        "f-2",
    )
    assert (new.factory, new.kwargs, new.priority) == (
        "dashboard._flows:diamond",
        {"fail": True},
        3,
    )


def test_event_stream_sends_the_flows_fragments(
    store: MemoryBackend, dashboard: Callable[..., Any]
) -> None:
    with dashboard(store) as url:
        request = urllib.request.Request(url + "/flows/one/events")
        with urllib.request.urlopen(request, timeout=10) as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            lines: list[str] = []
            while not any(line.startswith("data:") for line in lines):
                lines.append(stream.readline().decode().strip())
        assert "event: update" in lines
        data = json.loads(next(line for line in lines if line.startswith("data:"))[5:])
        assert data["state"] == "SUCCESS"
        assert set(data["fragments"]) == {"flow-state", "graph", "timeline-body", "atoms"}
        assert 'data-atom="join"' in data["fragments"]["graph"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/flows/nope", 404),
        ("/?state=BOGUS", 400),
        ("/?cursor=not-a-cursor", 400),
    ],
)
def test_bad_input_gets_a_clear_page(
    store: MemoryBackend, dashboard: Callable[..., Any], path: str, status: int
) -> None:
    with dashboard(store) as url:
        reply = _request(url + path)
    assert reply.status == status
    assert 'id="problem"' in reply.body


def test_create_app_checks_its_arguments() -> None:
    from steadyflow.dashboard import create_app

    with pytest.raises(TypeError, match="Backend"):
        create_app("sqlite:///x.db")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="poll"):
        create_app(MemoryBackend(), poll=0)
    with pytest.raises(ValueError, match="token"):
        create_app(MemoryBackend(), token="")


def test_id_search_opens_the_flow_or_lists_nothing(
    store: MemoryBackend, dashboard: Callable[..., Any]
) -> None:
    with dashboard(store) as url:
        assert _request(url + "/?id=one").headers["location"] == "/flows/one"
        assert "No flow matches." in _request(url + "/?id=zzz").body


@pytest.mark.postgres
def test_pages_over_postgresql(postgres_url: str, dashboard: Callable[..., Any]) -> None:
    from steadyflow.persistence import open_backend

    backend = open_backend(postgres_url)
    try:
        sf.run(_flows.flaky(), backend=backend, flow_id="pg-1", factory="dashboard._flows:flaky")
        with dashboard(backend) as url:
            listing = _request(url + "/?name=fla")
            assert listing.status == 200
            assert 'data-flow="pg-1"' in listing.body
            page = _request(url + "/flows/pg-1")
            assert page.status == 200
            assert page.body.count('class="node ') == 2
            assert "attempt 2 refused" in page.body
    finally:
        backend.close()


def test_a_flow_stored_without_structure_or_transitions_is_still_shown(
    dashboard: Callable[..., Any],
) -> None:
    # Given a flow record as an older version stored it: atoms, no structure, no trail
    from steadyflow.persistence.models import AtomDetail, FlowDetail, LogBook

    backend = MemoryBackend()
    atoms = {
        "done": AtomDetail(name="done", state=AtomState.SUCCESS, result=1, updated_at=100.0),
        "busy": AtomDetail(name="busy", state=AtomState.RUNNING, updated_at=101.0),
        "later": AtomDetail(name="later"),
    }
    old = FlowDetail(
        uuid="old-1", name="old", state=FlowState.RUNNING, atoms=atoms, updated_at=101.0
    )
    backend.save_logbook(LogBook(name="old", flows={"old-1": old}))
    with dashboard(backend) as url:
        page = _request(url + "/flows/old-1")
    # Then its atoms are drawn unconnected, and the timeline says what it is built from
    assert page.status == 200
    assert page.body.count('class="node ') == 3
    assert 'class="edge"' not in page.body
    assert "stored without its structure" in page.body
    assert "stored without its transitions" in page.body
    assert page.body.count('class="bar ') == 2
    assert 'data-atom="busy" data-attempt="1" data-phase="execute"' in page.body
