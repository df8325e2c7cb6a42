"""The read side's answers as typed shapes: what the HTTP API's GET routes answer and what
its OpenAPI document shows.

The queries still return rows (dicts); these models describe them, field for field in the
order the rows carry them, so that the JSON is unchanged. Amounts are ``Decimal``: they go
out as strings ("6.066200"), exact. A row shape follows its table in ``migrations/``: a
column added there needs its field here (tests/e2e/test_openapi.py compares the two).
``ErrorResponse`` is what every refused request answers, whichever door and status.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Agent(BaseModel):
    """An agent as the agents view holds it."""

    agent_id: str
    role: str
    persona: str
    skills: list[str]
    status: str
    registered_at: datetime
    retired_at: datetime | None


class Run(BaseModel):
    run_id: str
    workflow: str
    config_digest: str
    seed: int
    code_version: str
    outcome: str | None
    started_at: datetime
    finished_at: datetime | None
    replay_of: str | None = Field(description="The recorded run this one replays, if any.")


class Task(BaseModel):
    """A task on the task board, in its A2A state."""

    task_id: str
    run_id: str | None
    task_type: str
    state: str
    assignee: str | None
    parent_id: str | None
    tags: list[str]
    base_reward: Decimal
    stake_required: Decimal
    artifacts: int
    reviews: int
    quality_sum: Decimal
    last_reason: str | None
    issued_at: datetime
    updated_at: datetime


class KarmaBalance(BaseModel):
    """An agent's karma account: what it holds, what is in escrow, what it gained and lost."""

    agent_id: str
    balance: Decimal
    minted: Decimal
    burned: Decimal
    entries: int
    updated_at: datetime
    escrow: Decimal
    decayed: Decimal
    slashed: Decimal


class Standing(BaseModel):
    """A row of the global leaderboard."""

    rank: int
    agent_id: str
    balance: Decimal
    escrow: Decimal
    minted: Decimal
    burned: Decimal
    decayed: Decimal
    slashed: Decimal
    entries: int


class ScopedStanding(BaseModel):
    """A row of a tag's leaderboard (``?tag=``): karma earned in that scope."""

    rank: int
    agent_id: str
    scope: str
    balance: Decimal


class KarmaEntry(BaseModel):
    """One movement of an agent's karma, with the formula's inputs and its cause."""

    position: int
    agent_id: str
    kind: str
    amount: Decimal
    task_id: str | None
    scope: list[str]
    reason: str
    formula: dict[str, Any]
    run_id: str | None
    caused_by: str
    occurred_at: datetime


class Stake(BaseModel):
    task_id: str
    agent_id: str
    amount: Decimal
    state: str
    reason: str | None
    staked_at: datetime
    settled_at: datetime | None


class ScopedBalance(BaseModel):
    scope: str
    balance: Decimal


class Rating(BaseModel):
    """A Glicko-2 rating in one scope."""

    scope: str
    rating: float
    deviation: float
    volatility: float
    games: int


class Scopes(BaseModel):
    """An agent's karma and ratings per scope tag."""

    karma: list[ScopedBalance]
    ratings: list[Rating]


class Event(BaseModel):
    """An event of the ledger as the audit log holds it, with its provenance."""

    position: int
    event_id: str
    originator_id: str
    originator_version: int
    context: str
    event_type: str
    occurred_at: datetime
    run_id: str | None
    correlation_id: str
    causation_id: str
    payload: dict[str, Any]


class EventStep(BaseModel):
    """An event in the chain behind a karma entry."""

    event_id: str
    event_type: str
    position: int
    at: datetime
    summary: str


class CommandStep(BaseModel):
    """A cause that is a command, not an event (a decay, karma entered by hand)."""

    model_config = ConfigDict(extra="forbid")

    event_id: str
    event_type: Literal["command"]
    summary: str


class ExplainedEntry(KarmaEntry):
    contribution: Decimal = Field(description="What the entry added to the explained total.")
    chain: list[EventStep | CommandStep] = Field(description="Its causes, nearest first.")


