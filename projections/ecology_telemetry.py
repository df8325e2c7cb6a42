"""The ecology's telemetry as read models: seed 002 wrote episodes, generation summaries and
assimilation attempts to jsonl files beside the run; here they are views folded from the
ledger's events, exactly once, rebuilt and digested like every other view, and exported to
the seed's jsonl files by ``karma ecology telemetry``."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor
from psycopg.types.json import Jsonb

from domain.base import key_of
from domain.ecology import (
    AssimilationAttempted,
    BaselineTrained,
    EpisodeScored,
    GenerationClosed,
    OrganellesMerged,
)
from projections.base import Projection, handles

SUMMARY_EXCLUDED = {"originator_id", "originator_version", "timestamp", "provenance"}


def _record(event: Any) -> dict[str, Any]:
    return event.model_dump(mode="json", exclude=SUMMARY_EXCLUDED)


class EcologyTelemetryProjection(Projection):
    name = "ecology_telemetry"
    tables = {"eco_episodes": "position", "eco_generations": "position",
              "eco_assimilation": "position"}

    @handles(EpisodeScored)
    def _episode(self, event: EpisodeScored, curs: Cursor[Any], position: int) -> None:
        curs.execute(
            "INSERT INTO eco_episodes (position, run_id, organelle_id, generation, family,"
            " difficulty, question, answer, score, checker, tokens, latency_ms, income, cost,"
            " recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (position, event.provenance.run_id, key_of(event.originator_id), event.generation,
             event.family, event.difficulty, event.question, event.answer, event.score,
             event.checker, event.tokens, event.latency_ms, event.income, event.cost,
             event.timestamp))

    @handles(GenerationClosed)
    def _generation(self, event: GenerationClosed, curs: Cursor[Any], position: int) -> None:
        curs.execute(
            "INSERT INTO eco_generations (position, run_id, generation, summary, recorded_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (position, event.provenance.run_id, event.generation, Jsonb(_record(event)),
             event.timestamp))

    @handles(AssimilationAttempted)
    def _attempt(self, event: AssimilationAttempted, curs: Cursor[Any], position: int) -> None:
        self._assimilation(curs, position, event, "attempt", event.generation)

    @handles(OrganellesMerged)
    def _merge(self, event: OrganellesMerged, curs: Cursor[Any], position: int) -> None:
        self._assimilation(curs, position, event, "merge", event.generation)

    @handles(BaselineTrained)
    def _baseline(self, event: BaselineTrained, curs: Cursor[Any], position: int) -> None:
        self._assimilation(curs, position, event, "baseline", None)

    @staticmethod
    def _assimilation(curs: Cursor[Any], position: int, event: Any, kind: str,
                      generation: int | None) -> None:
        curs.execute(
            "INSERT INTO eco_assimilation (position, run_id, kind, generation, record,"
            " recorded_at) VALUES (%s, %s, %s, %s, %s, %s)",
            (position, event.provenance.run_id, kind, generation, Jsonb(_record(event)),
             event.timestamp))
