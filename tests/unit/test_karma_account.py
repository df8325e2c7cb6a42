from decimal import Decimal

import pytest

from adapters.event_store import PydanticMapper
from domain.base import Snapshot
from domain.errors import InsufficientKarmaError, InvalidAmountError
from domain.karma import validate_amount
from tests.builders import PROVENANCE, T0, account

P = {"reason": "r", "task_id": None, "scope": (), "at": T0, "provenance": PROVENANCE}


@pytest.mark.parametrize("amount", [
    "NaN", "Infinity", "-Infinity", float("nan"), float("inf"), -1, 0, "0.0000001",
    "1000000.5", "abc"])
def test_an_amount_that_is_not_a_finite_positive_six_place_number_is_refused(amount):
    with pytest.raises(InvalidAmountError):
        validate_amount(amount)


def test_minting_and_burning_move_the_balance_exactly():
    a = account()
    a.mint(Decimal("0.1"), **P)
    a.mint(Decimal("0.2"), **P)
    a.burn(Decimal("0.3"), **P)
    assert (a.balance, a.minted, a.burned) == (Decimal(0), Decimal("0.3"), Decimal("0.3"))


def test_burning_more_than_the_balance_is_refused_and_records_nothing():
    a = account(balance=Decimal(2))
    with pytest.raises(InsufficientKarmaError):
        a.burn(Decimal("2.000001"), **P)
    assert a.collect_events() == [] and a.balance == Decimal(2)


def test_a_snapshot_restores_the_account_exactly():
    a = account(balance=Decimal("12.5"))
    mapper = PydanticMapper()
    stored = mapper.to_stored_event(Snapshot.take(a))
    restored = mapper.to_domain_event(stored).mutate(None)
    assert restored.balance == Decimal("12.5") and isinstance(restored.balance, Decimal)
    assert restored.version == a.version and restored.created_on == a.created_on
