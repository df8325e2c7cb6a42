"""The ecology's telemetry views read back as seed 002's three jsonl files, in ledger order,
a page at a time (a long run has millions of episodes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from domain.errors import NotFoundError

PAGE = 5_000
FILES = {
    "episodes.jsonl": ("SELECT position, organelle_id, generation, family, difficulty, question,"
                       " answer, score, checker, tokens, latency_ms, income, cost, recorded_at"
                       " FROM eco_episodes"),
    "gen_summaries.jsonl": ("SELECT position, summary, recorded_at FROM eco_generations"),
    "assimilation.jsonl": ("SELECT position, kind, record, recorded_at FROM eco_assimilation"),
}


def rows(datastore: Any, query: str, run_id: str) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        with datastore.get_connection() as conn:
            page = conn.execute(f"{query} WHERE run_id = %s AND position > %s"
                                f" ORDER BY position LIMIT {PAGE}", (run_id, after)).fetchall()
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1]["position"]


def _line(row: dict[str, Any]) -> str:
    flat = dict(row)
    for nested in ("summary", "record"):
        flat |= flat.pop(nested, None) or {}
    return json.dumps(flat, default=lambda v: str(v) if isinstance(v, Decimal) else
                      v.isoformat(), sort_keys=True)


def export(datastore: Any, run_id: str, folder: Path) -> dict[str, int]:
    """Write the run's three files into ``folder``; the lines written per file."""
    with datastore.get_connection() as conn:
        recorded = conn.execute("SELECT 1 FROM eco_generations WHERE run_id = %s LIMIT 1",
                                (run_id,)).fetchone()
    if recorded is None:
        raise NotFoundError(f"no ecology run {run_id!r} with a generation in the ledger")
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, query in FILES.items():
        count = 0
        with (folder / name).open("w") as out:
            for row in rows(datastore, query, run_id):
                out.write(_line(row) + "\n")
                count += 1
        written[name] = count
    return written
