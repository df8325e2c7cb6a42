"""Commands: what a caller asks the ledger to do, validated at the edge.

Every command may name the run it belongs to and carry a ``client_reference``: the caller's
own label for its request, kept verbatim on the events' provenance under that name. It is
never a cause: correlation and causation are the server's (``handlers.service``), derived from
the command and its batch, or given by the server's own code as a ``Cause`` that no
command field can carry. ``correlation_id`` and ``causation_id``, as clients sent them before,
are read as the client reference.

Amounts (``Amount``, ``Reward``) are written in plain decimal notation and kept in their
canonical form (``domain.karma.parse_amount``); instants may not lie beyond the server's clock
(the service checks every ``datetime`` a command carries).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from domain.base import SLUG_PATTERN
from domain.errors import InvalidAmountError
from domain.graph import GraphEdge, GraphNode
from domain.karma import AMOUNT_PLACES, MAX_AMOUNT, parse_amount
from domain.learning import Emotion
from domain.principals import ADMIN, Principal  # noqa: F401 - commands name who runs them
from domain.runs import RunOutcome
from domain.tasks import MAX_QUALITY, Part

PAYLOAD_LIMIT_BYTES = 64 * 1024
"""Largest task payload or artifact accepted, as JSON. Big content belongs in a file part."""

Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
TaskType = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
"""A task type is one NATS subject token (tasks.<type>): no dots, no wildcards."""
Text = Annotated[str, Field(max_length=4096)]
Reason = Annotated[str, Field(min_length=1, max_length=4096)]


def _amount_type(*, zero_allowed: bool) -> Any:
    """The one amount type of the commands: plain decimal notation as text (a JSON integer
    too), at most six places, up to MAX_AMOUNT; kept canonical (``parse_amount``)."""

    def parse(value: Any) -> Decimal:
        try:
            return parse_amount(value, zero_allowed=zero_allowed)
        except InvalidAmountError as error:  # a ValueError is what pydantic reports as such
            raise ValueError(str(error)) from None

    lowest = "0" if zero_allowed else f"0.{'0' * (AMOUNT_PLACES - 1)}1"
    schema = {
        "anyOf": [
            {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$", "examples": ["2.5"]},
            {"type": "integer", "minimum": 0 if zero_allowed else 1,
             "maximum": int(MAX_AMOUNT)},
        ],
        "description": (f"Karma, from {lowest} to {MAX_AMOUNT}, at most {AMOUNT_PLACES} "
                        "decimal places: a string in plain decimal notation (\"2.5\"; no "
                        "exponent, spaces or underscores) or a JSON integer. Kept to "
                        f"{AMOUNT_PLACES} places."),
    }
    return Annotated[Decimal, PlainValidator(parse, json_schema_input_type=str),
                     WithJsonSchema(schema, mode="validation")]


Amount = _amount_type(zero_allowed=False)
"""An amount of karma that moves: greater than zero."""
Reward = _amount_type(zero_allowed=True)
"""An amount of karma a task offers or asks for: zero allowed."""
Score = Annotated[float, Field(allow_inf_nan=False)]
Tags = Annotated[list[Slug], Field(max_length=32)]


def _within_limit(value: Any) -> Any:
    size = len(orjson.dumps(value, default=_dump_model))
    if size > PAYLOAD_LIMIT_BYTES:
        raise ValueError(f"is {size} bytes as JSON; the limit is {PAYLOAD_LIMIT_BYTES}")
    return value


def _dump_model(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot encode {type(value).__name__}")


def _may_hold_nul(command: BaseModel) -> bool:
    """False when ``command`` certainly holds no NUL: its JSON (encoded in Rust, a tenth of
    the cost of walking it in Python) escapes one as ``\\u0000``. True sends it to
    ``_nul_at``, which says where (a literal backslash-u0000 in a text is a false alarm)."""
    try:
        return b"\\u0000" in command.__pydantic_serializer__.to_json(command, warnings=False)
    except ValueError:  # a value JSON cannot hold (raw bytes in a payload): walk it
        return True


def _nul_at(value: Any, path: str) -> str | None:
    """Where a NUL character hides in ``value`` (a field, an item, a key), if anywhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, BaseModel):
        value = dict(value)
    if isinstance(value, dict):
        return next((found for key, item in value.items()
                     if (found := _nul_at(key, f"{path} key {key!r}") or
                         _nul_at(item, f"{path}.{key}"))), None)
    if isinstance(value, list | tuple):
        return next((found for index, item in enumerate(value)
                     if (found := _nul_at(item, f"{path}[{index}]"))), None)
    return None


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="after")
    def _storable(self) -> Command:
        """PostgreSQL's jsonb, which the read models fold events through, cannot hold a NUL
        character: an event carrying one would be saved and then stop every view for good."""
        if not _may_hold_nul(self):
            return self
        found = _nul_at(dict(self), type(self).__name__)
        if found:
            raise ValueError(f"{found} holds a NUL character (\\u0000), which cannot be stored")
        return self

    run_id: Slug | None = None
    client_reference: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        default=None,
        validation_alias=AliasChoices("client_reference", "correlation_id", "causation_id"),
        # Dumped only when set: handlers that turn a command's fields into an event's leave
        # provenance out by name, and commands with no reference dump as before.
        exclude_if=lambda value: value is None,
        description=("The caller's own reference for this request, kept verbatim on what it "
                     "records as `client_reference`; never a cause. (`correlation_id` or "
                     "`causation_id`, as sent before, are read as this.)"))


