"""Every table the CLI prints, built from rows, so that each can be rendered (and tested) at
any width. At 80 columns a table must still tell its rows apart:

- ids are never cut: every table has a column that can give (free text that wraps, or else
  the id column itself, which folds an id onto a second line only when nothing else can);
- the run prefix of ids (``rs-7dddeddb5a1c.fetch.lora``) is dropped and the run named in the
  title, since ids that share a long prefix would all be cut to that prefix;
- amounts lose their trailing zeros (still exact); leaderboards round them to 0.01 and say so;
- timestamps and command ids are shortened, causes go under what they caused. ``--json``
  prints everything in full.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from domain.catalogue import recorded_class
from readside.provenance import TIMED_ENDS

NOTHING = "—"
CAUSED_BY = "← caused by"
CENT = Decimal("0.01")
LEADERBOARD_AMOUNTS = ("balance", "escrow", "minted", "burned", "decayed", "slashed")
DIFF_SECTIONS = ("tasks", "balances", "scoped")
# command:CompleteTask:<32 hex> is shown as CompleteTask:<8 hex>: what caused the event, and
# enough of the id to see which events one command caused, as a short git hash does.
COMMAND_ID = re.compile(r"^command:(\w+:[0-9a-f]{8})[0-9a-f]{8,}$")

Row = Mapping[str, Any]


# The house style and its kinds of column.

def new_table(title: str | None = None, caption: str | None = None) -> Table:
    """A rule under the header and two spaces between columns, no box: at 80 columns the
    width goes to the content (a boxed table spends 3 characters a column on borders)."""
    return Table(title=_wrapping(title, "table.title"),
                 caption=_wrapping(caption, "table.caption"), box=box.SIMPLE_HEAD,
                 show_edge=False, pad_edge=False, collapse_padding=True)


def _wrapping(note: str | None, style: str) -> Text | None:
    """A title or caption that wraps to the table's width even on the CLI's console, whose
    soft wrapping would otherwise print it as one long line."""
    return None if note is None else Text(note, style=style, justify="center", no_wrap=False,
                                          overflow="fold")


def key_column(table: Table, header: str) -> None:
    """Ids, names, states, times: never wrapped, so that rows stay distinct at a glance."""
    table.add_column(header, no_wrap=True)


def id_column(table: Table, header: str) -> None:
    """The id column of a table with no free text to wrap: it is the only column that may
    give, so it folds an id onto a second line when nothing else is left, and never cuts it."""
    table.add_column(header, overflow="fold")


def number_column(table: Table, header: str) -> None:
    table.add_column(header, justify="right", no_wrap=True)


def text_column(table: Table, header: str) -> None:
    """Free text: wraps at spaces and folds a long word rather than cutting it."""
    table.add_column(header, overflow="fold")


# How values are shown.

def amount(value: Decimal | int | str | None) -> str:
    """Exact, without the trailing zeros of the six places amounts are kept to."""
    return "" if value is None else f"{Decimal(value).normalize():f}"


def rounded(value: Decimal | int | str) -> str:
    return f"{Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN):f}"


def utc(moment: datetime, spec: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(UTC).strftime(spec)


def local(text: str | None, run_id: str | None) -> str:
    """``text`` with the run's prefix taken out of the ids in it: ``rs-1.fetch.lora`` ->
    ``fetch.lora``, ``task/rs-1.fetch.lora@3`` -> ``task/fetch.lora@3``."""
    if not text or not run_id:
        return text or ""
    return re.sub(rf"(?<![\w.-]){re.escape(run_id)}\.", "", text)


def formula_line(formula: Mapping[str, Any]) -> str:
    """The reward formula as the economy computes it (domain.economy.reward), with its
    inputs: (base x quality - time penalty - resource penalty) x deviation scale."""
    return (f"({formula['base']} x {formula['quality']} - {formula['time_penalty']} - "
            f"{formula['resource_penalty']}) x {formula['scale']} = {formula['delta']}")


def caused_by(causation_id: str, run_id: str | None) -> str:
    """The cause on a line of its own under what it caused: next to the ids, a column of
    causes would have no room at 80 columns (``task/review.summarise.prefix-tuning@6``)."""
    shortened = COMMAND_ID.match(causation_id)
    return f"← {shortened.group(1) if shortened else local(causation_id, run_id)}"


def in_run(title: str, run_id: str | None) -> str:
    return f"{title} in run {run_id} (ids relative to it)" if run_id else title


def _value(value: Any) -> str:
    if value is None:
        return NOTHING
    return amount(value) if isinstance(value, Decimal) else str(value)


def _by_run(rows: Sequence[Row], run_of: Callable[[Row], str | None]
            ) -> list[tuple[str | None, list[Row]]]:
    """Consecutive rows of one run together, in their order: one table each, so each table
    can show its ids relative to its run. No rows: one empty group, for the headers."""
    groups: list[tuple[str | None, list[Row]]] = []
    for row in rows:
        run_id = run_of(row) or None
        if not groups or groups[-1][0] != run_id:
            groups.append((run_id, []))
        groups[-1][1].append(row)
    return groups or [(None, [])]


def _clock(moments: Iterable[datetime]) -> tuple[str, str]:
    """A time format for the rows and what the title says of it: what every row shares (the
    day, or the year) goes into the title."""
    days = {utc(moment, "%Y-%m-%d") for moment in moments}
    years = {day[:4] for day in days}
    if len(days) == 1:
        return "%H:%M:%S", f"times UTC on {days.pop()}"
    if len(years) == 1:
        return "%m-%d %H:%M:%S", f"times UTC in {years.pop()}"
    return "%Y-%m-%d %H:%M:%S", "times UTC"


# The economy: leaderboard, history, stakes, counterfactual comparison.

def leaderboard_table(rows: Sequence[Row], tag: str | None = None,
                      title: str | None = None) -> Table:
    """Agents by karma. Six exact amounts do not fit next to an agent's name in 80 columns,
    so they are rounded; `karma why` and --json give them exactly."""
    amounts = ("balance",) if tag else LEADERBOARD_AMOUNTS
    table = new_table(title or (f"karma in #{tag}" if tag else "karma"),
                      caption="amounts rounded to 0.01")
    number_column(table, "rank")
    id_column(table, "agent")
    for column in amounts:
        number_column(table, column)
    for row in rows:
        table.add_row(str(row["rank"]), row["agent_id"],
                      *(rounded(row[column]) for column in amounts))
    return table


def earnings_table(rows: Sequence[Row], title: str) -> Table:
    """What each agent earned: ranks, names in full, amounts rounded like the leaderboard's."""
    table = new_table(title, caption="amounts rounded to 0.01")
    number_column(table, "rank")
    id_column(table, "agent")
    number_column(table, "earned")
    for row in rows:
        table.add_row(str(row["rank"]), row["agent_id"], rounded(row["earned"]))
    return table


