"""POST /v1/generate, /v1/reward and /v1/feedback on the real app, host and reward model:
tokens required, the server's record of what was said, feedback that becomes training data
only from the generation's requester, refused feedback that writes nothing, and a deployed
adapter swapped in (then rolled back) between requests."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.learning import FeedbackGiven, Generation, ResponseGenerated, TrainingSet
from entrypoints import http_api
from learning import loop
from learning.config import load_config
from learning.serving import Serving
from tests.conftest import ledger_size
from tests.integration.test_learning_loop import fill

pytestmark = pytest.mark.slow

CONFIG = {"learner": "t", "training_set": "set", "steps": 1, "sft_batch": 1, "pair_batch": 1,
          "held_out": 0.0, "probe_prompts": 2, "max_new_tokens": 4, "max_prompt_chars": 300,
          "thresholds": {"consolidate": 0.01}}


@pytest.fixture
def api(container, monkeypatch) -> Iterator[tuple[TestClient, Any]]:
    config = load_config(**CONFIG)
    fill(container, "set")
    loop.train_reward(container, config, epochs=30, seed=0)
    serving = Serving(container, config, refresh_s=0.0)
    monkeypatch.setattr(http_api, "Serving", lambda *_: serving)
    with TestClient(http_api.create_app(container, follow_projections=False)) as client:
        yield client, serving


def bearer(container, role: str, agent: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {container.tokens.create(role, agent).token}"}


def events_of(container, aggregate_id: str) -> list[Any]:
    return list(container.ledger.events.get(aggregate_id))


def test_generate_reward_and_feedback_become_training_data(container, api):
    client, _ = api
    alice, bob = bearer(container, "agent", "alice"), bearer(container, "agent", "bob")
    body = {"prompt": "Say one thing about LoRA:", "n": 2, "max_new_tokens": 8,
            "temperature": 0.9, "seed": 3}
    assert client.post("/v1/generate", json=body).status_code == 401
    answer = client.post("/v1/generate", json=body, headers=alice)
    assert answer.status_code == 200, answer.text
    generated = answer.json()
    assert len(generated["responses"]) == 2 and generated["adapter_digest"] is None
    [recorded] = events_of(container, Generation.id_for(generated["generation_id"]))
    assert isinstance(recorded, ResponseGenerated)
    assert recorded.requested_by == "alice"
    assert list(recorded.responses) == generated["responses"]

    scored = client.post("/v1/reward", json={"prompt": body["prompt"],
                                             "response": generated["responses"][0]},
                         headers=bob)
    assert scored.status_code == 200
    assert 0 <= scored.json()["vector"]["grounding"] <= 1
    assert -1 <= scored.json()["vector"]["empathy"] <= 1

    before = ledger_size(container)
    feedback = {"generation_id": generated["generation_id"], "rating": 2,
                "emotions": ["very_positive", "high_arousal"], "chosen": 1,
                "correction": "LoRA trains two small matrices per layer."}
    refused = [
        (client.post("/v1/feedback", json=feedback, headers=bob), 403),
        (client.post("/v1/feedback", json={**feedback, "generation_id": "nope"},
                     headers=alice), 404),
        (client.post("/v1/feedback", json={**feedback, "rating": 3}, headers=alice), 422),
        (client.post("/v1/feedback", json={**feedback, "emotions": ["joy"]}, headers=alice),
         422),
        (client.post("/v1/feedback", json={**feedback, "correction": "x" * 40_000},
                     headers=alice), 422),
        (client.post("/v1/feedback", json={**feedback, "chosen": 3}, headers=alice), 409),
        (client.post("/v1/feedback", json={"generation_id": generated["generation_id"]},
                     headers=alice), 409),
    ]
    assert [r.status_code for r, _ in refused] == [status for _, status in refused]
    assert ledger_size(container) == before

    given = client.post("/v1/feedback", json=feedback, headers=alice)
    assert given.status_code == 200, given.text
    assert given.json()["retrain"]["examples"] >= 1 and not given.json()["retrain"]["started"]
    [judged] = [e for e in events_of(container, Generation.id_for(generated["generation_id"]))
                if isinstance(e, FeedbackGiven)]
    assert judged.rating == 2 and judged.given_by == "agent alice"
    items = events_of(container, TrainingSet.id_for("set"))[-2:]
    assert {type(e).__name__ for e in items} == {"SftExampleFormed", "PairFormed"}
    pair = next(e for e in items if type(e).__name__ == "PairFormed")
    assert pair.chosen == generated["responses"][1] and pair.labeller == "feedback"
    again = client.post("/v1/feedback", json=feedback, headers=alice)
    assert again.status_code == 409


def test_a_deployed_adapter_serves_the_next_request_and_a_rollback_restores_the_host(
        container, api):
    client, _ = api
    admin = bearer(container, "admin")
    body = {"prompt": "LoRA is", "max_new_tokens": 4}
    assert client.post("/v1/generate", json=body, headers=admin).json()["adapter_digest"] is None
    summary = loop.train(container, load_config(**CONFIG), run="r")
    assert loop.deploy(container, "t", summary.digest)
    served = client.post("/v1/generate", json=body, headers=admin).json()
    assert served["adapter_digest"] == summary.digest
    assert served["model"].endswith("+lora:" + summary.digest[7:19])
    assert loop.roll_back(container, "t", "test") is None
    assert client.post("/v1/generate", json=body, headers=admin).json()["adapter_digest"] is None