class RegisterAgent(Command):
    agent_id: Slug
    role: Slug
    persona: Annotated[str, Field(max_length=1024)] = ""
    skills: Tags = []


class EnsureAgent(RegisterAgent):
    """Registers the agent unless it is registered already (then changes nothing): what a
    workload does for the agents it brings, run after run."""


class RetireAgent(Command):
    agent_id: Slug
    reason: Text = ""


class StartRun(Command):
    """Starts a run. ``run_id`` names the new run (generated when absent)."""

    workflow: Annotated[str, Field(min_length=1, max_length=128)]
    config_digest: Annotated[str, Field(max_length=128)] = ""
    seed: int = 0
    code_version: Annotated[str, Field(max_length=128)] = ""
    replay_of: Slug | None = None
    """The recorded run this one replays: its work then moves no real karma."""


class FinishRun(Command):
    run_id: Slug
    outcome: RunOutcome
    summary: Text = ""


class IssueTask(Command):
    task_id: Slug | None = None
    task_type: TaskType
    payload: Annotated[dict[str, Any], AfterValidator(_within_limit)] = {}
    tags: Tags = []
    base_reward: Reward | None = None
    """Default: the economy policy's base reward for the task type."""
    stake_required: Reward | None = None
    """Default: what the policy's staking rule asks for the base reward."""
    parent_id: Slug | None = None


class TaskCommand(Command):
    task_id: Slug


class AssignTask(TaskCommand):
    agent_id: Slug
    scores: Annotated[dict[str, Score], Field(max_length=64)] = {}
    reason: Text = ""


class StartTask(TaskCommand):
    agent_id: Slug


class RecordArtifact(TaskCommand):
    name: Annotated[str, Field(max_length=256)] = ""
    parts: Annotated[list[Part], Field(min_length=1, max_length=32),
                     AfterValidator(_within_limit)]


class RecordModelCall(TaskCommand):
    adapter: Annotated[str, Field(min_length=1, max_length=64)]
    model: Annotated[str, Field(min_length=1, max_length=256)]
    purpose: Annotated[str, Field(max_length=128)] = ""
    prompt: Annotated[str, Field(max_length=PAYLOAD_LIMIT_BYTES)]
    response: Annotated[str, Field(max_length=PAYLOAD_LIMIT_BYTES)]
    prompt_tokens: Annotated[int, Field(ge=0)] = 0
    completion_tokens: Annotated[int, Field(ge=0)] = 0
    latency_ms: Annotated[int, Field(ge=0)] = 0


class RequestInput(TaskCommand):
    question: Reason


class CompleteTask(TaskCommand):
    duration_ms: Annotated[int, Field(ge=0)] = 0
    tokens: Annotated[int, Field(ge=0)] = 0
    cpu_ms: Annotated[int, Field(ge=0)] = 0


class FailTask(TaskCommand):
    reason: Reason


class CancelTask(TaskCommand):
    reason: Reason


class RejectTask(TaskCommand):
    agent_id: Slug
    reason: Reason


class ScoreReview(TaskCommand):
    reviewer_id: Slug
    quality: Annotated[Decimal, Field(ge=0, le=MAX_QUALITY, max_digits=8, decimal_places=6)]
    rationale: Reason