def history_tables(agent_id: str, rows: Sequence[Row]) -> list[Table]:
    """An agent's karma entries, one table per run they came from."""
    return [_history_table(agent_id, run_id, group)
            for run_id, group in _by_run(rows, lambda row: row["run_id"])]


def _history_table(agent_id: str, run_id: str | None, rows: Sequence[Row]) -> Table:
    table = new_table(in_run(f"karma entries of {agent_id}", run_id))
    number_column(table, "pos")
    key_column(table, "kind")
    number_column(table, "amount")
    text_column(table, f"reason\n{CAUSED_BY}")
    for row in rows:
        table.add_row(str(row["position"]), row["kind"], amount(row["amount"]),
                      f"{_reason(row, run_id)}\n{caused_by(row['caused_by'], run_id)}")
    return table


def _reason(row: Row, run_id: str | None) -> str:
    """The entry's reason, naming its task when the reason does not already: most reasons
    do ("review of task fetch.lora"), and a column of its own would not fit."""
    reason, task = local(row["reason"], run_id), local(row["task_id"], run_id)
    named = re.search(rf"(?<![\w.-]){re.escape(task)}(?![\w-]|\.\w)", reason)
    return reason if not task or named else f"{reason} (task {task})"


def stakes_tables(rows: Sequence[Row], run_ids: Iterable[str]) -> list[Table]:
    """Stakes, one table per run their tasks belong to (known from the tasks' ids, which
    start with their run's; a task named otherwise goes with no run)."""
    runs = set(run_ids)

    def run_of(row: Row) -> str | None:
        prefix = row["task_id"].split(".", 1)[0]
        return prefix if prefix in runs and "." in row["task_id"] else None

    return [_stakes_table(run_id, group) for run_id, group in _by_run(rows, run_of)]


