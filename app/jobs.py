"""Jobs the service runs on a schedule: decaying karma."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from app.bootstrap import Container
from handlers import commands as c
from handlers.service import MAX_BATCH
from readside.queries import Queries

log = structlog.get_logger(__name__)


def decay_all(container: Container, as_of: datetime) -> int:
    """Decay every account (as the balances view lists them) up to ``as_of``, in batches;
    returns how many were decayed (a period already decayed is skipped)."""
    container.projections.catch_up(["karma_balances"])
    agent_ids = Queries(container.datastore).agent_ids()
    decayed = 0
    for start in range(0, len(agent_ids), MAX_BATCH):
        result = container.service.execute(
            c.DecayKarma(as_of=as_of, agent_ids=agent_ids[start:start + MAX_BATCH]))
        decayed += int(result.ids["decayed_accounts"])
    return decayed


def decay_periodically(container: Container, every_s: float, stop: threading.Event,
                       clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    while not stop.wait(every_s):
        try:
            log.info("karma decayed", accounts=decay_all(container, clock()))
        except Exception:  # noqa: BLE001 - the next period tries again
            log.exception("karma decay failed; will try next period")