class ScheduleTask(TaskCommand):
    """Assign the task to the candidate the karma-aware scheduler ranks first."""

    candidates: Annotated[list[Slug], Field(min_length=1, max_length=256)]
    loads: Annotated[dict[Slug, Annotated[int, Field(ge=0)]], Field(max_length=256)] = {}
    """Tasks each candidate already holds, as the dispatcher counts them."""


class CastPeerVote(TaskCommand):
    """The assignee of ``task_id`` votes on the work of its parent task's assignee."""

    voter_id: Slug
    up: bool


class DecayKarma(Command):
    """Apply exponential decay to these agents' accounts up to ``as_of``."""

    as_of: AwareDatetime
    agent_ids: Annotated[list[Slug], Field(min_length=1, max_length=500)]


class KarmaCommand(Command):
    agent_id: Slug
    amount: Amount
    reason: Reason
    task_id: Slug | None = None
    scope: Tags = []


class MintKarma(KarmaCommand):
    pass


class BurnKarma(KarmaCommand):
    pass


# -- knowledge-graph enrichment (seed 001) ----------------------------------------------------
# Each step of a KARMA enrichment (knowledge.enrichment) is one of these, on the graph
# ``graph_id``; the enrichment's id is their correlation id.


UnitInterval = Annotated[float, Field(ge=0, le=1)]


class GraphCommand(Command):
    graph_id: Slug
    enrichment_id: Slug


class RequestEnrichment(GraphCommand):
    """Open an enrichment of the graph (created when new) with the caller's graph merged in."""

    goal: Annotated[str, Field(min_length=1)]
    instructions: str = ""
    model: str = ""
    documents: Annotated[list[str], Field(min_length=1)]
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    settings: dict[str, Any] = {}


class RecordGraphModelCall(GraphCommand):
    """A KARMA agent's call of the model, kept for audit (the response's agent logs)."""

    agent: Slug
    adapter: str
    model: str
    prompt: str
    response: str
    prompt_tokens: Annotated[int, Field(ge=0)] = 0
    completion_tokens: Annotated[int, Field(ge=0)] = 0
    latency_ms: Annotated[int, Field(ge=0)] = 0
    parsed_successfully: bool
    error: str = ""


class RecordPlan(GraphCommand):
    objective: str
    tasks: list[str]
    success_metrics: list[str]
    parsed: bool


class ProposeTriple(GraphCommand):
    candidate_id: Slug
    document_index: Annotated[int, Field(ge=0)]
    subject: Annotated[str, Field(min_length=1)]
    predicate: Annotated[str, Field(min_length=1)]
    object: Annotated[str, Field(min_length=1)]
    confidence: UnitInterval
    justification: str = ""


class RejectTriple(GraphCommand):
    """Turn a candidate down before it meets the graph: unparsable, or the Validator's no."""

    candidate_id: Slug
    candidate: dict[str, Any]
    reason: Reason
    scores: dict[str, UnitInterval] = {}
    extractor_id: Slug | None = None
    """The Extractor that pays for it; None when the fault is not its (a failed call)."""


class DecideTriple(GraphCommand):
    """Merge a validated candidate into the graph: accepted, a duplicate, or a contradiction
    that the higher score wins (domain.graph.KnowledgeGraph.merge_candidate)."""

    candidate_id: Slug
    subject: Annotated[str, Field(min_length=1)]
    predicate: Annotated[str, Field(min_length=1)]
    object: Annotated[str, Field(min_length=1)]
    confidence: UnitInterval
    justification: str = ""
    scores: dict[str, UnitInterval]
    score: UnitInterval
    extractor_id: Slug
    validator_id: Slug


class CompleteEnrichment(GraphCommand):
    pass


# -- the organelle ecology (seed 002) ---------------------------------------------------------
# Commands of one ecology run; the colony's energy policy prices and culls its organelles.


class FoundColony(Command):
    colony_id: Slug
    config_digest: Annotated[str, Field(max_length=128)]
    energy: dict[str, Decimal]
    strikes_to_cull: Annotated[int, Field(ge=1)]


class SpawnOrganelle(Command):
    colony_id: Slug
    organelle_id: Slug
    adapter_digest: Annotated[str, Field(max_length=80)]
    parents: list[Slug] = []


