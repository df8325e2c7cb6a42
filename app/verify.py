"""``karma verify``: the ledger's invariants, checked against the aggregates and the views.

- every view, replayed from event 1 in a transaction that is rolled back, has the digest of
  the live one;
- every karma account conserves karma (available + escrow = minted - burned - decayed -
  slashed), never has a negative available balance, and its escrow is its open stakes;
- the balances view equals the accounts replayed from their events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from app.bootstrap import Container
from domain.karma import KarmaAccount
from readside.queries import Queries


@dataclass
class Verification:
    checked_accounts: int = 0
    digests: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(container: Container) -> Verification:
    result = Verification()
    runner = container.projections
    for report in runner.rebuild_all(keep=False):
        name = report.name
        result.digests[name] = report.identical
        if not report.identical:
            # Again, keeping a copy of the live view, to say where the two part.
            first = runner.rebuild(name, keep=False, locate=True).first_difference
            where = "" if first is None else (
                f"; first differing row in {first.table}: live {first.live or '(none)'}, "
                f"replayed {first.replayed or '(none)'}; first differing event: "
                f"{first.event or 'unknown'} at position {first.position}")
            result.problems.append(
                f"view {name} differs from its replay at position {report.position}{where}")
    queries = Queries(container.datastore)
    for row in queries.leaderboard(limit=1000):
        account = container.ledger.repository.get(KarmaAccount.id_for(row["agent_id"]))
        result.checked_accounts += 1
        agent = account.agent_id
        if account.balance + account.escrow != (account.minted - account.burned
                                                - account.decayed - account.slashed):
            result.problems.append(f"{agent}: karma is not conserved")
        if account.balance < 0:
            result.problems.append(f"{agent}: negative available balance {account.balance}")
        if account.escrow != sum(account.stakes.values(), Decimal(0)):
            result.problems.append(f"{agent}: escrow {account.escrow} is not its open stakes")
        for column in ("balance", "escrow", "minted", "burned", "decayed", "slashed"):
            if row[column] != getattr(account, column):
                result.problems.append(
                    f"{agent}: the view's {column} {row[column]} differs from the ledger's "
                    f"{getattr(account, column)}")
    return result