class Explanation(BaseModel):
    """Why an agent has its karma (globally or in ``scope``): the entries add up to it."""

    agent_id: str
    scope: str | None
    total: Decimal
    balance: Decimal
    entries: list[ExplainedEntry]
    complete: bool = Field(True, description=(
        "Whether `entries` are all the entries (their total is the balance) or, with "
        "`newest`, one page of the newest (their total is what that page added)."))


class RunTimeline(BaseModel):
    run: Run
    counts: dict[str, int] = Field(description="Events of the run by type.")
    task_seconds: dict[str, float] = Field(description="Each task's time from start to end.")
    events: list[Event]


class BalanceAt(BaseModel):
    """An account's karma at a ledger position."""

    balance: Decimal
    escrow: Decimal
    minted: Decimal
    burned: Decimal
    decayed: Decimal
    slashed: Decimal


class TaskAt(BaseModel):
    """A task of the run at a ledger position, folded from its events."""

    state: str | None
    assignee: str | None
    artifacts: int
    reviews: int
    task_type: str | None


class RunState(BaseModel):
    """A run's read models as they were at a ledger position."""

    run_id: str
    position: int
    at: datetime | None = Field(description="When the run's last event up to then occurred.")
    balances: dict[str, BalanceAt] = Field(description="By agent.")
    scoped: dict[str, dict[str, Decimal]] = Field(description="By agent, then scope tag.")
    tasks: dict[str, TaskAt] = Field(description="By task id.")


class BalanceChange(BaseModel):
    before: BalanceAt | None = Field(alias="from")
    after: BalanceAt | None = Field(alias="to")


class ScopedChange(BaseModel):
    before: dict[str, Decimal] | None = Field(alias="from")
    after: dict[str, Decimal] | None = Field(alias="to")


class TaskChange(BaseModel):
    before: TaskAt | None = Field(alias="from")
    after: TaskAt | None = Field(alias="to")


class RunDiff(BaseModel):
    """What changed in a run between two ledger positions: only what differs."""

    start: int = Field(alias="from")
    end: int = Field(alias="to")
    balances: dict[str, BalanceChange]
    scoped: dict[str, ScopedChange]
    tasks: dict[str, TaskChange]


class AggregateAt(BaseModel):
    """An aggregate at a version: its attributes, which depend on its kind."""

    id: str
    version: int
    state: dict[str, Any]


class ProjectionStatus(BaseModel):
    head: int = Field(description="The ledger's last position.")
    projections: dict[str, int] = Field(description="Each view's position.")


class GraphNode(BaseModel):
    id: str
    label: str
    properties: dict[str, Any]


class GraphEdge(BaseModel):
    id: str
    source: str
    target: str
    relation: str
    properties: dict[str, Any]
    score: float
    status: Literal["active", "superseded"]
    superseded_by: str | None


class GraphEnrichment(BaseModel):
    enrichment_id: str
    goal: str
    state: str
    accepted: int
    rejected: int
    requested_at: datetime
    requested_position: int


class KnowledgeGraph(BaseModel):
    """A knowledge graph now, or as it was at ``position``."""

    graph_id: str
    position: int | None
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    enrichments: list[GraphEnrichment]


class Problem(BaseModel):
    """One thing wrong with a request's input, where it is and why."""

    loc: list[str] = Field(description="Where: `body`, `query` or `path`, then the field.")
    msg: str
    type: str = Field(description="The kind of problem, e.g. `missing`, `less_than_equal`.")


class ErrorDetail(BaseModel):
    code: str = Field(description=(
        "What went wrong, for programs: `unauthorized`, `forbidden`, `not_found`, "
        "`malformed_json`, `payload_too_large`, `unsupported_media_type`, `invalid_request`, "
        "`unavailable`, or a domain error's code (`insufficient_karma`, "
        "`illegal_transition`, `unknown_tag`, ...)."))
    message: str = Field(description="What went wrong, for people.")
    details: list[Problem] | None = Field(
        None, description="Every problem of an invalid request (422).")


class ErrorResponse(BaseModel):
    """What every refused request answers; nothing was written."""

    error: ErrorDetail


