"""Command handlers of dual-channel learning (seed 003): the training set's items, the
learner's runs, gates, adapters, deployments and rollbacks. Items are named by the digest of
their content here, on the server: a client cannot make two items of one or one of two."""

from __future__ import annotations

import hashlib
from typing import Any

from domain.errors import AlreadyExistsError, IllegalTransitionError
from domain.learning import Generation, Learner, TrainingSet
from domain.reward import RewardLabel, RewardManifold
from handlers import commands as c
from handlers.unit_of_work import CommandContext, UnitOfWork, require_admin, require_self

ACTION = "train the learner"
ITEM_FIELDS = {"labeller", "category", "source"}


def content_digest(*parts: str) -> str:
    """The id of an item: its texts, each length-prefixed so that no two splits collide."""
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode()
        hasher.update(len(data).to_bytes(8, "big") + data)
    return "sha256:" + hasher.hexdigest()


def open_training_set(svc: CommandContext, cmd: c.OpenTrainingSet, actor: c.Principal,
                      unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    if unit.exists(TrainingSet, cmd.training_set):
        raise AlreadyExistsError(f"training set {cmd.training_set!r} already exists")
    try:
        manifold = RewardManifold.model_validate(cmd.manifold)
    except ValueError as error:
        raise IllegalTransitionError(f"not a reward manifold: {error}") from None
    unit.add(TrainingSet.open(cmd.training_set, manifold=manifold, at=svc.clock(),
                              provenance=svc.provenance(cmd)))
    return {"training_set": cmd.training_set}


def label_sample(svc: CommandContext, cmd: c.LabelSample, actor: c.Principal,
                 unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    training_set = unit.get(TrainingSet, cmd.training_set)
    sample_id = content_digest(cmd.prompt, cmd.response, cmd.labeller)
    label = RewardLabel(vector=cmd.vector, intensity=cmd.intensity, safety=cmd.safety)
    added = training_set.label(label, sample_id=sample_id, at=svc.clock(),
                               provenance=svc.provenance(cmd), prompt=cmd.prompt,
                               response=cmd.response, **_item(cmd))
    return {"sample_id": sample_id, "added": str(added).lower()}


def form_pair(svc: CommandContext, cmd: c.FormPair, actor: c.Principal,
              unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    pair_id = content_digest(cmd.prompt, cmd.chosen, cmd.rejected)
    added = unit.get(TrainingSet, cmd.training_set).pair(
        pair_id=pair_id, at=svc.clock(), provenance=svc.provenance(cmd), prompt=cmd.prompt,
        chosen=cmd.chosen, rejected=cmd.rejected, margin=cmd.margin, intensity=cmd.intensity,
        safety=cmd.safety, **_item(cmd))
    return {"pair_id": pair_id, "added": str(added).lower()}


def form_sft_example(svc: CommandContext, cmd: c.FormSftExample, actor: c.Principal,
                     unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    example_id = content_digest(cmd.prompt, cmd.response)
    added = unit.get(TrainingSet, cmd.training_set).example(
        example_id=example_id, at=svc.clock(), provenance=svc.provenance(cmd),
        prompt=cmd.prompt, response=cmd.response, intensity=cmd.intensity, safety=cmd.safety,
        **_item(cmd))
    return {"example_id": example_id, "added": str(added).lower()}


def open_learner(svc: CommandContext, cmd: c.OpenLearner, actor: c.Principal,
                 unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    if unit.exists(Learner, cmd.learner):
        raise AlreadyExistsError(f"learner {cmd.learner!r} already exists")
    manifold = unit.get(TrainingSet, cmd.training_set).manifold
    unit.add(Learner.open(cmd.learner, host_model=cmd.host_model, manifold=manifold,
                          learning_rate=cmd.learning_rate, at=svc.clock(),
                          provenance=svc.provenance(cmd)))
    return {"learner": cmd.learner}


def record_reward_model(svc: CommandContext, cmd: c.RecordRewardModel, actor: c.Principal,
                        unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    unit.get(Learner, cmd.learner).record_reward_model(
        at=svc.clock(), provenance=svc.provenance(cmd), **_fields(cmd))
    return {"learner": cmd.learner, "digest": cmd.digest}


def start_training_run(svc: CommandContext, cmd: c.StartTrainingRun, actor: c.Principal,
                       unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    learner = unit.get(Learner, cmd.learner)
    fields = _fields(cmd, "run", "config")
    learner.start_run(cmd.run, config=cmd.config, at=svc.clock(),
                      provenance=svc.provenance(cmd), learning_rate=learner.learning_rate,
                      **fields)
    return {"run": cmd.run, "learning_rate": repr(learner.learning_rate)}


def gate_update(svc: CommandContext, cmd: c.GateUpdate, actor: c.Principal,
                unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    decision = unit.get(Learner, cmd.learner).gate_update(
        cmd.run, at=svc.clock(), provenance=svc.provenance(cmd), **_fields(cmd, "run"))
    return {"decision": decision.value}


def record_adapter(svc: CommandContext, cmd: c.RecordAdapter, actor: c.Principal,
                   unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    unit.get(Learner, cmd.learner).record_adapter(
        cmd.run, at=svc.clock(), provenance=svc.provenance(cmd), **_fields(cmd, "run"))
    return {"digest": cmd.digest}


def measure_rhi(svc: CommandContext, cmd: c.MeasureRhi, actor: c.Principal,
                unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    decision = unit.get(Learner, cmd.learner).measure(
        cmd.run, at=svc.clock(), provenance=svc.provenance(cmd), **_fields(cmd, "run"))
    return {"slow_decision": decision.value}


def deploy_adapter(svc: CommandContext, cmd: c.DeployAdapter, actor: c.Principal,
                   unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    deployed = unit.get(Learner, cmd.learner).deploy(cmd.digest, at=svc.clock(),
                                                     provenance=svc.provenance(cmd))
    return {"deployed": str(deployed).lower()}


def roll_back_adapter(svc: CommandContext, cmd: c.RollBackAdapter, actor: c.Principal,
                      unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, ACTION)
    restored = unit.get(Learner, cmd.learner).roll_back(cmd.reason, at=svc.clock(),
                                                        provenance=svc.provenance(cmd))
    return {"restored": restored or "frozen host"}


def record_generation(svc: CommandContext, cmd: c.RecordGeneration, actor: c.Principal,
                      unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, "record what the served model answered")
    unit.get(Learner, cmd.learner)
    if unit.exists(Generation, cmd.generation_id):
        raise AlreadyExistsError(f"generation {cmd.generation_id!r} already exists")
    unit.add(Generation.record(cmd.generation_id, at=svc.clock(),
                               provenance=svc.provenance(cmd),
                               **cmd.model_dump(exclude={"generation_id", "run_id",
                                                         "client_reference"})))
    return {"generation_id": cmd.generation_id}


FEEDBACK_INTENSITY = 0.5
"""An item's weight when its feedback carries no rating; a rating of 2 (either way) is 1."""


def give_feedback(svc: CommandContext, cmd: c.GiveFeedback, actor: c.Principal,
                  unit: UnitOfWork) -> dict[str, str]:
    """Record the feedback and, in the same transaction, the training items it makes."""
    generation = unit.get(Generation, cmd.generation_id)
    require_self(actor, generation.requested_by, "judge this generation")
    at, provenance = svc.clock(), svc.provenance(cmd)
    generation.give_feedback(actor.describe(), at=at, provenance=provenance,
                             **cmd.model_dump(include={"rating", "emotions", "chosen",
                                                       "correction"}))
    intensity = abs(cmd.rating) / 2 if cmd.rating else FEEDBACK_INTENSITY
    source = {"generation": cmd.generation_id, "given_by": actor.describe()}
    item = {"intensity": intensity, "safety": 1.0, "labeller": "feedback",
            "category": "feedback", "source": source, "at": at, "provenance": provenance}
    ids: dict[str, str] = {"generation_id": cmd.generation_id}
    training_set = unit.get(TrainingSet, cmd.training_set) if (
        cmd.correction or cmd.chosen is not None) else None
    prompt, responses = generation.prompt, generation.responses
    if training_set is not None and cmd.correction:
        ids["example_id"] = content_digest(prompt, cmd.correction)
        training_set.example(example_id=ids["example_id"], prompt=prompt,
                             response=cmd.correction, **item)
    if training_set is not None and cmd.chosen is not None:
        chosen = responses[cmd.chosen]
        for index, rejected in enumerate(responses):
            if index != cmd.chosen and rejected != chosen:
                pair_id = content_digest(prompt, chosen, rejected)
                training_set.pair(pair_id=pair_id, prompt=prompt, chosen=chosen,
                                  rejected=rejected, margin=intensity, **item)
                ids[f"pair_id_{index}"] = pair_id
    return ids


def _item(cmd: c.Command) -> dict[str, Any]:
    return cmd.model_dump(include=ITEM_FIELDS)


def _fields(cmd: c.Command, *also: str) -> dict[str, Any]:
    """The command's own fields, without its addressing and the caller's reference."""
    return cmd.model_dump(exclude={"learner", "run_id", "client_reference", *also})
