"""The dashboard in a real headless Chromium (Debian's chromium and chromedriver, driven by
Selenium) against a real server: uvicorn serving the app, the relay publishing to JetStream,
the live feed reading it back, over a ledger of real events.

Set KARMA_DASHBOARD_SHOTS to a folder to keep a PNG of every view (the README's come from
here)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import suppress
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

import httpx
import nats
import pytest
from fastapi.testclient import TestClient

from domain.read_models import ReadModelChecked
from domain.tasks import ReviewScored
from handlers import commands as c
from readside.queries import EventFilter, Queries
from streams import consumers
from tests.builders import completed_task_via, record_colony, record_learning
from tests.conftest import ledger_size
from tests.e2e.test_knowledge import GRAPH, NOISE, PARTNERS, SUPPLY, enrich, script
from tests.integration.test_counterfactual import record_a_run
from tests.support.headless import CHROMIUM, DRIVER, chromium
from tests.support.installed import container_env, karma
from tests.support.openai_server import serving
from tests.support.threaded_server import in_thread

pytest.importorskip("selenium.webdriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
SHOTS = os.environ.get("KARMA_DASHBOARD_SHOTS")
WAIT_S = 30


@pytest.fixture
def server(container) -> Iterator[dict[str, str]]:
    """The app on a loopback port with the relay on, over a recorded run; its admin token."""
    from entrypoints.http_api import create_app

    run_id = record_a_run(container.service)
    container.projections.catch_up()
    with in_thread(create_app(container, run_relay=True)) as base:
        yield {"base": base, "token": container.tokens.create("admin").token, "run": run_id}


@pytest.fixture
def browser() -> Iterator:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


def until(browser, check, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT_S, poll_frequency=0.1).until(lambda _: check(),
                                                                    message=message)


def open_page(browser, server, route: str) -> None:
    """The page at ``route``, with the admin token entered as a user does the first time."""
    if not browser.current_url.startswith(server["base"]):
        browser.get(f"{server['base']}/ui")
        field = browser.find_element("id", "token")
        field.send_keys(server["token"])
        field.submit()
        until(browser, lambda: browser.execute_script(
            "return sessionStorage.getItem('karma-ledger-token')"), "the token was not kept")
    browser.get(f"{server['base']}/ui#{route}")
    browser.refresh()
    ready(browser, route)


def ready(browser, route: str) -> None:
    until(browser, lambda: browser.execute_script(
        "const v = document.getElementById('view');"
        "return v.dataset.ready === 'yes' && v.dataset.route === arguments[0];",
        route.split("?")[0].strip("#/")), f"the page at {route} did not load")
    errors = browser.find_elements("css selector", "#view .error")
    assert not errors, errors[0].text


def shot(browser, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(SHOTS) / f"{name}.png"))


async def published(container, position: int) -> dict:
    """The CloudEvent the relay published on JetStream for a ledger position."""
    connection = await nats.connect(container.endpoints.nats_url)
    try:
        js = connection.jetstream()
        for _ in range(WAIT_S * 10):
            with suppress(consumers.PositionNotPublishedError):
                async for _, event in consumers.tail(js, container.topology,
                                                     consumers.StartAt(position=position),
                                                     limit=1):
                    return event
            await asyncio.sleep(0.1)
        raise AssertionError(f"position {position} was not published")
    finally:
        await connection.close()


def live(browser) -> None:
    state = browser.find_element("id", "live-state")
    try:
        until(browser, lambda: state.get_attribute("data-state") == "live", "")
    except Exception:
        raise AssertionError(f"the live feed did not connect: {state.text}") from None


def test_the_leaderboard_changes_when_a_review_lands(container, server, browser):
    open_page(browser, server, "/leaderboard")
    live(browser)
    rows = {row.get_attribute("data-agent"): row.get_attribute("data-balance")
            for row in browser.find_elements("css selector", "tr[data-agent]")}
    queries = Queries(container.datastore)
    assert rows == {row["agent_id"]: str(row["balance"]) for row in queries.leaderboard()}
    shot(browser, "leaderboard")

    task_id = completed_task_via(container.service, agent_id="reader-1")
    container.service.execute(c.ScoreReview(task_id=task_id, reviewer_id="reviewer",
                                            quality=Decimal("1.5"), rationale="live"))
    container.projections.catch_up()
    now = str(queries.karma("reader-1")["balance"])
    assert now != rows["reader-1"]
    until(browser, lambda: browser.execute_script(
        "return document.querySelector(\"tr[data-agent='reader-1']\").dataset.balance") == now,
        "the leaderboard did not show the review's karma")


def test_the_slider_shows_the_state_karma_at_prints(container, server, browser):
    run_id = server["run"]
    open_page(browser, server, f"/runs/{run_id}")
    positions = [e["position"] for e in Queries(container.datastore).run_events(run_id)]
    middle = len(positions) // 2
    browser.execute_script(
        "const s = document.getElementById('slider'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('input'));", middle)
    until(browser, lambda: browser.execute_script(
        "return document.getElementById('travel').dataset.position") == str(positions[middle]),
        "the slider did not travel")
    shot(browser, "run")
    shown = {row.get_attribute("data-agent"): row.get_attribute("data-balance")
             for row in browser.find_elements("css selector", "#state tr[data-agent]")}
    tasks = {row.get_attribute("data-task"): row.get_attribute("data-state")
             for row in browser.find_elements("css selector", "#state tr[data-task]")}
    env = container_env(container)
    printed = json.loads(karma("at", run_id, "--position", str(positions[middle]), "--json",
                               env=env, cwd=container.settings.home.parent).stdout)
    assert shown == {agent: str(b["balance"]) for agent, b in printed["balances"].items()}
    assert tasks == {task: t["state"] or "" for task, t in printed["tasks"].items()}
    assert shown and tasks


def test_the_provenance_chain_is_the_one_karma_why_prints(container, server, browser):
    open_page(browser, server, "/agents/reader-1")
    entries = browser.find_elements("css selector", "#provenance .entry")
    shown = [[step.get_attribute("data-event")
              for step in entry.find_elements("css selector", ".chain li")] for entry in entries]
    env = container_env(container)
    printed = json.loads(karma("why", "reader-1", "--json", env=env,
                               cwd=container.settings.home.parent).stdout)
    assert shown == [[step["event_id"] for step in entry["chain"]]
                     for entry in reversed(printed["entries"])]
    review = next(step for step in browser.find_elements("css selector", ".chain li details")
                  if "ReviewScored" in step.text)
    review.find_element("css selector", "summary strong").click()
    until(browser, lambda: "pre" in review.get_attribute("innerHTML"), "no payload shown")
    shot(browser, "agent")


def test_the_event_browser_filters_and_follows_causes(container, server, browser):
    open_page(browser, server, "/events?event_type=ReviewScored")
    listed = browser.find_elements("css selector", "#events tbody tr")
    reviews = Queries(container.datastore).events(EventFilter(event_type="ReviewScored"))
    assert [int(r.get_attribute("data-position")) for r in listed] == [
        e["position"] for e in reviews]
    shot(browser, "events")
    listed[0].find_element("css selector", "td:nth-child(3) a").click()
    ready(browser, f"/events/{reviews[0]['event_id']}")
    envelope = json.loads(browser.find_element("id", "envelope").text)
    assert envelope["id"] == reviews[0]["event_id"] and envelope["specversion"] == "1.0"
    assert envelope["type"] == f"karma.tasks.{ReviewScored.__name__}"
    assert envelope == asyncio.run(published(container, reviews[0]["position"]))
    shot(browser, "event")
    # what the review caused (its karma), and back to the review by the cause link
    caused = browser.find_element("css selector", "#caused tbody tr td:nth-child(3) a")
    caused_id = caused.get_attribute("href").rsplit("/", 1)[1]
    caused.click()
    ready(browser, f"/events/{unquote(caused_id)}")
    browser.find_element("id", "cause").click()
    ready(browser, f"/events/{reviews[0]['event_id']}")

    # the live tail: a new review appears without reloading
    open_page(browser, server, "/events?event_type=ReviewScored")
    live(browser)
    task_id = completed_task_via(container.service, agent_id="analyst-1")
    container.service.execute(c.ScoreReview(task_id=task_id, reviewer_id="reviewer",
                                            quality=Decimal(1), rationale="tail"))
    until(browser, lambda: len(browser.find_elements("css selector", "#events tbody tr"))
          == len(reviews) + 1, "the live tail did not show the new review")


def test_verifying_a_view_is_an_admin_action_recorded_as_an_event(container, server,
                                                                   browser):
    open_page(browser, server, "/projections")
    browser.find_element("css selector", "button[data-view='audit_log'][data-action='verify']"
                         ).click()
    status = browser.find_element("id", "action-status")
    try:
        until(browser, lambda: "identical" in status.text, "")
    except Exception:
        raise AssertionError(f"the verification did not report: {status.text}") from None
    checks = [e for e in container.ledger.events.get("read-model/audit_log")
              if isinstance(e, ReadModelChecked)]
    assert len(checks) == 1 and checks[0].identical and not checks[0].replaced
    shot(browser, "projections")

    agent = container.tokens.create("agent", "reader-1").token
    before = ledger_size(container)
    refused = httpx.post(f"{server['base']}/v1/projections/audit_log/rebuild",
                         headers={"Authorization": f"Bearer {agent}"})
    assert refused.status_code == 403 and ledger_size(container) == before
    unknown = httpx.post(f"{server['base']}/v1/projections/nope/verify",
                         headers={"Authorization": f"Bearer {server['token']}"})
    assert unknown.status_code == 404 and ledger_size(container) == before


def test_reads_need_a_token_unless_the_server_is_loopback_only(container, server):
    refused = httpx.get(f"{server['base']}/v1/karma/leaderboard")
    assert refused.status_code == 401
    page = httpx.get(f"{server['base']}/ui")
    assert page.status_code == 200 and "app.js" in page.text
    for asset in ("app.js", "style.css"):
        assert httpx.get(f"{server['base']}/ui/assets/{asset}").status_code == 200

    from entrypoints.http_api import create_app

    with TestClient(create_app(container, follow_projections=False,
                               open_reads=True)) as client:
        assert client.get("/v1/karma/leaderboard").status_code == 200
        before = ledger_size(container)
        written = client.post("/v1/karma/mint", json={"agent_id": "reader-1", "amount": "1",
                                                      "reason": "no token"})
        assert written.status_code == 401 and ledger_size(container) == before
        wrong = client.get("/v1/karma/leaderboard", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401


# -- the graph, ecology and learning views, over histories recorded by real commands ----------

def test_graph_ecology_and_learning_views_show_what_the_ledger_holds(container, server,
                                                                       browser):
    from adapters.llm import OpenAICompatibleModel
    from entrypoints.http_api import create_app

    with serving(script) as scripted, TestClient(create_app(
            container, follow_projections=False,
            model=OpenAICompatibleModel(scripted.url, "scripted", retries=0))) as client:
        enrich(client, {"Authorization": f"Bearer {server['token']}"},
               [SUPPLY, PARTNERS, NOISE], GRAPH)
    decisions = record_learning(container.service)
    record_colony(container.service)
    container.projections.catch_up()

    # the aggregate filter, as the graph page and the agents' task links use it
    admin = {"Authorization": f"Bearer {server['token']}"}
    only = httpx.get(f"{server['base']}/v1/events", params={"aggregate": "agent/reader-1"},
                     headers=admin).json()
    assert only and {e["originator_id"] for e in only} == {"agent/reader-1"}
    newest = Queries(container.datastore).events(EventFilter(after=10, limit=1))[0]
    since = httpx.get(f"{server['base']}/v1/events", headers=admin,
                      params={"since": newest["occurred_at"].isoformat(), "limit": 1000}).json()
    assert since and all(e["occurred_at"] >= newest["occurred_at"].isoformat().replace(
        "+00:00", "Z") for e in since)

    open_page(browser, server, "/graphs/supply")
    graph = Queries(container.datastore).graph("supply")
    assert len(browser.find_elements("css selector", "#graph circle")) == len(graph["nodes"])
    assert len(browser.find_elements("css selector", "#graph line")) == len(graph["edges"])
    decided = browser.find_elements("css selector", "#decisions tbody tr")
    assert len(decided) == sum(e["accepted"] + e["rejected"] for e in graph["enrichments"])
    shot(browser, "graph")

    open_page(browser, server, "/learning/dual")
    shown = [row.find_elements("css selector", "td")[5].text
             for row in browser.find_elements("css selector", "#gated tbody tr")]
    assert shown == decisions == ["apply", "apply", "skip", "rollback", "apply"]
    assert browser.find_elements("css selector", "#rhi-chart svg polyline")
    assert "deployed" in browser.find_element("id", "view").text
    shot(browser, "learning")

    open_page(browser, server, "/ecology/colony-1")
    charts = browser.find_elements("css selector", "#view svg")
    assert len(charts) == 4  # energy, Gini and score, accuracy per family, ROI
    assert "boolean-logic" in browser.find_element("id", "view").text
    shot(browser, "ecology")


def test_the_live_feed_says_when_no_relay_has_made_the_stream(container):
    from entrypoints.http_api import create_app

    admin = {"Authorization": f"Bearer {container.tokens.create('admin').token}"}
    with TestClient(create_app(container, follow_projections=False)) as client:
        refused = client.get("/v1/live", headers=admin)
    assert refused.status_code == 503
    assert "is a relay running" in refused.json()["error"]["message"]
