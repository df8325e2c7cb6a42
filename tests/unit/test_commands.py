import pytest
from pydantic import ValidationError

from handlers import commands as c


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-1", "0", "1e400", "0.0000001"])
def test_a_karma_command_refuses_amounts_that_are_not_finite_and_positive(amount):
    with pytest.raises(ValidationError):
        c.MintKarma(agent_id="a", amount=amount, reason="r")


def test_a_payload_over_the_limit_is_refused():
    with pytest.raises(ValidationError, match="limit"):
        c.IssueTask(task_type="Fetch_Paper", payload={"blob": "x" * c.PAYLOAD_LIMIT_BYTES})


@pytest.mark.parametrize("agent_id", ["", "Upper", "has space", "a" * 65, "../etc"])
def test_ids_must_be_short_lower_case_slugs(agent_id):
    with pytest.raises(ValidationError):
        c.RegisterAgent(agent_id=agent_id, role="reader")


def test_scores_must_be_finite():
    with pytest.raises(ValidationError):
        c.AssignTask(task_id="t", agent_id="a", scores={"a": float("nan")})


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError):
        c.RegisterAgent(agent_id="a", role="reader", karma=100)