def _stakes_table(run_id: str | None, rows: Sequence[Row]) -> Table:
    table = new_table(in_run("stakes", run_id))
    key_column(table, "task")
    key_column(table, "agent")
    number_column(table, "amount")
    key_column(table, "state")
    text_column(table, "reason")
    for row in rows:
        table.add_row(local(row["task_id"], run_id), row["agent_id"], amount(row["amount"]),
                      row["state"], _about_its_task(row))
    return table


def _about_its_task(stake: Row) -> str:
    """"task rs-1.fetch.lora succeeded (quality 1.0)" as "task succeeded (quality 1.0)": the
    row names the task already, and the reason's column is the narrow one."""
    return (stake["reason"] or "").replace(f"task {stake['task_id']}", "task")


def comparison_table(comparison: Any, run_id: str, policy_name: str) -> Table:
    """A run's leaderboard as recorded and as another policy would have paid it."""
    table = new_table(f"run {run_id}: recorded vs {policy_name} "
                      f"({comparison.policy_digest[:19]})")
    number_column(table, "rank")
    id_column(table, "recorded")
    number_column(table, "karma")
    id_column(table, "counterfactual")
    number_column(table, "karma")
    recorded, counterfactual = comparison.recorded, comparison.counterfactual
    for rank in range(max(len(recorded), len(counterfactual))):
        left = recorded[rank] if rank < len(recorded) else None
        right = counterfactual[rank] if rank < len(counterfactual) else None
        table.add_row(str(rank + 1), left.agent_id if left else "",
                      amount(left.earned) if left else "", right.agent_id if right else "",
                      amount(right.earned) if right else "")
    return table


# The ledger and its views.

def events_tables(rows: Sequence[Row]) -> list[Table]:
    """Ledger events, one table per run (and one for events outside runs) in ledger order."""
    spec, times = _clock(row["occurred_at"] for row in rows)
    return [_events_table(run_id, group, spec, times)
            for run_id, group in _by_run(rows, lambda row: row["run_id"])]


def _events_table(run_id: str | None, rows: Sequence[Row], spec: str, times: str) -> Table:
    table = new_table(f"{in_run('ledger events', run_id)}; {times}" if rows else None)
    number_column(table, "pos")
    key_column(table, "time")
    key_column(table, "event")
    id_column(table, f"aggregate\n{CAUSED_BY}")
    for row in rows:
        table.add_row(str(row["position"]), utc(row["occurred_at"], spec), row["event_type"],
                      f"{local(row['originator_id'], run_id)}\n"
                      f"{caused_by(row['causation_id'], run_id)}")
    return table


def tokens_table(rows: Sequence[Row]) -> Table:
    table = new_table(caption="times UTC")
    for column in ("id", "role", "agent"):
        key_column(table, column)
    text_column(table, "label")
    key_column(table, "created")
    key_column(table, "revoked")
    for row in rows:
        table.add_row(row["token_id"], row["role"], row["agent_id"] or "", row["label"],
                      utc(row["created_at"]),
                      utc(row["revoked_at"]) if row["revoked_at"] else "")
    return table


