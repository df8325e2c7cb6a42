"""Issue 17 over the real HTTP API: a client cannot name a cause, record an instant beyond the
server's clock, or spell an amount two ways. Each refusal writes nothing."""

from decimal import Decimal

import pytest

from tests.conftest import ledger_size
from tests.e2e.test_http_api import admin, agent_headers, client  # noqa: F401 - fixtures


def reviewed_task(container, client, admin):  # noqa: F811 - the fixtures above
    """reader-1's task, reviewed; the reader's own commands try to forge their causes."""
    reader = agent_headers(container, client, admin, "reader-1")
    reviewer = agent_headers(container, client, admin, "reviewer")
    task_id = client.post("/v1/tasks", headers=admin, json={
        "task_type": "Summarise_Paper", "tags": ["peft"], "base_reward": "3"}).json()["task_id"]
    forged = {"causation_id": "task/sum-lora@6"}
    steps = [
        (admin, f"/v1/tasks/{task_id}/assign", {"agent_id": "reader-1"}),
        (reader, f"/v1/tasks/{task_id}/start", {"agent_id": "reader-1", **forged}),
        (reader, f"/v1/tasks/{task_id}/artifacts",
         {"parts": [{"kind": "text", "text": "LoRA"}], "correlation_id": "my-session"}),
        (reader, f"/v1/tasks/{task_id}/complete", {"duration_ms": 900, "tokens": 120, **forged}),
        (reviewer, f"/v1/tasks/{task_id}/reviews",
         {"reviewer_id": "reviewer", "quality": 1.2, "rationale": "accurate"}),
    ]
    for headers, path, body in steps:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 200, (path, response.text)
    events = list(container.ledger.events.get(f"task/{task_id}"))
    review = next(e for e in events if type(e).__name__ == "ReviewScored")
    return task_id, events, review.event_id


def test_causes_a_client_sends_are_kept_only_as_its_reference(container, client, admin):  # noqa: F811
    task_id, events, review = reviewed_task(container, client, admin)
    by_type = {type(e).__name__: e.provenance for e in events}
    assert by_type["TaskStarted"].causation_id.startswith("command:StartTask:")
    assert by_type["TaskStarted"].client_reference == "task/sum-lora@6"
    assert by_type["ArtifactProduced"].correlation_id != "my-session"
    assert by_type["ArtifactProduced"].client_reference == "my-session"
    assert by_type["TaskCompleted"].causation_id.startswith("command:CompleteTask:")
    # An admin mints by hand, naming the real review as the cause: it is still a hand entry.
    response = client.post("/v1/karma/mint", headers=admin, json={
        "agent_id": "reader-1", "amount": "2.5", "reason": "bonus", "causation_id": review})
    assert response.status_code == 200, response.text
    minted = list(container.ledger.events.get("karma/reader-1"))[-1]
    assert minted.provenance.causation_id.startswith("command:MintKarma:")
    assert minted.provenance.client_reference == review
    assert str(minted.amount) == "2.500000"
    why = client.get("/v1/karma/reader-1/why", headers=admin,
                     params={"min_position": response.json()["position"]}).json()
    bonus = next(e for e in why["entries"] if e["reason"] == "bonus")
    assert bonus["caused_by"] == minted.provenance.causation_id
    assert [step["summary"] for step in bonus["chain"]] == ["entered by hand (MintKarma)"]
    paid_by_review = [e["reason"] for e in why["entries"] if e["caused_by"] == review]
    assert paid_by_review and all(r.startswith("review of task") for r in paid_by_review)
    audit = client.get("/v1/events", headers=admin,
                       params={"min_position": response.json()["position"]}).json()
    causes = {row["event_type"]: row["causation_id"] for row in audit}
    assert "task/sum-lora@6" not in [row["causation_id"] for row in audit]
    assert [row["causation_id"] for row in audit if row["payload"].get("reason") == "bonus"
            ] == [minted.provenance.causation_id]
    assert causes["TaskCompleted"].startswith("command:CompleteTask:")


def test_a_decay_beyond_the_clock_is_refused_and_writes_nothing(container, client, admin):  # noqa: F811
    agent_headers(container, client, admin, "reader-1")
    client.post("/v1/karma/mint", headers=admin,
                json={"agent_id": "reader-1", "amount": "1000000", "reason": "seed"})
    before = ledger_size(container)
    for as_of in ("2100-01-01T00:00:00Z", "2099-01-01T00:00:00+02:00"):
        response = client.post("/v1/karma/decay", headers=admin,
                               json={"as_of": as_of, "agent_ids": ["reader-1"]})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "future_instant" and "server's clock" in error["message"]
    assert ledger_size(container) == before
    balance = container.ledger.repository.get("karma/reader-1").balance
    assert balance == Decimal(1_000_000)


REFUSED_SPELLINGS = ["5_000", "١٢", " 5 ", "1e6", "1E+6", "NaN", "Infinity", "+5", ".5", "5.",
                     "0.0000001", "-5", 1.5, 1e6, 2.0, True, None]


@pytest.mark.parametrize("amount", REFUSED_SPELLINGS, ids=[repr(a) for a in REFUSED_SPELLINGS])
def test_an_amount_not_in_plain_decimal_notation_is_refused_and_writes_nothing(
        container, client, admin, amount):  # noqa: F811
    agent_headers(container, client, admin, "reader-1")
    before = ledger_size(container)
    for path, body in [
        ("/v1/karma/mint", {"agent_id": "reader-1", "amount": amount, "reason": "r"}),
        ("/v1/karma/burn", {"agent_id": "reader-1", "amount": amount, "reason": "r"}),
        ("/v1/tasks", {"task_type": "Fetch_Paper", "base_reward": amount}),
        ("/v1/tasks", {"task_type": "Fetch_Paper", "stake_required": amount}),
    ]:
        if amount is None and path == "/v1/tasks":
            continue  # no reward named: the policy's
        response = client.post(path, json=body, headers=admin)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_request"
        assert "amount" in response.json()["error"]["message"]
    assert ledger_size(container) == before


@pytest.mark.parametrize(("amount", "stored"), [("2.5", "2.500000"), (5, "5.000000"),
                                                 ("1000000", "1000000.000000")])
def test_an_amount_in_plain_notation_is_stored_in_its_canonical_form(
        container, client, admin, amount, stored):  # noqa: F811
    agent_headers(container, client, admin, "reader-1")
    response = client.post("/v1/karma/mint", headers=admin,
                           json={"agent_id": "reader-1", "amount": amount, "reason": "r"})
    assert response.status_code == 200, response.text
    assert str(list(container.ledger.events.get("karma/reader-1"))[-1].amount) == stored
