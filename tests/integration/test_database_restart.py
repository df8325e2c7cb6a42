"""PostgreSQL stopped and started again under a writing client: while it is down, commands are
refused with a clear, retryable 503 and nothing is half-written; once it is back, the same
app writes again without a restart, and the views catch up to the ledger."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from uuid import uuid4

from fastapi.testclient import TestClient

from adapters import embedded_postgres
from app.bootstrap import Container, Endpoints
from app.settings import Settings
from entrypoints.http_api import create_app
from readside.queries import Queries
from tests.conftest import delete_streams


def test_a_database_restart_mid_ingest_is_a_retryable_error_and_loses_nothing(nats_url,
                                                                               tmp_path):
    data = tmp_path / "postgres"
    url = embedded_postgres.start(data).url
    settings = Settings(home=tmp_path / "home", database_url=url, nats_url=nats_url,
                        nats_namespace=f"r{uuid4().hex[:12]}")
    container = Container(settings, Endpoints(url, nats_url, False, False))
    admin = {"Authorization": f"Bearer {container.tokens.create('admin').token}"}
    mint = {"agent_id": "reader-1", "amount": "1.5", "reason": "load"}
    written = 0
    try:
        with TestClient(create_app(container, follow_projections=False)) as client:
            assert client.post("/v1/agents", headers=admin,
                               json={"agent_id": "reader-1", "role": "reader"}).status_code == 200
            for _ in range(5):
                assert client.post("/v1/karma/mint", headers=admin, json=mint).status_code == 200
                written += 1

            embedded_postgres.stop(data)
            refused = client.post("/v1/karma/mint", headers=admin, json=mint)
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "database_unavailable"
            assert refused.headers["Retry-After"]

            embedded_postgres.start(data)
            deadline = time.monotonic() + 30
            while (answer := client.post("/v1/karma/mint", headers=admin, json=mint)
                   ).status_code != 200:
                assert answer.status_code == 503, answer.text  # retryable until it is back
                assert time.monotonic() < deadline, "the app did not write again"
                time.sleep(0.5)
            written += 1

        account = container.ledger.repository.get("karma/reader-1")
        assert account.balance == Decimal("1.5") * written  # every answered 200, and only those
        container.projections.catch_up()
        assert Queries(container.datastore).karma("reader-1")["balance"] == account.balance
    finally:
        container.close()
        embedded_postgres.stop(data)
        asyncio.run(delete_streams(nats_url, container.topology))
