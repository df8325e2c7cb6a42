"""The read models' own history: an administrator's rebuild or verification of a view is a
fact of the ledger like any other, so that who checked what, when, and what was found stays
auditable (the dashboard's projections page and ``karma projections rebuild`` record it)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from domain.base import Aggregate, AggregateCreated, AggregateEvent, Provenance

DIGEST = Field(min_length=1, max_length=80)


class ReadModelChecked(AggregateEvent):
    """A view was replayed from event 1 up to ``position`` and its digest compared with the
    live one's; ``replaced`` says whether the replayed rows then replaced the live rows (a
    rebuild) or were thrown away (a verification)."""

    view: str = Field(min_length=1, max_length=64)
    position: int = Field(ge=0)
    live_digest: str = DIGEST
    rebuilt_digest: str = DIGEST
    identical: bool
    replaced: bool
    first_difference: str | None = Field(default=None, max_length=1024)

    def apply(self, log: ReadModelLog) -> None:
        log.checks += 1
        log.last_identical = self.identical


class ReadModelLogOpened(AggregateCreated):
    view: str = Field(min_length=1, max_length=64)

    def apply(self, log: ReadModelLog) -> None:
        log.view = self.view
        log.checks = 0
        log.last_identical = None


class ReadModelLog(Aggregate):
    """One per view: the checks it has been through."""

    id_prefix = "read-model"

    @classmethod
    def open(cls, view: str, *, at: datetime, provenance: Provenance) -> ReadModelLog:
        return cls._create(ReadModelLogOpened, id=cls.id_for(view), view=view, timestamp=at,
                           provenance=provenance)

    def checked(self, *, position: int, live_digest: str, rebuilt_digest: str,
                replaced: bool, first_difference: str | None, at: datetime,
                provenance: Provenance) -> None:
        self.trigger_event(ReadModelChecked, view=self.view, position=position,
                           live_digest=live_digest, rebuilt_digest=rebuilt_digest,
                           identical=live_digest == rebuilt_digest, replaced=replaced,
                           first_difference=first_difference, timestamp=at,
                           provenance=provenance)