class ScoreEpisode(Command):
    """An organelle's checked answer: recorded, paid at its cell's price and charged for its
    compute, both priced by the colony's energy policy (the ledger's, not the client's)."""

    organelle_id: Slug
    generation: Annotated[int, Field(ge=0)]
    family: Slug
    difficulty: Annotated[int, Field(ge=1)]
    question: Annotated[str, Field(max_length=4096)]
    answer: Annotated[str, Field(max_length=4096)]
    score: Annotated[float, Field(ge=0, le=1)]
    checker: Annotated[str, Field(max_length=80)]
    tokens: Annotated[int, Field(ge=0)]
    latency_ms: Annotated[int, Field(ge=0)]
    cell_success: Annotated[float, Field(ge=0, le=1)]
    """How often the cell's answers passed before this one: its price rises as this falls."""


class RecordWork(Command):
    """An organelle's work of a generation is recorded: what it learned, where it got to."""

    organelle_id: Slug
    generation: Annotated[int, Field(ge=1)]
    episodes: Annotated[int, Field(ge=0)]
    examples: Annotated[int, Field(ge=0)]
    steps: Annotated[int, Field(ge=0)]
    loss: Annotated[float | None, Field(allow_inf_nan=False)] = None
    sample_seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    train_seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    adapter_digest: Annotated[str, Field(max_length=80)]
    worker: Annotated[str, Field(max_length=128)] = ""


class TopUpEnergy(Command):
    """Credit the organelle the top-up its colony's policy grants at its ROI, if any."""

    colony_id: Slug
    organelle_id: Slug
    generation: Annotated[int, Field(ge=1)]


class ChargeTicket(Command):
    """A generation's ticket: the cost of staying alive."""

    colony_id: Slug
    organelle_id: Slug
    generation: Annotated[int, Field(ge=1)]


class CloseGeneration(Command):
    colony_id: Slug
    generation: Annotated[int, Field(ge=1)]
    living: Annotated[int, Field(ge=0)]
    culled: Annotated[int, Field(ge=0)]
    episodes: Annotated[int, Field(ge=0)]
    mean_score: Annotated[float, Field(ge=0, le=1)]
    energy_total: Annotated[Decimal, Field(ge=0)]
    energy_gini: Annotated[float, Field(ge=0, le=1)]
    effective_population: Annotated[float, Field(ge=0)] = 0.0
    species: dict[str, int] = {}
    top_ups: Annotated[int, Field(ge=0)] = 0


class ScoreHoldout(Command):
    colony_id: Slug
    generation: Annotated[int, Field(ge=0)]
    adapter: Slug | None
    adapter_digest: str | None = None
    family: Slug
    correct: Annotated[int, Field(ge=0)]
    total: Annotated[int, Field(ge=1)]


class RecordAssimilation(Command):
    colony_id: Slug
    attempt: dict[str, Any]
    """The AssimilationAttempted fields: the test's numbers, thresholds and verdict."""


class RecordMerge(Command):
    colony_id: Slug
    merge: dict[str, Any]
    """The OrganellesMerged fields: the certificate."""


class RecordBaseline(Command):
    colony_id: Slug
    baseline: dict[str, Any]
    """The BaselineTrained fields."""


# -- dual-channel learning (seed 003) ---------------------------------------------------------
# The training set's items are known by the digest of their content (computed by the handler,
# never sent): harvesting the same history twice adds nothing.

LearningText = Annotated[str, Field(min_length=1, max_length=32_768)]
Unit = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Digest = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
Sources = Annotated[dict[Annotated[str, Field(max_length=64)],
                         Annotated[str, Field(max_length=256)]], Field(max_length=16)]


class OpenTrainingSet(Command):
    training_set: Slug
    manifold: dict[str, Any]
    """The reward manifold (``configs/learning/manifold.yaml``) its labels will lie on."""


class TrainingItem(Command):
    """What every item of a training set carries: how strongly it teaches, how safe it is,
    who judged it, and the events it came from."""

    training_set: Slug
    intensity: Unit
    safety: Unit
    labeller: Annotated[str, Field(min_length=1, max_length=128)]
    category: Annotated[str, Field(max_length=64)] = ""
    source: Sources = {}


class LabelSample(TrainingItem):
    prompt: LearningText
    response: LearningText
    vector: dict[Annotated[str, Field(max_length=48)], float | None]