ERROR_STATUSES: dict[int, str] = {
    400: "Malformed JSON, or a body that is not UTF-8.",
    401: "A missing, unknown or revoked bearer token.",
    403: "The token may not do this: an agent acting as another, an agent minting.",
    404: "An unknown id or path.",
    409: "The ledger's state refuses it: an illegal task transition, a burn above the "
         "balance, a duplicate review, a retired agent, a race lost to another writer.",
    413: "A body over the size limit (256 KiB by default), declared or streamed.",
    415: "A body that is not sent as JSON: send `Content-Type: application/json`.",
    422: "Invalid input: a field missing, of the wrong type or out of range, an unknown field "
         "or task type, an amount that is not finite, a domain rule such as an unknown tag, "
         "`min_position` past the ledger's head.",
    503: "Retry: the read models did not reach `min_position` within 5 s, or the database "
         "is unavailable (restarting, say; `Retry-After` says when) and nothing was written.",
}
"""Each status a route may refuse a request with, and what it means."""


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI's ``responses`` for ``statuses``: each one answers an ErrorResponse."""
    return {status: {"model": ErrorResponse, "description": ERROR_STATUSES[status]}
            for status in statuses}


# -- the dashboard's reads (entrypoints/dashboard.py) -----------------------------------------

class EventLinks(BaseModel):
    """An event, the CloudEvent JetStream carries for it, its cause, and the first events it
    caused and that share its correlation (with their counts)."""

    event: Event
    cause: Event | None = Field(description="The event that caused it; none for a command.")
    caused: list[Event]
    caused_count: int
    correlated: list[Event]
    correlated_count: int
    envelope: dict[str, Any] | None = Field(description=(
        "The CloudEvents 1.0 envelope, as on the LEDGER stream."))


class EventType(BaseModel):
    event_type: str


class Tag(BaseModel):
    tag: str


class AgentRating(BaseModel):
    agent_id: str
    scope: str
    rating: float
    deviation: float
    games: int


class ViewHealth(BaseModel):
    name: str
    position: int
    lag: int = Field(description="Events the view is behind the ledger's head.")
    digest: str | None = Field(description="Only when asked for (`digests=true`).")


class ProjectionsHealth(BaseModel):
    head: int
    views: list[ViewHealth]
    checks: list[Event] = Field(description="The newest recorded checks (ReadModelChecked).")


class ViewCheck(BaseModel):
    view: str
    position: int
    live_digest: str
    rebuilt_digest: str
    identical: bool
    replaced: bool = Field(description="A rebuild (true) or a verification (false).")


class Learner(BaseModel):
    learner: str


class LearnerEvent(BaseModel):
    """One of a learner's events: where and when, then the event's own fields."""

    model_config = ConfigDict(extra="allow")

    position: int
    at: datetime


class LearnerEvents(BaseModel):
    TrainingRunStarted: list[LearnerEvent]
    UpdateGated: list[LearnerEvent]
    RhiMeasured: list[LearnerEvent]
    LearningRateLowered: list[LearnerEvent]
    AdapterDeployed: list[LearnerEvent]
    ConsolidationRefused: list[LearnerEvent]
    AdapterRolledBack: list[LearnerEvent]


class LearnerHealth(BaseModel):
    learner: str
    events: LearnerEvents


class ColonyRun(BaseModel):
    run_id: str


class GenerationSummary(BaseModel):
    generation: int
    summary: dict[str, Any]


class FamilyAccuracy(BaseModel):
    generation: int
    family: str
    accuracy: float
    episodes: int


class OrganelleEarnings(BaseModel):
    generation: int
    organelle_id: str
    income: Decimal
    cost: Decimal


class AssimilationRecord(BaseModel):
    kind: str
    generation: int | None
    record: dict[str, Any]
    recorded_at: datetime


class EcologyCharts(BaseModel):
    run_id: str
    generations: list[GenerationSummary]
    families: list[FamilyAccuracy]
    organelles: list[OrganelleEarnings]
    assimilation: list[AssimilationRecord]


class GraphSummary(BaseModel):
    graph_id: str
    enrichments: int
    accepted: int
    rejected: int
    last_position: int
