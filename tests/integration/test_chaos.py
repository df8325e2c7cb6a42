"""kill -9 chaos, small: ``bench.chaos`` for about twenty seconds on the suite's PostgreSQL and
NATS. The installed ``karma serve``, ``karma relay``, ``karma projections run`` and two
``karma worker`` processes, and writers over HTTP and A2A, are each killed with SIGKILL at
random (seeded) instants and started again, several times each, while the writers write.
Afterwards nothing acknowledged is missing, nothing is on JetStream twice or out of order,
every task ended once, every view equals its replay and the economy's invariants hold."""

from __future__ import annotations

import pytest

from bench.chaos import KINDS, ChaosConfig, run_chaos


@pytest.mark.slow
def test_every_process_killed_at_random_instants_loses_and_doubles_nothing(container,
                                                                             tmp_path):
    config = ChaosConfig(seconds=20, events=100_000, seed=19, kill_gap_s=(0.3, 1.5),
                         downtime_s=(0.0, 0.8), settle_timeout_s=120)

    outcome = run_chaos(config, container, tmp_path / "chaos")

    assert all(outcome.kills[kind] >= 1 for kind in KINDS), outcome.kills
    assert outcome.settled, outcome.problems
    assert outcome.events > 100 and outcome.tasks > 10
    assert (outcome.lost, outcome.duplicated, outcome.out_of_order, outcome.wrong_event) == (
        0, 0, 0, 0), outcome.problems
    assert outcome.on_stream == outcome.events
    assert (outcome.missing_writes, outcome.doubled_writes, outcome.writes_refused) == (
        0, 0, 0), outcome.problems
    assert (outcome.tasks_unended, outcome.tasks_ended_twice) == (0, 0), outcome.problems
    assert (outcome.views_behind, outcome.digest_mismatches) == (0, 0), outcome.problems
    assert outcome.invariant_violations == 0, outcome.problems
    assert outcome.ok
