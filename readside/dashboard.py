"""What the dashboard's pages read beyond the API's other queries: an event with the events it
caused, the views' health and their recorded checks, learners' health over time, the
ecology's charts and the graphs there are. Every query is bounded by an index and a limit:
the pages stay fast on a ledger of millions of events."""

from __future__ import annotations

from typing import Any

from domain.catalogue import recorded_class
from domain.errors import NotFoundError
from domain.karma import GLOBAL_SCOPE
from domain.learning import (
    AdapterDeployed,
    AdapterRolledBack,
    ConsolidationRefused,
    LearnerOpened,
    LearningRateLowered,
    RhiMeasured,
    TrainingRunStarted,
    UpdateGated,
)
from domain.read_models import ReadModelChecked
from readside.queries import Queries

LINKED = 50
"""Events shown as caused by, or correlated with, an event: the first ones, and how many."""
LEARNER_EVENTS = 5_000
"""The newest events of a learner read for its health page (a run of 30 updates writes ~35)."""
LEARNING_EVENTS = (TrainingRunStarted, UpdateGated, RhiMeasured, LearningRateLowered,
                   AdapterDeployed, ConsolidationRefused, AdapterRolledBack)


class DashboardQueries(Queries):
    def linked(self, column: str, value: str, limit: int = LINKED) -> dict[str, Any]:
        """The first ``limit`` events whose ``column`` (causation_id, correlation_id) is
        ``value``, and how many there are (each column has its index)."""
        assert column in ("causation_id", "correlation_id")
        events = self._all(f"SELECT * FROM audit_log WHERE {column} = %s ORDER BY position"
                           " LIMIT %s", (value, limit))
        count = self._all(f"SELECT count(*) AS n FROM audit_log WHERE {column} = %s",
                          (value,))[0]["n"]
        return {"events": events, "count": count}

    def newest_of_type(self, event_type: str, limit: int) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM audit_log WHERE event_type = %s"
                         " ORDER BY position DESC LIMIT %s", (event_type, limit))

    def newest_of(self, originator_id: str, limit: int) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM audit_log WHERE originator_id = %s"
                         " ORDER BY position DESC LIMIT %s", (originator_id, limit))

    def event_links(self, event_id: str) -> dict[str, Any]:
        """An event, the event that caused it (when the cause is an event), and the first
        events it caused and that share its correlation, with their counts."""
        event = self.event(event_id)
        if event is None:
            raise NotFoundError(f"unknown event {event_id!r}")
        caused = self.linked("causation_id", event_id, LINKED)
        correlated = self.linked("correlation_id", event["correlation_id"], LINKED)
        return {"event": event, "cause": self.event(event["causation_id"]),
                "caused": caused["events"], "caused_count": caused["count"],
                "correlated": correlated["events"], "correlated_count": correlated["count"]}

    def read_model_checks(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest recorded rebuilds and verifications, newest first."""
        rows = self.newest_of_type(ReadModelChecked.__name__, limit)
        return [row for row in rows if recorded_class(row) is ReadModelChecked]

    def learners(self) -> list[str]:
        rows = self.newest_of_type(LearnerOpened.__name__, 1000)
        return sorted(row["payload"]["name"] for row in rows
                      if recorded_class(row) is LearnerOpened)

    def learner_health(self, learner: str) -> dict[str, Any]:
        """A learner's runs, every gated update with its partial RHI and decision, every full
        RHI measure, and its deployments, refusals, rollbacks and rate changes, in order."""
        events = self.newest_of(f"learner/{learner}", LEARNER_EVENTS)
        if not events:
            raise NotFoundError(f"unknown learner {learner!r}")
        found: dict[str, list[dict[str, Any]]] = {cls.__name__: [] for cls in LEARNING_EVENTS}
        for row in reversed(events):
            kind = recorded_class(row)
            if kind in LEARNING_EVENTS:
                found[kind.__name__].append(
                    {"position": row["position"], "at": row["occurred_at"], **row["payload"]})
        return {"learner": learner, "events": found}

    def ecology(self, run_id: str) -> dict[str, Any]:
        """A colony run's charts: the generation summaries, accuracy per family and ROI per
        organelle over generations (grouped in the database), and assimilation records."""
        generations = self._all(
            "SELECT generation, summary FROM eco_generations WHERE run_id = %s"
            " ORDER BY position", (run_id,))
        if not generations:
            raise NotFoundError(f"no ecology telemetry for run {run_id!r}")
        families = self._all(
            "SELECT generation, family, avg(score) AS accuracy, count(*) AS episodes"
            " FROM eco_episodes WHERE run_id = %s GROUP BY generation, family"
            " ORDER BY generation, family", (run_id,))
        organelles = self._all(
            "SELECT generation, organelle_id, sum(income) AS income, sum(cost) AS cost"
            " FROM eco_episodes WHERE run_id = %s GROUP BY generation, organelle_id"
            " ORDER BY generation, organelle_id", (run_id,))
        assimilation = self._all(
            "SELECT kind, generation, record, recorded_at FROM eco_assimilation"
            " WHERE run_id = %s ORDER BY position", (run_id,))
        return {"run_id": run_id, "generations": generations, "families": families,
                "organelles": organelles, "assimilation": assimilation}

    def ecology_runs(self) -> list[str]:
        return [row["run_id"] for row in self._all(
            "SELECT DISTINCT run_id FROM eco_generations WHERE run_id IS NOT NULL ORDER BY 1")]

    def tags(self) -> list[str]:
        return [row["scope"] for row in self._all(
            "SELECT DISTINCT scope FROM karma_scoped ORDER BY scope LIMIT 1000")]

    def ratings(self, tag: str | None) -> list[dict[str, Any]]:
        """Each agent's Glicko-2 rating in ``tag``, or its global rating."""
        return self._all("SELECT agent_id, scope, rating, deviation, games FROM ratings"
                         " WHERE scope = %s ORDER BY agent_id LIMIT 1000",
                         (tag or GLOBAL_SCOPE,))

    def graphs(self) -> list[dict[str, Any]]:
        return self._all(
            "SELECT graph_id, count(*) AS enrichments, sum(accepted) AS accepted,"
            " sum(rejected) AS rejected, max(requested_position) AS last_position"
            " FROM kg_enrichments GROUP BY graph_id ORDER BY graph_id")
