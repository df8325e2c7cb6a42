"""The README's commands, run as a user runs them: the installed script from outside the
checkout, real processes, embedded servers that the CLI starts itself in a fresh data folder."""

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.support.installed import KARMA, user_env
from tests.support.installed import karma as installed


@pytest.fixture(scope="module")
def karma_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("karma") / ".karma"
    env = user_env(KARMA_HOME=str(home))
    yield env
    installed("down", env=env, cwd=home.parent, timeout=60, check=False)


def karma(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The installed script, from the data folder's parent: outside the checkout."""
    return installed(*args, env=env, cwd=Path(env["KARMA_HOME"]).parent, check=check)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_up_status_and_down_manage_embedded_servers_on_loopback(karma_home):
    started = karma(karma_home, "up")
    assert "embedded" in started.stdout
    nats_url = next(line.split()[1] for line in started.stdout.splitlines()
                    if line.startswith("NATS"))
    assert nats_url.startswith("nats://127.0.0.1:")
    status = json.loads(karma(karma_home, "status", "--json").stdout)
    assert status["nats"]["jetstream"] is True
    assert "host=" in status["postgres"]["url"]  # a unix socket: no TCP listener at all
    assert set(status["projections"]) == {"agents", "task_board", "karma_balances", "reputation",
                                         "audit_log", "knowledge_graph",
                                         "ecology_telemetry"}


def test_the_api_serves_commands_and_the_cli_reads_them_back(karma_home):
    karma(karma_home, "up")
    token = karma(karma_home, "tokens", "create", "--role", "admin").stdout.strip()
    port = free_port()
    server = subprocess.Popen([*KARMA, "serve", "--port", str(port)], env=karma_home,
                              cwd=Path(karma_home["KARMA_HOME"]).parent,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/docs", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API did not come up"
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{base}/v1/agents", headers=headers,
                             json={"agent_id": "fetcher-1", "role": "fetcher"})
        assert created.status_code == 200, created.text
        minted = httpx.post(f"{base}/v1/karma/mint", headers=headers,
                            json={"agent_id": "fetcher-1", "amount": "1.5", "reason": "pilot"})
        assert minted.status_code == 200, minted.text
        board = httpx.get(f"{base}/v1/karma/leaderboard", headers=headers,
                          params={"min_position": minted.json()["position"]}).json()
        assert board[0]["balance"] == "1.500000"  # amounts are kept to six places
        # On loopback only, reads need no token (the dashboard's); writes still do.
        assert httpx.get(f"{base}/v1/karma/leaderboard").json() == board
        assert httpx.post(f"{base}/v1/karma/mint", json={"agent_id": "fetcher-1", "amount": "1",
                                                         "reason": "x"}).status_code == 401
        assert httpx.get(f"{base}/ui").status_code == 200
        assert "ledger.karma.KarmaMinted" in httpx.get(f"{base}/asyncapi.json").json()["channels"]
        # The in-process relay publishes the ledger; the CLI reads it back from JetStream.
        head = minted.json()["position"]
        while True:
            tailed = karma(karma_home, "stream", "tail", "--json", "--from-position", "1")
            published = [json.loads(line) for line in tailed.stdout.splitlines()]
            if published and published[-1]["position"] == head:
                break
            assert time.monotonic() < deadline + 30, tailed.stdout + tailed.stderr
            time.sleep(0.2)
        assert [e["position"] for e in published] == list(range(1, head + 1))
        assert published[-1]["type"] == "karma.karma.KarmaMinted"
        since = karma(karma_home, "stream", "tail", "--json", "--subject",
                      "ledger.agents.>").stdout.splitlines()
        assert [json.loads(line)["type"] for line in since] == ["karma.agents.AgentRegistered"]
    finally:
        server.terminate()
        printed = server.communicate(timeout=30)[0].decode()
    assert f"dashboard: http://127.0.0.1:{port}/ui  (reads need no token: loopback only)" in (
        printed), printed
    listed = json.loads(karma(karma_home, "events", "list", "--json").stdout)
    assert [e["event_type"] for e in listed][-3:] == [
        "AgentRegistered", "KarmaAccountOpened", "KarmaMinted"]
    assert "token" not in json.dumps(listed)
    rebuilt = karma(karma_home, "projections", "rebuild", "--verify")
    assert "NO" not in rebuilt.stdout


def test_economy_commands_read_decay_and_verify_the_ledger(karma_home):
    karma(karma_home, "up")
    board = json.loads(karma(karma_home, "leaderboard", "--json").stdout)
    assert board[0]["agent_id"] == "fetcher-1" and board[0]["balance"] == "1.500000"
    entries = json.loads(karma(karma_home, "history", "fetcher-1", "--json").stdout)
    assert [e["kind"] for e in entries] == ["minted"] and entries[0]["reason"] == "pilot"
    far = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    refused = karma(karma_home, "decay", "--as-of", far, check=False)
    assert refused.returncode == 2 and "later than the server's clock" in refused.stderr, (
        refused.stderr)
    assert "decayed" in karma(karma_home, "decay").stdout  # as of now: seconds of decay
    board = json.loads(karma(karma_home, "leaderboard", "--json").stdout)
    assert Decimal("1.49") < Decimal(board[0]["balance"]) <= Decimal("1.5")
    assert "ledger verified" in karma(karma_home, "verify").stdout
    explained = json.loads(karma(karma_home, "why", "fetcher-1", "--json").stdout)
    assert explained["total"] == explained["balance"] == board[0]["balance"]
    assert explained["entries"][0]["chain"][0]["summary"] == "entered by hand (MintKarma)"
    assert json.loads(karma(karma_home, "runs", "list", "--json").stdout) == []
    opened = json.loads(karma(karma_home, "aggregate", "karma/fetcher-1", "--version", "1").stdout)
    assert opened["version"] == 1 and opened["state"]["balance"] == "0"
    nowhere = karma(karma_home, "at", "nope", "--position", "1", check=False)
    assert nowhere.returncode == 2 and "unknown run" in nowhere.stderr
    policy = json.loads(karma(karma_home, "economy", "policy").stdout)
    assert policy["digest"].startswith("sha256:") and policy["staking"]["fraction_of_base"]
    unknown = karma(karma_home, "economy", "replay", "nope", "--policy",
                    str(Path(__file__).parents[2] / "policies" / "default.toml"), check=False)
    assert unknown.returncode == 2 and "unknown run" in unknown.stderr


def test_refused_cli_input_exits_2_and_writes_nothing(karma_home):
    karma(karma_home, "up")
    before = json.loads(karma(karma_home, "status", "--json").stdout)["ledger"]["head"]
    refused = karma(karma_home, "tokens", "create", "--role", "agent", "--agent", "ghost",
                    check=False)
    assert refused.returncode == 2 and "unknown agent" in refused.stderr
    unknown = karma(karma_home, "projections", "rebuild", "nope", check=False)
    assert unknown.returncode == 2 and "known: agents" in unknown.stderr
    assert json.loads(karma(karma_home, "status", "--json").stdout)["ledger"]["head"] == before


def test_down_stops_both_servers(karma_home):
    karma(karma_home, "up")
    stopped = karma(karma_home, "down")
    assert stopped.stdout.count("stopped") == 2
    status = json.loads(karma(karma_home, "status", "--json").stdout)
    assert status["postgres"]["url"] is None and status["nats"]["url"] is None
    assert not (Path(karma_home["KARMA_HOME"]) / "nats" / "nats.json").exists()
