"""Schemathesis against the real app (a real PostgreSQL and NATS, an admin token so that writes
are exercised): no operation answers a server error, a status its OpenAPI document does not
name, or a body that breaks its documented schema. Bounded and reproducible: a fixed number of
examples per operation and generation mode, derandomized, no example database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adapters.llm import OpenAICompatibleModel
from entrypoints.http_api import create_app
from tests.support.openai_server import serving

EXAMPLES = 10
"""Per operation and generation mode (positive, negative): about 800 requests in all."""
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance,
          content_type_conformance]
STREAMS = {"GET /v1/live"}
"""Server-sent events: an answer that does not end while the stream is there, no fit for
request-then-check; tests/e2e/test_dashboard.py drives the feed from a real browser."""
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))


def planner_only(prompt: str) -> str:
    """A scripted model for the enrichments schemathesis may post: a plan, then nothing."""
    if prompt.rstrip().endswith("Plan: {"):
        return '"objective": "o", "tasks": ["extract"], "success_metrics": ["m"]}'
    return "nothing here"


def without_lifespan(app: Any) -> Any:
    """``app`` for schemathesis's ASGI client, which would start the app's lifespan and keep
    it for the rest of the process; the test's TestClient runs it for the test's duration."""

    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("the lifespan is the test client's")  # "not supported"
        await app(scope, receive, send)

    return application


@pytest.fixture
def app(container) -> Iterator[Any]:
    with serving(planner_only) as server:
        model = OpenAICompatibleModel(server.url, "scripted", retries=0)
        built = create_app(container, model=model)
        with TestClient(built) as client:
            yield built, client


@pytest.mark.slow
def test_no_operation_answers_a_5xx_an_undocumented_status_or_a_wrong_body(container, app):
    built, client = app
    admin = {"Authorization": f"Bearer {container.tokens.create('admin').token}"}
    # Something for the generated ids to meet besides 404s.
    for body in ({"agent_id": "reader-1", "role": "reader", "skills": ["peft"]},):
        assert client.post("/v1/agents", json=body, headers=admin).status_code == 200
    schema = schemathesis.openapi.from_asgi("/openapi.json", without_lifespan(built))
    failures: list[str] = []
    operations = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        if operation.label in STREAMS:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @SETTINGS
            def call(case: schemathesis.Case) -> None:
                response = case.call(headers=admin)
                case.validate_response(response, checks=CHECKS)

            try:
                call()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to negate
            except Exception as error:  # noqa: BLE001 - every operation's failure is reported
                failures.append(f"{operation.label} ({mode.value}): {error}")
    elapsed = time.monotonic() - started
    assert operations >= 40
    assert not failures, "\n\n".join(failures)
    assert elapsed < 120, f"the bounded run took {elapsed:.0f} s"
