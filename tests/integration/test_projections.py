"""Projections against a real PostgreSQL: exactly once through crashes, live, rebuildable."""

import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal

import pytest

from app.bootstrap import conninfo_to_url
from handlers import commands as c
from projections.audit_log import AuditLogProjection
from projections.runner import ProjectionRunner, UnknownProjectionError
from readside.queries import Queries
from tests.builders import completed_task_via, register
from tests.conftest import ledger_size


class CrashingAuditLog(AuditLogProjection):
    """Fails in the middle of its work on a batch, after it has written the batch's rows."""

    def __init__(self, crash_at_position: int) -> None:
        self.crash_at_position = crash_at_position

    def apply_staged(self, curs, after):
        super().apply_staged(curs, after)
        last = curs.execute("SELECT max(position) AS last FROM staged_events").fetchone()
        if last["last"] >= self.crash_at_position:
            raise RuntimeError("worker crashed mid-batch")


def mint_many(service, agent_id: str, count: int, amount: str = "0.5") -> None:
    for start in range(0, count, 100):
        service.execute_batch([
            c.MintKarma(agent_id=agent_id, amount=Decimal(amount), reason="r")
            for _ in range(min(100, count - start))
        ])


def audit_positions(container) -> list[int]:
    with container.datastore.get_connection() as conn:
        return [r["position"] for r in
                conn.execute("SELECT position FROM audit_log ORDER BY position").fetchall()]


def test_a_crash_mid_batch_rolls_back_and_a_restart_applies_every_event_once(container):
    register(container.service, "reader-1")
    mint_many(container.service, "reader-1", 300)
    head = ledger_size(container)
    crashing = ProjectionRunner(container.ledger, [CrashingAuditLog(crash_at_position=150)],
                                batch_size=100)
    with pytest.raises(RuntimeError, match="mid-batch"):
        crashing.catch_up()
    assert crashing.positions()["audit_log"] == 100
    assert audit_positions(container) == list(range(1, 101))
    container.projections.catch_up()
    assert audit_positions(container) == list(range(1, head + 1))


def test_two_runners_of_one_projection_take_turns_and_apply_each_event_once(container):
    register(container.service, "reader-1")
    mint_many(container.service, "reader-1", 400, amount="0.25")
    runners = [ProjectionRunner(type(container.ledger)(env=container.ledger.env),
                                container.projections.projections.values(), batch_size=37)
               for _ in range(3)]
    threads = [threading.Thread(target=r.catch_up) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Queries(container.datastore).karma("reader-1")["balance"] == Decimal(100)
    assert audit_positions(container) == list(range(1, ledger_size(container) + 1))
    for runner in runners:
        runner.ledger.close()


def test_a_projection_worker_killed_mid_stream_resumes_without_loss_or_duplicates(
        container, database_url, tmp_path):
    register(container.service, "reader-1")
    env = {**os.environ, "KARMA_DATABASE_URL": conninfo_to_url(database_url),
           "KARMA_NATS_URL": "nats://127.0.0.1:1", "KARMA_HOME": str(tmp_path)}
    worker = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "projections", "run"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        mint_many(container.service, "reader-1", 2000, amount="0.001")
        deadline = time.monotonic() + 20
        while container.projections.positions()["audit_log"] < 200:
            assert time.monotonic() < deadline, worker.stderr.read().decode()
            time.sleep(0.01)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    container.projections.catch_up()
    assert audit_positions(container) == list(range(1, ledger_size(container) + 1))
    assert Queries(container.datastore).karma("reader-1")["balance"] == Decimal(2)


def test_the_follower_applies_new_events_live(container):
    stop = threading.Event()
    follower = threading.Thread(target=container.projections.follow, args=(stop, 5.0))
    follower.start()
    try:
        register(container.service, "reader-1")
        result = container.service.execute(
            c.MintKarma(agent_id="reader-1", amount=Decimal(2), reason="r"))
        # Woken by NOTIFY: well before the 5 s poll interval.
        assert container.projections.wait_for(result.position, timeout=3)
    finally:
        stop.set()
        follower.join()
    assert Queries(container.datastore).karma("reader-1")["balance"] == Decimal(2)


def test_a_rebuild_from_event_one_matches_the_live_digest(container):
    register(container.service, "reader-1", "reviewer")
    run_id = container.service.execute(c.StartRun(workflow="w")).ids["run_id"]
    task_id = completed_task_via(container.service, run_id=run_id)
    container.service.execute(c.ScoreReview(task_id=task_id, reviewer_id="reviewer",
                                            quality=Decimal("0.9"), rationale="ok"))
    mint_many(container.service, "reader-1", 50, amount="1.333333")
    container.projections.catch_up()
    for name in container.projections.projections:
        report = container.projections.rebuild(name)
        assert report.identical, name
        assert report.position == ledger_size(container)


def test_a_tampered_view_is_caught_by_the_rebuild(container):
    register(container.service, "reader-1")
    mint_many(container.service, "reader-1", 5)
    container.projections.catch_up()
    with container.datastore.get_connection() as conn:
        conn.execute("UPDATE karma_balances SET balance = balance + 1000")
    report = container.projections.rebuild("karma_balances")
    assert not report.identical
    assert Queries(container.datastore).karma("reader-1")["balance"] == Decimal("2.5")


def test_a_rebuild_of_all_views_repairs_a_forged_an_erased_and_an_invented_row(container):
    register(container.service, "reader-1")
    mint_many(container.service, "reader-1", 30)
    container.projections.catch_up()
    with container.datastore.get_connection() as conn:
        conn.execute("UPDATE audit_log SET causation_id = 'forged' WHERE position = 3")
        conn.execute("DELETE FROM audit_log WHERE position = 5")
        conn.execute("INSERT INTO audit_log SELECT 10000, 'invented@1', originator_id,"
                     " originator_version, context, event_type, occurred_at, run_id,"
                     " correlation_id, causation_id, payload FROM audit_log WHERE position = 1")
    reports = {r.name: r for r in container.projections.rebuild_all()}
    assert [name for name, report in reports.items() if not report.identical] == ["audit_log"]
    assert all(r.identical for r in container.projections.rebuild_all(keep=False))
    assert audit_positions(container) == list(range(1, ledger_size(container) + 1))


def test_an_unknown_projection_is_named_in_the_error(container):
    with pytest.raises(UnknownProjectionError, match="known: agents"):
        container.projections.rebuild("leaderbord")
