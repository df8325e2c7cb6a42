"""docker-compose.yml and the app's settings agree (no Docker engine here to run it): every
KARMA_ variable it sets is a setting the app reads and validates, the NATS services form one
JetStream cluster whose size is the streams' replicas, and the URLs name the services."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from adapters.nats_servers import servers
from app.settings import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
PASSWORD = "compose-test"


def services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def environments() -> dict[str, dict[str, str]]:
    """Each service's KARMA_ environment, with ${KARMA_POSTGRES_PASSWORD} filled in."""
    found = {}
    for name, service in services().items():
        settings = {key: str(value).replace("${KARMA_POSTGRES_PASSWORD}", PASSWORD)
                    for key, value in (service.get("environment") or {}).items()
                    if key.startswith("KARMA_")}
        if settings:
            found[name] = settings
    return found


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_every_karma_variable_is_a_setting_the_app_validates(monkeypatch):
    assert environments(), "no service sets KARMA_ variables"
    for service, env in environments().items():
        for key in env:
            assert key.removeprefix("KARMA_").lower() in Settings.model_fields, (service, key)
        for key, value in env.items():
            if "${" not in value:  # defaults the shell fills in, e.g. ${KARMA_LLM:-gemma}
                monkeypatch.setenv(key, value)
        Settings()  # validates, as the app does at start
        for key in env:
            monkeypatch.delenv(key, raising=False)


def test_the_nats_services_are_one_jetstream_cluster_as_large_as_the_replicas():
    nats = {name: service for name, service in services().items()
            if service.get("image", "").startswith("nats:")}
    assert len(nats) == 3
    commands = {name: service["command"] for name, service in nats.items()}
    assert all("-js" in command for command in commands.values())
    assert len({flag(command, "--cluster_name") for command in commands.values()}) == 1
    assert sorted(flag(command, "-n") for command in commands.values()) == sorted(nats)
    for name, command in commands.items():
        port = urlsplit(flag(command, "--cluster")).port
        routes = {urlsplit(route).hostname: urlsplit(route).port
                  for route in flag(command, "--routes").split(",")}
        assert routes == {other: port for other in nats if other != name}, name
    for service, env in environments().items():
        if "KARMA_NATS_URL" not in env:
            continue
        named = [urlsplit(url) for url in servers(env["KARMA_NATS_URL"])]
        assert sorted(url.hostname for url in named) == sorted(nats), service
        assert {url.port for url in named} == {4222}, service
        assert int(env["KARMA_NATS_REPLICAS"]) == len(nats), service


@pytest.mark.parametrize("key, target", [("KARMA_DATABASE_URL", "postgres"),
                                         ("KARMA_QDRANT_URL", "qdrant")])
def test_the_urls_name_the_services(key, target):
    declared = services()
    assert target in declared
    for service, env in environments().items():
        if key not in env:
            continue
        url = urlsplit(env[key])
        assert url.hostname == target, (service, key)
        if target == "postgres":
            postgres = declared["postgres"]["environment"]
            assert url.username == postgres["POSTGRES_USER"]
            assert url.path.lstrip("/") == postgres["POSTGRES_DB"]
            assert url.password == PASSWORD
