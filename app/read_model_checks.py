"""Rebuild or verify views, and record what was found (``domain.read_models``): the same for
``karma projections rebuild`` and the dashboard's projections page."""

from __future__ import annotations

from collections.abc import Sequence

from app.bootstrap import Container
from handlers import commands as c
from handlers.read_model_handlers import ACTION
from handlers.unit_of_work import require_admin
from projections.runner import Difference, RebuildReport


def check_views(container: Container, names: Sequence[str] | None, *, replace: bool,
                actor: c.Principal = c.ADMIN) -> list[RebuildReport]:
    """Replay the views from event 1 and compare digests; with ``replace`` the replayed rows
    become the live ones. The actor must be an administrator, checked before any replay; the
    reports are recorded in one transaction afterwards."""
    require_admin(actor, ACTION)  # before the replay: a refused caller costs nothing
    runner = container.projections
    chosen = [runner.get(name).name for name in names] if names else list(runner.projections)
    reports = runner.rebuild_all(chosen, keep=replace, locate=True)
    container.service.execute_batch([
        c.RecordReadModelCheck(view=report.name, position=report.position,
                               live_digest=report.live_digest,
                               rebuilt_digest=report.rebuilt_digest, replaced=replace,
                               first_difference=describe(report.first_difference))
        for report in reports], actor)
    return reports


def describe(difference: Difference | None) -> str | None:
    if difference is None:
        return None
    where = f" at position {difference.position}" if difference.position is not None else ""
    return (f"{difference.table}{where}: live {difference.live!r}, "
            f"replayed {difference.replayed!r}; event {difference.event}")[:1024]