class FormPair(TrainingItem):
    prompt: LearningText
    chosen: LearningText
    rejected: LearningText
    margin: Unit


class FormSftExample(TrainingItem):
    prompt: LearningText
    response: LearningText


class OpenLearner(Command):
    learner: Slug
    host_model: Annotated[str, Field(min_length=1, max_length=256)]
    training_set: Slug
    """The training set whose manifold the learner's reward models score on."""
    learning_rate: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


class RecordRewardModel(Command):
    learner: Slug
    digest: Digest
    data_digest: Digest
    samples: Annotated[int, Field(ge=1)]
    validation: Annotated[int, Field(ge=0)]
    losses: dict[str, Annotated[float, Field(allow_inf_nan=False)] | None]
    calibration: dict[str, dict[str, Annotated[float, Field(allow_inf_nan=False)] | None]]
    path: Annotated[str, Field(max_length=1024)]


class StartTrainingRun(Command):
    learner: Slug
    run: Slug
    config: dict[str, Any]
    base_digest: Digest | None = None
    reward_model: Digest | None = None
    data_digest: Digest
    data: dict[str, Annotated[int, Field(ge=0)]]


class GateUpdate(Command):
    """An update's measured health: the ledger decides, under the run's thresholds, whether
    the trainer applies it (the answer's ``decision``)."""

    learner: Slug
    run: Slug
    partial_rhi: Unit
    dcs: Unit
    gvs: Unit
    gvi: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    loss: Annotated[float, Field(allow_inf_nan=False)]
    sft_loss: Annotated[float, Field(allow_inf_nan=False)] | None = None
    preference_loss: Annotated[float, Field(allow_inf_nan=False)] | None = None
    learning_rate: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    examples: Annotated[int, Field(ge=0)]
    pairs: Annotated[int, Field(ge=0)]


class RecordAdapter(Command):
    learner: Slug
    run: Slug
    digest: Digest
    parent: Digest | None = None
    decisions: dict[str, Annotated[int, Field(ge=0)]]
    path: Annotated[str, Field(max_length=1024)]


class MeasureRhi(Command):
    learner: Slug
    run: Slug
    digest: Digest
    rhi: Unit
    components: dict[str, Unit]
    weights: dict[str, Unit]
    calibration: dict[str, Annotated[float, Field(allow_inf_nan=False)]]


class DeployAdapter(Command):
    """Serve a trained adapter, if its recorded RHI allows consolidation."""

    learner: Slug
    digest: Digest


class RollBackAdapter(Command):
    learner: Slug
    reason: Reason


class RecordGeneration(Command):
    """What the served model answered (``POST /v1/generate``): built by the server from its
    own generation, never sent by a client."""

    generation_id: Slug
    learner: Slug
    requested_by: Annotated[str, Field(min_length=1, max_length=256)]
    prompt: LearningText
    responses: Annotated[list[Annotated[str, Field(max_length=32_768)]],
                         Field(min_length=1, max_length=4)]
    adapter_digest: Digest | None = None
    model: Annotated[str, Field(max_length=256)]
    completion_tokens: Annotated[int, Field(ge=0)]
    latency_ms: Annotated[int, Field(ge=0)]


class GiveFeedback(Command):
    """A person's judgment of a generation: a rating (-2..2) and the seed's emotion labels
    are recorded; a correction becomes an SFT example and a choice between responses a
    preference pair in the training set."""

    generation_id: Slug
    training_set: Slug = "ledger"
    rating: Annotated[int, Field(ge=-2, le=2)] | None = None
    emotions: Annotated[list[Emotion], Field(max_length=10)] = []
    chosen: Annotated[int, Field(ge=0, le=3)] | None = None
    correction: Annotated[str, Field(min_length=1, max_length=32_768)] | None = None


class RecordReadModelCheck(Command):
    """What an administrator's rebuild or verification of a view found (admin only)."""

    view: Annotated[str, Field(min_length=1, max_length=64)]
    position: Annotated[int, Field(ge=0)]
    live_digest: Annotated[str, Field(min_length=1, max_length=80)]
    rebuilt_digest: Annotated[str, Field(min_length=1, max_length=80)]
    replaced: bool
    first_difference: Annotated[str, Field(max_length=1024)] | None = None
