"""Command handlers of the organelle ecology (seed 002): load the colony or the organelle,
let it decide (its energy policy is the colony's, recorded when it was founded), save."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from domain.ecology import ENERGY_AMOUNTS, Colony, Organelle
from domain.energy import EnergyPolicy
from domain.errors import AlreadyExistsError, IllegalTransitionError
from handlers import commands as c
from handlers.unit_of_work import CommandContext, UnitOfWork, require_admin

ACTION = "run the ecology"


def found_colony(svc: CommandContext, cmd: c.FoundColony, actor: c.Principal,
                 unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    if unit.exists(Colony, cmd.colony_id):
        raise AlreadyExistsError(f"colony {cmd.colony_id!r} already exists")
    unknown = set(cmd.energy) - set(ENERGY_AMOUNTS)
    if unknown:
        raise IllegalTransitionError(f"unknown energy settings {sorted(unknown)}")
    policy = EnergyPolicy(**cmd.energy, strikes_to_cull=cmd.strikes_to_cull)
    unit.add(Colony.found(cmd.colony_id, config_digest=cmd.config_digest, policy=policy,
                          at=svc.clock(), provenance=svc.provenance(cmd)))
    return {"colony_id": cmd.colony_id}


def spawn_organelle(svc: CommandContext, cmd: c.SpawnOrganelle, actor: c.Principal,
                    unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    colony = unit.get(Colony, cmd.colony_id)
    if unit.exists(Organelle, cmd.organelle_id):
        raise AlreadyExistsError(f"organelle {cmd.organelle_id!r} already exists")
    for parent in cmd.parents:
        unit.get(Organelle, parent)
    unit.add(Organelle.spawn(cmd.organelle_id, colony_id=cmd.colony_id,
                             policy=colony.energy_policy, adapter_digest=cmd.adapter_digest,
                             parents=tuple(cmd.parents), at=svc.clock(),
                             provenance=svc.provenance(cmd)))
    return {"organelle_id": cmd.organelle_id}


def score_episode(svc: CommandContext, cmd: c.ScoreEpisode, actor: c.Principal,
                  unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    organelle, policy = _organelle_and_policy(unit, cmd.organelle_id)
    at, provenance = svc.clock(), svc.provenance(cmd)
    income = policy.income(cmd.score, cmd.cell_success)
    cost = policy.compute_cost(cmd.tokens, cmd.latency_ms / 1000)
    episode = cmd.model_dump(include={"generation", "family", "difficulty", "question",
                                      "answer", "score", "checker", "tokens", "latency_ms"})
    organelle.score_episode(policy, at=at, provenance=provenance, income=income, cost=cost,
                            **episode)
    return {"organelle_id": cmd.organelle_id}


def record_work(svc: CommandContext, cmd: c.RecordWork, actor: c.Principal,
                unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    organelle, policy = _organelle_and_policy(unit, cmd.organelle_id)
    organelle.record_work(policy, at=svc.clock(), provenance=svc.provenance(cmd),
                          **cmd.model_dump(exclude={"organelle_id", "run_id",
                                                    "client_reference"}))
    return {"organelle_id": cmd.organelle_id}


def top_up_energy(svc: CommandContext, cmd: c.TopUpEnergy, actor: c.Principal,
                  unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    policy = unit.get(Colony, cmd.colony_id).energy_policy
    unit.get(Organelle, cmd.organelle_id).top_up(policy, at=svc.clock(),
                                                 provenance=svc.provenance(cmd))
    return {"organelle_id": cmd.organelle_id}


def charge_ticket(svc: CommandContext, cmd: c.ChargeTicket, actor: c.Principal,
                  unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    policy = unit.get(Colony, cmd.colony_id).energy_policy
    unit.get(Organelle, cmd.organelle_id).charge(
        policy.ticket, f"ticket of generation {cmd.generation}", policy, at=svc.clock(),
        provenance=svc.provenance(cmd))
    return {"organelle_id": cmd.organelle_id}


def close_generation(svc: CommandContext, cmd: c.CloseGeneration, actor: c.Principal,
                     unit: UnitOfWork) -> dict[str, str]:
    return _on_colony(svc, cmd, actor, unit, Colony.close_generation, _payload(cmd))


def score_holdout(svc: CommandContext, cmd: c.ScoreHoldout, actor: c.Principal,
                  unit: UnitOfWork) -> dict[str, str]:
    return _on_colony(svc, cmd, actor, unit, Colony.record_holdout, _payload(cmd))


def record_assimilation(svc: CommandContext, cmd: c.RecordAssimilation, actor: c.Principal,
                        unit: UnitOfWork) -> dict[str, str]:
    return _on_colony(svc, cmd, actor, unit, Colony.record_attempt, cmd.attempt)


def record_merge(svc: CommandContext, cmd: c.RecordMerge, actor: c.Principal,
                 unit: UnitOfWork) -> dict[str, str]:
    return _on_colony(svc, cmd, actor, unit, Colony.record_merge, cmd.merge)


def record_baseline(svc: CommandContext, cmd: c.RecordBaseline, actor: c.Principal,
                    unit: UnitOfWork) -> dict[str, str]:
    return _on_colony(svc, cmd, actor, unit, Colony.record_baseline, cmd.baseline)


def _on_colony(svc: CommandContext, cmd: c.Command, actor: c.Principal, unit: UnitOfWork,
               record: Callable[..., None], fields: Mapping[str, Any]) -> dict[str, str]:
    """What the colony's recording commands share: an admin's, applied to the colony with
    the command's fields as the event's."""
    require_admin(actor, ACTION)
    record(unit.get(Colony, cmd.colony_id), at=svc.clock(), provenance=svc.provenance(cmd),
           **fields)
    return {"colony_id": cmd.colony_id}


def _organelle_and_policy(unit: UnitOfWork, organelle_id: str) -> tuple[Organelle,
                                                                      EnergyPolicy]:
    """The organelle and its colony's energy policy, which prices everything it does."""
    organelle = unit.get(Organelle, organelle_id)
    return organelle, unit.get(Colony, organelle.colony_id).energy_policy


def _payload(cmd: c.Command) -> dict[str, object]:
    """The command's fields that become the event's: all but its colony and provenance."""
    return cmd.model_dump(exclude={"colony_id", "run_id", "client_reference"})