def rebuild_table(reports: Iterable[Any]) -> Table:
    """Each projection rebuilt from event 1: equal digests, equal views."""
    table = new_table()
    id_column(table, "projection")
    number_column(table, "position")
    key_column(table, "live digest")
    key_column(table, "rebuilt digest")
    key_column(table, "equal")
    for report in reports:
        table.add_row(report.name, str(report.position), report.live_digest[:16],
                      report.rebuilt_digest[:16], "yes" if report.identical else "NO")
    return table


def projections_table(projections: Mapping[str, Row]) -> Table:
    table = new_table()
    id_column(table, "projection")
    number_column(table, "position")
    number_column(table, "lag")
    for name, row in projections.items():
        table.add_row(name, str(row["position"]), str(row["lag"]))
    return table


# Runs and time travel.

def runs_table(rows: Sequence[Row]) -> Table:
    table = new_table(caption="times UTC")
    key_column(table, "run")
    text_column(table, "workflow")
    for column in ("started", "outcome", "policy"):
        key_column(table, column)
    for row in rows:
        table.add_row(row["run_id"], _workflow(row), utc(row["started_at"]),
                      row["outcome"] or "running", row["config_digest"][:15])
    return table


def _workflow(run: Row) -> str:
    """A replay says which run it replays, under its workflow: no column is left for it."""
    replay_of = run.get("replay_of")
    return run["workflow"] + (f"\nreplay of {replay_of}" if replay_of else "")


def timeline_table(shown: Mapping[str, Any]) -> Table:
    """A run's events with each one's recorded time, in ledger order."""
    run_id, events = shown["run"]["run_id"], shown["events"]
    table = new_table(in_run("timeline", run_id),
                      caption="recorded at: seconds after the run's first event, by the clock "
                              "of the process that wrote each event before saving it")
    number_column(table, "pos")
    number_column(table, "recorded at")
    text_column(table, "event")
    key_column(table, "aggregate")
    # Ledger order is the truth views fold; occurred_at is each writer's clock, read before saving.
    started = events[0]["occurred_at"] if events else None
    for event in events:
        offset = (event["occurred_at"] - started).total_seconds()
        table.add_row(str(event["position"]), f"{offset:.3f}", _event_took(event, shown),
                      local(event["originator_id"], run_id))
    return table


def _event_took(event: Row, shown: Mapping[str, Any]) -> str:
    seconds = shown["task_seconds"].get(event["originator_id"])
    if seconds is None or recorded_class(event) not in TIMED_ENDS:
        return event["event_type"]
    return f"{event['event_type']} ({seconds:.3f} s)"


def balances_table(balances: Mapping[str, Row], scoped: Mapping[str, Mapping[str, Any]]
                   ) -> Table:
    table = new_table()
    key_column(table, "agent")
    for column in ("available", "escrow", "minted", "burned"):
        number_column(table, column)
    text_column(table, "scoped")
    for agent_id, row in balances.items():
        tags = ", ".join(f"#{tag} {amount(value)}"
                         for tag, value in scoped.get(agent_id, {}).items())
        table.add_row(agent_id, amount(row["balance"]), amount(row["escrow"]),
                      amount(row["minted"]), amount(row["burned"]), tags)
    return table


def task_board_table(run_id: str, tasks: Mapping[str, Row]) -> Table:
    """The run's tasks under a heading per task type: at 80 columns the type has no room of
    its own next to a task's id (``review.summarise.prefix-tuning``), state and assignee."""
    table = new_table(in_run("tasks", run_id),
                      caption="art: artifacts produced; rev: reviews scored")
    id_column(table, "task")
    key_column(table, "state")
    key_column(table, "assignee")
    number_column(table, "art")
    number_column(table, "rev")
    for task_type, group in _by_type(tasks).items():
        if table.row_count:
            table.add_section()
        table.add_row(Text(f"{task_type or '(no type)'} ({len(group)})", style="bold"))
        for task_id, task in group:
            table.add_row(local(task_id, run_id), task["state"] or "", task["assignee"] or "",
                          str(task["artifacts"]), str(task["reviews"]))
    return table


