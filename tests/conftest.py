"""Real servers for the suite: embedded PostgreSQL and NATS from the wheels, started here,
or external ones named by KARMA_TEST_DATABASE_URL (a server where the suite may create
databases) and KARMA_TEST_NATS_URL. Every test gets its own fresh database."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import nats
import nats.js.errors
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from adapters import embedded_nats, embedded_postgres
from app.bootstrap import Container, Endpoints
from app.settings import Settings
from handlers.service import LedgerService


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("KARMA_TEST_DATABASE_URL")
    if external:
        yield external
        return
    data_dir = tmp_path_factory.mktemp("servers") / "postgres"
    server = embedded_postgres.start(data_dir, database="postgres")
    yield server.url
    embedded_postgres.stop(data_dir)


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("KARMA_TEST_NATS_URL")
    if external:
        yield external
        return
    data_dir = tmp_path_factory.mktemp("servers") / "nats"
    server = embedded_nats.start(data_dir)
    yield server.url
    embedded_nats.stop(data_dir)


@contextlib.contextmanager
def created_database(admin_url: str) -> Iterator[str]:
    """A database of its own on the server, dropped afterwards."""
    name = f"karma_test_{uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(admin_url, dbname=name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(postgres_admin_url: str) -> Iterator[str]:
    with created_database(postgres_admin_url) as url:
        yield url


@pytest.fixture
def container(database_url: str, nats_url: str, tmp_path: Path) -> Iterator[Container]:
    # Its own stream names and subjects too, so tests sharing a NATS server never meet.
    settings = Settings(home=tmp_path / "home", database_url=database_url, nats_url=nats_url,
                        nats_namespace=f"t{uuid4().hex[:12]}")
    built = Container(settings, Endpoints(database_url, nats_url, False, False))
    yield built
    built.close()
    asyncio.run(delete_streams(nats_url, built.topology))


async def delete_streams(nats_url: str, topology) -> None:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        for stream in (topology.ledger_stream, topology.tasks_stream, topology.dead_tasks_stream):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(stream)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_object_store(topology.adapters_bucket)
    finally:
        await client.close()


@pytest.fixture
def service(container: Container) -> LedgerService:
    return container.service


def ledger_size(container: Container) -> int:
    """How many events the ledger holds: what a refused command must leave unchanged."""
    with container.datastore.get_connection() as conn:
        return conn.execute("SELECT count(*) AS n FROM ledger_events").fetchone()["n"]
