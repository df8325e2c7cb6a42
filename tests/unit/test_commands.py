import ast
import re
from decimal import Decimal
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.karma import MAX_AMOUNT
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


# -- amounts: plain decimal notation only, kept canonical (issue 17) ---------------------------

ACCEPTED_AMOUNTS = [
    ("5", "5.000000"), ("2.5", "2.500000"), ("0.000001", "0.000001"),
    ("1000000", "1000000.000000"), ("007.50", "7.500000"), ("1000000.000000", "1000000.000000"),
    (5, "5.000000"),  # a JSON integer: exact, and JSON writes it in plain notation
    (Decimal("1E+6"), "1000000.000000"),  # the server's own code passes values, not text
]
REFUSED_AMOUNTS = [
    "5_000", "١٢", "٥", "５", " 5 ", "5 ", "\t5", "5\n", "1e6", "1E+6", "1e-3", "NaN", "nan",
    "Infinity", "-Infinity", "inf", "+5", "5.", ".5", "0x10", "", "1,5", "-5", "0", "-0",
    "0.0000001", "1000000.000001", "2.5000000", "1" * 40,
    1.5, 1e6, 0.1, 1e400, float("nan"), True, None, [5], {"amount": 5}, -5, 0, 10**7,
    Decimal("NaN"), Decimal("Infinity"), Decimal("-1"),
]


@pytest.mark.parametrize(("written", "stored"), ACCEPTED_AMOUNTS,
                         ids=[repr(a) for a, _ in ACCEPTED_AMOUNTS])
def test_an_amount_in_plain_notation_is_kept_in_its_canonical_form(written, stored):
    for command in (c.MintKarma(agent_id="a", amount=written, reason="r"),
                    c.BurnKarma(agent_id="a", amount=written, reason="r")):
        assert str(command.amount) == stored
    issued = c.IssueTask(task_type="Fetch_Paper", base_reward=written, stake_required=written)
    assert str(issued.base_reward) == str(issued.stake_required) == stored


@pytest.mark.parametrize("written", REFUSED_AMOUNTS, ids=[repr(a) for a in REFUSED_AMOUNTS])
def test_an_amount_in_any_other_spelling_is_refused_with_a_clear_error(written):
    with pytest.raises(ValidationError, match="amount"):
        c.MintKarma(agent_id="a", amount=written, reason="r")
    if written not in ("0", "-0", 0, None):  # a task may offer nothing, or the policy's
        with pytest.raises(ValidationError, match="amount"):
            c.IssueTask(task_type="Fetch_Paper", base_reward=written)


@pytest.mark.parametrize("written", ["0", "-0", "0.000000", 0])
def test_a_reward_may_be_zero_and_zero_has_one_spelling(written):
    assert str(c.IssueTask(task_type="Fetch_Paper", base_reward=written).base_reward) == "0.000000"


@given(st.decimals(min_value=Decimal("0.000001"), max_value=MAX_AMOUNT, places=6,
                   allow_nan=False, allow_infinity=False))
def test_every_amount_written_plainly_reads_back_as_its_value_with_six_places(value):
    written = f"{value:f}"
    amount = c.MintKarma(agent_id="a", amount=written, reason="r").amount
    assert amount == value and str(amount) == f"{value:.6f}"


@given(st.text(max_size=12))
def test_text_is_an_amount_only_in_ascii_plain_decimal_notation(text):
    try:
        c.IssueTask(task_type="Fetch_Paper", base_reward=text)
    except ValidationError:
        return
    assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text, re.ASCII), text


KARMA_FIELDS = {"amount", "base_reward", "stake_required"}


def test_every_command_that_carries_karma_uses_the_one_amount_type():
    parsers = {id(get_args(c.Amount)[1]), id(get_args(c.Reward)[1])}
    carried = 0
    for command in _commands():
        for name, info in command.model_fields.items():
            if name in KARMA_FIELDS:
                carried += 1
                metadata = [*info.metadata, *(meta for arg in get_args(info.annotation)
                                              for meta in get_args(arg)[1:])]
                assert any(id(meta) in parsers for meta in metadata), (command, name)
    assert carried >= 4


# -- provenance: the client names its request, the server its causes --------------------------


def test_a_command_has_no_field_for_a_cause_only_a_client_reference():
    for command in _commands():
        assert {"causation_id", "correlation_id"}.isdisjoint(command.model_fields), command
        assert "client_reference" in command.model_fields


@pytest.mark.parametrize("legacy", ["causation_id", "correlation_id", "client_reference"])
def test_a_cause_a_client_sends_is_read_as_its_reference(legacy):
    command = c.MintKarma.model_validate(
        {"agent_id": "a", "amount": "1", "reason": "r", legacy: "task/sum-lora@6"})
    assert command.client_reference == "task/sum-lora@6"
    assert command.model_dump()["client_reference"] == "task/sum-lora@6"
    assert "client_reference" not in c.MintKarma(agent_id="a", amount="1",
                                                 reason="r").model_dump()


def test_a_command_names_one_client_reference():
    with pytest.raises(ValidationError):
        c.MintKarma.model_validate({"agent_id": "a", "amount": "1", "reason": "r",
                                    "causation_id": "x", "correlation_id": "y"})


def test_the_doors_never_hand_the_service_a_cause():
    """Causes come from the server's own code (``Cause``); a door that built one could pass
    a client's text as a cause, so none may name it."""
    doors = Path(__file__).parents[2] / "entrypoints"
    for source in doors.rglob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            assert not (isinstance(node, ast.Name) and node.id == "Cause"), source
            assert not (isinstance(node, ast.alias) and node.name.endswith("Cause")), source
            assert not (isinstance(node, ast.keyword) and node.arg == "cause"), source


def _commands() -> list[type[c.Command]]:
    found, pending = [], list(c.Command.__subclasses__())
    while pending:
        klass = pending.pop()
        found.append(klass)
        pending.extend(klass.__subclasses__())
    return found


@pytest.mark.parametrize("command", [
    lambda: c.RegisterAgent(agent_id="reader-1", role="reader", persona="a\x00b"),
    lambda: c.IssueTask(task_id="t-1", task_type="Fetch_Paper", payload={"url": "a\x00"}),
    lambda: c.IssueTask(task_id="t-1", task_type="Fetch_Paper", payload={"k\x00": 1}),
    lambda: c.IssueTask(task_id="t-1", task_type="Fetch_Paper",
                        payload={"deep": [{"list": ["ok", "\x00"]}]}),
    lambda: c.MintKarma(agent_id="reader-1", amount="1", reason="x\x00",
                        client_reference="r"),
], ids=["field", "payload value", "payload key", "nested", "reason"])
def test_a_nul_character_anywhere_in_a_command_is_refused(command):
    """PostgreSQL's jsonb cannot hold NUL: an event carrying one would be saved and then stop
    every view that folds it, for good."""
    with pytest.raises(ValidationError, match="NUL character"):
        command()


def test_the_text_backslash_u0000_is_not_a_nul_and_is_kept():
    """The NUL check reads the command's JSON first, where a NUL is escaped as \\u0000: the
    same six characters written out in a text must not be taken for one."""
    command = c.IssueTask(task_id="t-1", task_type="Fetch_Paper",
                          payload={"note": "escape it as \\u0000"})
    assert command.payload["note"] == "escape it as \\u0000"
