"""The read models' checks, recorded: only an administrator rebuilds or verifies a view."""

from __future__ import annotations

from domain.read_models import ReadModelLog
from handlers import commands as c
from handlers.unit_of_work import CommandContext, UnitOfWork, require_admin

ACTION = "rebuild or verify a read model"


def record_read_model_check(svc: CommandContext, cmd: c.RecordReadModelCheck,
                            actor: c.Principal, unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    at, provenance = svc.clock(), svc.provenance(cmd)
    log = unit.get_or_create(ReadModelLog, cmd.view, lambda: ReadModelLog.open(
        cmd.view, at=at, provenance=provenance))
    log.checked(position=cmd.position, live_digest=cmd.live_digest,
                rebuilt_digest=cmd.rebuilt_digest, replaced=cmd.replaced,
                first_difference=cmd.first_difference, at=at, provenance=provenance)
    return {"view": cmd.view}