def _by_type(tasks: Mapping[str, Row]) -> dict[str, list[tuple[str, Row]]]:
    """Tasks by type, types in the order their first task came, tasks in board order."""
    grouped: dict[str, list[tuple[str, Row]]] = {}
    for task_id, task in tasks.items():
        grouped.setdefault(task["task_type"] or "", []).append((task_id, task))
    return grouped


def changed_fields(changes: Mapping[str, Any]) -> list[tuple[str, str, str, Any, Any]]:
    """(section, key, field, from, to) for every field whose value differs: the diff holds
    whole rows for each key that changed, most of their fields as they were."""
    changed = []
    for section in DIFF_SECTIONS:
        for key, change in changes[section].items():
            before, after = change["from"] or {}, change["to"] or {}
            for field in {**before, **after}:
                if before.get(field) != after.get(field):
                    changed.append((section, key, field, before.get(field), after.get(field)))
    return changed


def changes_table(changes: Mapping[str, Any], run_id: str, title: str | None = None) -> Table:
    """One row per changed field; a section and key are named on their first row only."""
    table = new_table(title)
    for column in ("section", "key", "field"):
        key_column(table, column)
    text_column(table, "from")
    text_column(table, "to")
    shown: tuple[str, str] | None = None
    for section, key, field, before, after in changed_fields(changes):
        named = (section, local(key, run_id))
        table.add_row(*(named if named != shown else ("", "")),
                      f"#{field}" if section == "scoped" else field,
                      _value(before), _value(after))
        shown = named
    return table


# Knowledge graphs.

def candidates_table(response: Mapping[str, Any]) -> Table:
    """An enrichment's candidate triples: accepted with their score, rejected with why."""
    table = new_table("candidates")
    key_column(table, "verdict")
    for column in ("subject", "predicate", "object", "why"):
        text_column(table, column)
    for item in response["accepted_candidates"]:
        table.add_row("[green]accepted[/green]", item["subject"], item["predicate"],
                      item["object"], f"score {item['score']:.3f}")
    for item in response["rejected_candidates"]:
        candidate = item["candidate"]
        table.add_row("[red]rejected[/red]", str(candidate.get("subject", "")),
                      str(candidate.get("predicate", "")), str(candidate.get("object", "")),
                      item["reason"])
    return table


# The ecology.

def _short(name: str | None, run_id: str) -> str:
    """An organelle's name without its run's prefix: ``eco-smoke-1a2b3c-o2`` -> ``o2``."""
    return (name or "").removeprefix(run_id + "-")


def holdout_table(report: Any) -> Table:
    """Held-out accuracy per family of the compared adapters, and each one's difference from
    the frozen host in points with its 95% interval."""
    table = new_table(f"held-out accuracy in {report.run_id}", caption=(
        "95% Wilson intervals; vs frozen: difference in points, Newcombe interval; the best "
        "organelle is chosen by its training reward, not by this set"))
    key_column(table, "adapter")
    key_column(table, "family")
    for column in ("right", "rate", "95% CI", "vs frozen"):
        number_column(table, column)
    for role, adapter in report.roles().items():
        if adapter is None:
            table.add_row(role, "", "", "", "", "none" if role != "merged colony" else
                          "no merge kept")
            continue
        versus = report.versus_frozen(adapter) if adapter != "frozen host" else {}
        named = role in ("best organelle", "merged colony")
        name = f"{role} {_short(adapter, report.run_id)}" if named else role
        for index, (family, score) in enumerate(sorted(report.holdout[adapter].items())):
            gap = versus.get(family)
            table.add_row(name if index == 0 else "", family, f"{score.correct}/{score.total}",
                          f"{score.rate:.0%}", f"{score.low:.0%}-{score.high:.0%}",
                          f"{gap.points * 100:+.0f} [{gap.low * 100:+.0f},{gap.high * 100:+.0f}]"
                          if gap else "")
    return table


