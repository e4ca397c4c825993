"""The dashboard as a person uses it: headless Chromium against a live server.

Each test starts the dashboard on a free loopback port over a real SQLite
store, drives the page the way a person would (clicks, forms) and checks
what the page shows; the main pages are saved as screenshots.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import steadyflow as sf
from steadyflow.persistence import SQLiteBackend
from steadyflow.persistence.models import FlowDetail, LogBook
from steadyflow.states import FlowState

from . import _flows

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

FACTORY = "dashboard._flows:"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteBackend]:
    backend = SQLiteBackend(path=str(tmp_path / "flows.db"))
    try:
        yield backend
    finally:
        backend.close()


def _stored_flows(backend: SQLiteBackend, rows: list[tuple[str, str, FlowState]]) -> None:
    """Store flow records (no run): (id, name, state), created a second apart, oldest first."""
    base = time.time() - 3600
    flows = {
        uuid: FlowDetail(
            uuid=uuid, name=name, state=state, created_at=base + i, updated_at=base + i
        )
        for i, (uuid, name, state) in enumerate(rows)
    }
    backend.save_logbook(LogBook(name="listing", flows=flows))


def _ids_shown(page: Page) -> list[str]:
    ids: list[str] = page.locator("#flows tbody tr[data-flow]").evaluate_all(
        "rows => rows.map(r => r.dataset.flow)"
    )
    return ids


def test_flows_list_filters_combine_search_and_pages(
    store: SQLiteBackend, dashboard: Callable[..., Any], page: Page, screenshots: Path
) -> None:
    # Given flows of two names in several states
    rows = [
        ("bill-1", "billing", FlowState.SUCCESS),
        ("bill-2", "billing", FlowState.FAILURE),
        ("ship-1", "shipping", FlowState.FAILURE),
        ("bill-3", "billing", FlowState.FAILURE),
        ("ship-2", "shipping", FlowState.SUCCESS),
        ("bill-4", "billing", FlowState.REVERTED),
    ]
    _stored_flows(store, rows)
    with dashboard(store, page_size=2) as url:
        # When the list opens: newest first, counts by state, pages of two
        page.goto(url + "/")
        assert _ids_shown(page) == ["bill-4", "ship-2"]
        assert "6 flows in the store" in page.locator("#counts").inner_text()
        assert page.locator("#counts .state-FAILURE b").inner_text() == "3"
        page.screenshot(path=str(screenshots / "flows.png"), full_page=True)
        page.click("#next-page")
        assert _ids_shown(page) == ["bill-3", "ship-1"]
        page.click("#next-page")
        assert _ids_shown(page) == ["bill-2", "bill-1"]
        assert page.locator("#next-page").count() == 0

        # When a state and a name are both chosen, only flows matching both are listed
        page.goto(url + "/")
        page.check("input[name=state][value=FAILURE]")
        page.fill("input[name=name]", "bill")
        page.click("#filters button[type=submit]")
        assert _ids_shown(page) == ["bill-3", "bill-2"]
        assert page.locator("input[name=state][value=FAILURE]").is_checked()

        # And two states combine as either
        page.check("input[name=state][value=SUCCESS]")
        page.click("#filters button[type=submit]")
        assert _ids_shown(page) == ["bill-3", "bill-2"]
        page.click("#next-page")
        assert _ids_shown(page) == ["bill-1"]

        # When an id is searched, its page opens; a prefix filters the list
        page.goto(url + "/")
        page.fill("input[name=id]", "ship-1")
        page.click("#filters button[type=submit]")
        assert page.url == url + "/flows/ship-1"
        page.goto(url + "/?id=ship")
        assert _ids_shown(page) == ["ship-2", "ship-1"]


def test_flow_page_draws_graph_timeline_and_attempts(
    store: SQLiteBackend, dashboard: Callable[..., Any], page: Page, screenshots: Path
) -> None:
    # Given a diamond that ran, and a flow whose task failed twice before it succeeded
    sf.run(_flows.diamond(), backend=store, flow_id="diamond-1", factory=FACTORY + "diamond")
    sf.run(_flows.flaky(), backend=store, flow_id="flaky-1", factory=FACTORY + "flaky")
    with dashboard(store) as url:
        page.goto(url + "/flows/diamond-1")
        # Then the graph has its four atoms, coloured by state, and its four edges
        nodes = page.locator("#graph svg g.node")
        assert nodes.count() == 4
        assert set(nodes.evaluate_all("ns => ns.map(n => n.dataset.state)")) == {"SUCCESS"}
        fill = page.locator("#graph g.node.state-SUCCESS rect").first.evaluate(
            "r => getComputedStyle(r).stroke"
        )
        assert fill == "rgb(46, 157, 87)"
        edges = page.locator("#graph svg path.edge").evaluate_all(
            "es => es.map(e => e.dataset.source + '>' + e.dataset.target)"
        )
        assert sorted(edges) == ["fetch>left", "fetch>right", "left>join", "right>join"]
        # And the timeline has one bar per attempt, and zooms
        assert page.locator("#timeline-body rect.bar").count() == 4
        width = page.locator("#timeline-canvas").bounding_box()
        page.click("button[data-zoom=in]")
        page.click("button[data-zoom=in]")
        wider = page.locator("#timeline-canvas").bounding_box()
        assert width is not None
        assert wider is not None
        assert wider["width"] == pytest.approx(width["width"] * 4, rel=0.02)
        page.click("button[data-zoom=reset]")
        page.screenshot(path=str(screenshots / "flow.png"), full_page=True)

        # And the retry history shows each failed attempt with its failure
        page.goto(url + "/flows/flaky-1")
        retries = page.locator("article[data-atom='flaky.retry'] table.retries tbody tr")
        assert retries.count() == 3
        assert "attempt 1 refused" in retries.nth(0).inner_text()
        assert "attempt 2 refused" in retries.nth(1).inner_text()
        call = page.locator("article[data-atom=call]")
        outcomes = call.locator("table.attempts tbody tr .badge").all_inner_texts()
        assert outcomes == ["FAILURE", "FAILURE", "SUCCESS"]
        assert "ok on attempt 3" in call.locator("pre.result").inner_text()
        assert "attempt 1 refused" in call.locator(".failure").first.inner_text()
        # And the timeline shows the three executions of the retried task, on one row
        bars = page.locator("#timeline-body rect.bar.phase-execute[data-atom=call]")
        assert bars.evaluate_all("bs => bs.map(b => b.dataset.attempt)") == ["1", "2", "3"]
        reverts = page.locator("#timeline-body rect.bar.phase-revert[data-atom=call]")
        assert reverts.count() == 2  # each failed attempt was reverted before the next
        assert len(set(bars.evaluate_all("bs => bs.map(b => b.getAttribute('y'))"))) == 1


def test_failure_shows_traceback_and_revert_outcomes(
    store: SQLiteBackend, dashboard: Callable[..., Any], page: Page
) -> None:
    # Given a diamond whose last task failed, so the others were reverted
    with pytest.raises(RuntimeError):
        sf.run(
            _flows.diamond(fail=True),
            backend=store,
            flow_id="broken-1",
            factory=FACTORY + "diamond",
            factory_kwargs={"fail": True},
        )
    with dashboard(store) as url:
        page.goto(url + "/flows/broken-1")
        join = page.locator("article[data-atom=join]")
        # Then the failure is shown as text with its traceback, markup and all
        assert "join refused: <b>bad</b> input" in join.locator(".failure").inner_text()
        join.locator("details summary").first.click()
        assert "Traceback" in join.locator("pre.traceback").inner_text()
        assert page.locator("#graph g.node[data-state=REVERTED]").count() == 4
        assert page.locator("#timeline-body rect.bar.phase-revert").count() >= 3


def test_live_run_updates_the_page_within_a_second(
    store: SQLiteBackend,
    dashboard: Callable[..., Any],
    page: Page,
    tmp_path: Path,
    screenshots: Path,
) -> None:
    # Given a diamond running in this process whose "left" task holds until a file exists
    gate = tmp_path / "gate"
    engine = sf.load(
        _flows.diamond(gate=str(gate)),
        backend=store,
        flow_id="live-1",
        factory=FACTORY + "diamond",
        factory_kwargs={"gate": str(gate)},
    )
    runner = threading.Thread(target=engine.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            atoms = store.get_flow_detail("live-1").atoms if _exists(store, "live-1") else {}
            if "left" in atoms and atoms["left"].state == "RUNNING":
                break
            time.sleep(0.02)
        with dashboard(store, poll=0.2) as url:
            # When the page is open while the flow runs
            page.goto(url + "/flows/live-1")
            page.wait_for_selector("#live-status:has-text('following')")
            assert (
                page.locator("#graph g.node[data-atom=left]").get_attribute("data-state")
                == "RUNNING"
            )
            page.screenshot(path=str(screenshots / "flow-running.png"), full_page=True)
            page.evaluate("window.__sameDocument = true")
            # And the flow moves on
            gate.touch()
            page.wait_for_selector("#flow-state [data-state=SUCCESS]", timeout=5_000)
            seen = time.time()
            # Then the page showed it without a reload, within a second of the write
            finished = store.get_flow_detail("live-1").updated_at
            assert seen - finished < 1.0
            assert page.evaluate("window.__sameDocument") is True
            states = page.locator("#graph g.node").evaluate_all(
                "ns => ns.map(n => n.dataset.state)"
            )
            assert states == ["SUCCESS"] * 4
            assert int(page.evaluate("document.body.dataset.updates")) >= 2
    finally:
        gate.touch()
        runner.join(timeout=20)
        engine.close()


def _exists(store: SQLiteBackend, flow_id: str) -> bool:
    try:
        store.get_flow_detail(flow_id)
    except sf.errors.NotFoundError:
        return False
    return True


def test_stored_markup_stays_text(
    store: SQLiteBackend, dashboard: Callable[..., Any], page: Page
) -> None:
    # Given a flow whose name and result are markup with scripts
    sf.run(_flows.hostile(), backend=store, flow_id="xss-1", factory=FACTORY + "hostile")
    with dashboard(store) as url:
        for path in ("/", "/flows/xss-1", "/?name=%3Ci%3E"):
            page.goto(url + path)
            # Then no script of it ran, and it reads as the text it is
            assert page.evaluate("window.__pwned") is None
            assert page.locator("img[src=x]").count() == 0
            assert page.locator("main i").count() == 0
        assert page.locator("#flows td.name").inner_text() == "<i>hostile</i>"
        page.goto(url + "/flows/xss-1")
        assert page.locator("h1").inner_text().startswith("<i>hostile</i>")
        assert page.locator("article[data-atom=render] pre.result").inner_text() == (
            '"' + _flows.XSS.replace('"', '\\"') + '"'
        )
        # And the live update, which replaces parts of the page, keeps it text too
        page.wait_for_selector("body[data-updates]")
        assert page.locator("article[data-atom=render] pre.result").count() == 1
        assert page.locator("img[src=x]").count() == 0
        assert page.evaluate("window.__pwned") is None


def test_actions_are_refused_without_allow_actions(
    store: SQLiteBackend, dashboard: Callable[..., Any], page: Page
) -> None:
    sf.run(_flows.diamond(), backend=store, flow_id="calm-1", factory=FACTORY + "diamond")
    with dashboard(store) as url:
        page.goto(url + "/flows/calm-1")
        # Then no action is offered
        assert page.locator("#revoke, #resume").count() == 0
        assert "read-only" in page.locator("header .mode").inner_text()
        # And a revoke asked for anyway is refused, with the page's own CSRF token
        token = page.context.cookies()[0]["value"]
        response = page.request.post(
            url + "/flows/calm-1/revoke",
            form={"csrf_token": token, "confirm": "yes", "reason": "try"},
        )
        assert response.status == 403
        assert "--allow-actions" in response.text()
        assert page.goto(url + "/flows/calm-1/revoke").status == 403  # type: ignore[union-attr]
        assert store.get_flow_detail("calm-1").state == FlowState.SUCCESS


def test_revoke_asks_for_confirmation_then_reverts(
    store: SQLiteBackend, dashboard: Callable[..., Any], page: Page, screenshots: Path
) -> None:
    # Given a flow that finished, on a dashboard with actions enabled
    sf.run(_flows.diamond(), backend=store, flow_id="undo-1", factory=FACTORY + "diamond")
    with dashboard(store, allow_actions=True, poll=0.2) as url:
        page.goto(url + "/flows/undo-1")
        # When revoke is clicked, a confirmation is asked first: nothing changed yet
        page.click("#revoke")
        assert page.url == url + "/flows/undo-1/revoke"
        assert store.get_flow_detail("undo-1").state == FlowState.SUCCESS
        page.fill("input[name=reason]", "customer cancelled")
        page.screenshot(path=str(screenshots / "revoke-confirm.png"))
        page.click("#confirm-revoke")
        # Then the flow is reverted, and the page shows it live
        assert page.url.startswith(url + "/flows/undo-1")
        page.wait_for_selector("#flow-state [data-state=REVERTED]", timeout=10_000)
        assert store.get_flow_detail("undo-1").state == FlowState.REVERTED
        assert page.locator("#graph g.node[data-state=REVERTED]").count() == 4
