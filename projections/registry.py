"""The projections this deployment keeps, in one list."""

from projections.agents import AgentsProjection
from projections.audit_log import AuditLogProjection
from projections.base import Projection
from projections.ecology_telemetry import EcologyTelemetryProjection
from projections.karma_balances import KarmaBalancesProjection
from projections.knowledge_graph import KnowledgeGraphProjection
from projections.reputation import ReputationProjection
from projections.task_board import TaskBoardProjection


def all_projections() -> list[Projection]:
    return [
        AgentsProjection(),
        TaskBoardProjection(),
        KarmaBalancesProjection(),
        ReputationProjection(),
        AuditLogProjection(),
        KnowledgeGraphProjection(),
        EcologyTelemetryProjection(),
    ]
