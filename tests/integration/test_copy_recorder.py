"""The ledger's COPY recorder keeps the library recorder's contract on large saves."""

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from adapters.copy_recorder import COPY_THRESHOLD
from tests.conftest import ledger_size


def stored(key: str, count: int, first_version: int = 1) -> list[StoredEvent]:
    return [StoredEvent(originator_id=f"probe/{key}", originator_version=v,
                        topic="probe:Probe", state=b'{"n": %d}' % v)
            for v in range(first_version, first_version + count)]


def test_a_large_save_gets_contiguous_ascending_positions(container):
    recorder = container.ledger.recorder
    small = recorder.insert_events(stored("a", 3))
    large = recorder.insert_events(stored("b", COPY_THRESHOLD * 3))
    assert small == [1, 2, 3]
    assert large == list(range(4, 4 + COPY_THRESHOLD * 3))
    read_back = recorder.select_events("probe/b")
    assert [e.state for e in read_back] == [e.state for e in stored("b", COPY_THRESHOLD * 3)]


def test_a_large_save_that_collides_raises_and_writes_nothing(container):
    recorder = container.ledger.recorder
    recorder.insert_events(stored("c", 5))
    before = ledger_size(container)
    with pytest.raises(IntegrityError):
        recorder.insert_events(stored("c", COPY_THRESHOLD, first_version=4))
    assert ledger_size(container) == before
    after_gap = recorder.insert_events(stored("d", COPY_THRESHOLD))
    assert after_gap[0] > 5 and after_gap == sorted(after_gap)
