"""The ledger's recorder keeps the library recorder's contract: positions contiguous and
ascending in save order, a collision refused whole."""

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from tests.conftest import ledger_size


def stored(key: str, count: int, first_version: int = 1) -> list[StoredEvent]:
    # Every byte value in each state: the arrays travel in binary.
    return [StoredEvent(originator_id=f"probe/{key}", originator_version=v,
                        topic="probe:Probe", state=bytes(range(256)) + b"%d" % v)
            for v in range(first_version, first_version + count)]


@pytest.mark.parametrize("count", [1, 7, 500])
def test_a_save_gets_contiguous_ascending_positions_in_its_order(container, count):
    recorder = container.ledger.recorder
    first = recorder.insert_events(stored("a", 3))
    saved = recorder.insert_events(stored("b", count))
    assert first == [1, 2, 3]
    assert saved == list(range(4, 4 + count))
    read_back = recorder.select_notifications(start=4, limit=count)
    assert [(n.id, n.originator_version, n.state) for n in read_back] == [
        (position, event.originator_version, event.state)
        for position, event in zip(saved, stored("b", count), strict=True)]


def test_a_save_that_collides_raises_and_writes_nothing(container):
    recorder = container.ledger.recorder
    recorder.insert_events(stored("c", 5))
    before = ledger_size(container)
    with pytest.raises(IntegrityError):
        recorder.insert_events([*stored("fresh", 10), *stored("c", 3, first_version=5)])
    assert ledger_size(container) == before
    assert recorder.select_events("probe/fresh") == []
    after = recorder.insert_events(stored("d", 64))
    assert after[0] > 5 and after == list(range(after[0], after[0] + 64))