def compute_table(report: Any) -> Table:
    table = new_table("compute spent", caption=(
        "colony: its organelles' sampling and training; baseline: supervised training on "
        "labelled answers for the same time"))
    key_column(table, "who")
    for column in ("seconds", "tokens sampled", "train steps", "examples"):
        number_column(table, column)
    steps = sum(o.train_steps for o in report.organelles.values())
    table.add_row("colony", f"{report.colony_seconds:.1f}", str(report.colony_tokens),
                  str(steps), "")
    if report.baseline:
        b = report.baseline
        table.add_row("supervised baseline", f"{b.seconds:.1f}", "0", str(b.steps),
                      str(b.examples))
    return table


def organelles_table(report: Any) -> Table:
    table = new_table(f"organelles of {report.run_id}",
                      caption="ROI: task income per unit of compute charged")
    key_column(table, "organelle")
    for column in ("answers", "mean", "income", "cost", "ROI", "top-ups", "steps"):
        number_column(table, column)
    for name, o in report.organelles.items():
        if not o.episodes:
            continue
        table.add_row(_short(name, report.run_id), str(o.episodes), f"{o.mean_score:.2f}",
                      rounded(o.income), rounded(o.cost),
                      "" if o.roi is None else f"{o.roi:.2f}", str(o.top_ups),
                      str(o.train_steps))
    return table


def generations_table(report: Any) -> Table:
    table = new_table(f"generations of {report.run_id}",
                      caption="eff. pop.: the inverse Simpson index of the energy shares")
    for column in ("gen", "living", "culled", "answers", "mean", "energy", "gini",
                   "eff. pop.", "top-ups"):
        number_column(table, column)
    for g in report.generations:
        table.add_row(str(g.generation), str(g.living), str(g.culled), str(g.episodes),
                      f"{g.mean_score:.3f}", rounded(g.energy_total), f"{g.energy_gini:.3f}",
                      f"{g.effective_population:.2f}", str(g.top_ups))
    return table


def attempts_table(report: Any) -> Table:
    gates = sorted({(a.threshold, a.alpha) for a in report.attempts})
    table = new_table(f"assimilation attempts in {report.run_id}", caption=(
        "control: the frozen host; treated: the candidate; p: one-sided Welch; gate: uplift "
        f">= {', '.join(f'{t:g}, p < {a:g}' for t, a in gates)}; holdout: the candidate's, "
        "then the merged adapter's"))
    for column in ("gen", "candidate"):
        key_column(table, column)
    for column in ("control", "treated", "uplift", "p", "top-ups"):
        number_column(table, column)
    text_column(table, "verdict")
    for a in report.attempts:
        verdict = "; ".join(a.reasons)
        if a.passed:
            verdict = (f"merged: holdout {a.holdout_before[0]}/{a.holdout_before[1]} -> "
                       f"{a.holdout_after[0]}/{a.holdout_after[1]}")
        table.add_row(str(a.generation), _short(a.candidate, report.run_id),
                      f"{a.control_mean:.2f}", f"{a.treatment_mean:.2f}",
                      f"{a.uplift:+.2f}", f"{a.p_value:.3f}", str(a.candidate_top_ups), verdict)
    return table


def redecided_table(decisions: Sequence[Any], run_id: str) -> Table:
    table = new_table(f"{run_id} re-decided", caption="flipped decisions are marked *")
    key_column(table, "")
    key_column(table, "decision")
    number_column(table, "gen")
    text_column(table, "recorded")
    text_column(table, "re-decided")
    text_column(table, "why")
    for d in decisions:
        table.add_row("*" if d.flipped else "", f"{d.kind} {_short(d.subject, run_id)}",
                      "" if d.generation is None else str(d.generation), d.recorded,
                      d.replayed, d.note)
    return table
