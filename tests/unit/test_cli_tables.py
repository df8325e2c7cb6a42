"""Every table the CLI prints, rendered at 80 columns on the rows of a realistic research run:
no line is wider than 80, nothing is cut with an ellipsis, and every id that tells rows apart
shows in full (task ids without the run prefix they all share, the run named in the title)."""

import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from rich.console import Console
from rich.table import Table

from app.counterfactual import Comparison, Standing
from entrypoints.cli import tables
from projections.runner import RebuildReport

RUN = "rs-7dddeddb5a1c"
OTHER_RUN = "rs-42c0ffee9b17"
PAPERS = ("lora", "qlora", "adalora", "prefix-tuning", "ia3", "dora")
WORK = ([(f"fetch.{p}", "Fetch_Paper", f"fetcher-{i % 3 + 1}") for i, p in enumerate(PAPERS)]
        + [(f"summarise.{p}", "Summarise_Paper", f"reader-{i % 3 + 1}")
           for i, p in enumerate(PAPERS)]
        + [(f"metrics.{p}", "Extract_Metrics", f"metrician-{i % 2 + 1}")
           for i, p in enumerate(PAPERS)]
        + [("compare", "Compare_Methods", "analyst-1"),
           ("critique.optimist", "Critique_Claim", "debater-1"),
           ("critique.skeptic", "Critique_Claim", "debater-1"),
           ("synthesise", "Synthesise_Report", "synthesiser-1")])
LOCAL_IDS = [local for local, _, _ in WORK] + [f"review.{local}" for local, _, _ in WORK]
AGENTS = sorted({agent for _, _, agent in WORK} | {"reviewer-1"})
T0 = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)


def amount(seed: int) -> Decimal:
    """Amounts as the ledger keeps them: six places, some large, some negative."""
    return Decimal(seed * 7_919_113 % 200_000_000) / Decimal(1_000_000) - 50


def render(*shown: Table, soft_wrap: bool = True) -> list[str]:
    """The lines a user sees: the CLI's console soft-wraps, so rich crops nothing for it."""
    console = Console(width=80, record=True, soft_wrap=soft_wrap, file=io.StringIO())
    for table in shown:
        console.print(table)
    return console.export_text().splitlines()


def assert_readable(lines: list[str], *ids: str) -> None:
    too_wide = [line for line in lines if len(line) > 80]
    assert not too_wide, "\n".join(too_wide)
    assert not any("…" in line for line in lines), "\n".join(lines)
    for shown_id in ids:
        whole = re.compile(rf"(?<![\w.-]){re.escape(shown_id)}(?![\w-]|\.\w)")
        assert any(whole.search(line) for line in lines), (shown_id, "\n".join(lines))


def words(lines: list[str]) -> str:
    """The text with runs of spaces and line ends made one space: titles and captions wrap."""
    return " ".join(" ".join(lines).split())


def board_rows() -> list[dict]:
    return [{"rank": rank, "agent_id": agent, "balance": amount(rank), "escrow": amount(rank + 1),
             "minted": amount(rank + 2), "burned": amount(rank + 3), "decayed": amount(rank + 4),
             "slashed": amount(rank + 5), "entries": 9}
            for rank, agent in enumerate(AGENTS, start=1)]


@pytest.mark.parametrize("soft_wrap", [True, False])
def test_the_leaderboard_names_every_agent_in_full(soft_wrap):
    rows = board_rows()
    lines = render(tables.leaderboard_table(rows), soft_wrap=soft_wrap)
    assert_readable(lines, *AGENTS, "fetcher-1", "fetcher-2", "fetcher-3", "synthesiser-1")
    assert "amounts rounded to 0.01" in words(lines)
    for row in rows:
        shown = next(line for line in lines if f" {row['agent_id']} " in line)
        assert shown.split()[2] == str(row["balance"].quantize(Decimal("0.01")))
    scoped = [{**row, "scope": "peft"} for row in rows]
    assert_readable(render(tables.leaderboard_table(scoped, tag="peft")), *AGENTS)
    research = render(tables.leaderboard_table(rows, title="karma leaderboard"))
    assert_readable(research, *AGENTS)
    assert research[0].strip() == "karma leaderboard"


def test_the_task_board_shows_task_ids_relative_to_their_run():
    tasks = {f"{RUN}.{local}": {"state": "completed", "assignee": agent, "artifacts": 1,
                                "reviews": 1, "task_type": task_type}
             for local, task_type, agent in WORK}
    tasks.update({f"{RUN}.review.{local}": {"state": "input-required", "assignee": "reviewer-1",
                                            "artifacts": 0, "reviews": 0,
                                            "task_type": "Review_Artifact"}
                  for local, _, _ in WORK})
    lines = render(tables.task_board_table(RUN, tasks))
    assert_readable(lines, *LOCAL_IDS, RUN, "Synthesise_Report (1)", "Review_Artifact (22)")
    assert not any(f"{RUN}." in line for line in lines)
    assert "ids relative to it" in words(lines)


def test_balances_at_a_position_show_exact_amounts_for_every_agent():
    balances = {agent: {"balance": amount(i), "escrow": Decimal("4.000000"),
                        "minted": amount(i + 1), "burned": Decimal("0.100000"),
                        "decayed": Decimal(0), "slashed": Decimal(0)}
                for i, agent in enumerate(AGENTS)}
    scoped = {agent: {"peft": amount(i), "summarization": amount(i + 2)}
              for i, agent in enumerate(AGENTS)}
    lines = render(tables.balances_table(balances, scoped))
    exact = [f"{amount(i).normalize():f}" for i in range(len(AGENTS))]
    assert_readable(lines, *AGENTS, *exact)
    assert "4.000000" not in " ".join(lines) and " 4 " in " ".join(lines)


def history_rows() -> list[dict]:
    minted = {"position": 13, "agent_id": "synthesiser-1", "kind": "minted",
              "amount": Decimal(10), "task_id": None, "reason": "grant", "run_id": None,
              "caused_by": "command:MintKarma:4a3b5f56d1e04c0fb2a5a6c1f0d3e911"}
    entries = [minted]
    for position, (local, _, _) in enumerate(WORK, start=20):
        task = f"{RUN}.{local}"
        entries.append({"position": position, "agent_id": "synthesiser-1", "kind": "minted",
                        "amount": amount(position), "task_id": task, "run_id": RUN,
                        "reason": f"review of task {task}", "caused_by": f"task/{task}@6"})
    entries.append({"position": 90, "agent_id": "synthesiser-1", "kind": "stake_returned",
                    "amount": Decimal("4.000000"), "task_id": f"{OTHER_RUN}.synthesise",
                    "run_id": OTHER_RUN, "reason": "stake", "caused_by": "command:Assign"})
    return entries


def test_history_shows_one_table_per_run_with_tasks_relative_to_it():
    shown = tables.history_tables("synthesiser-1", history_rows())
    assert len(shown) == 3
    lines = render(*shown)
    locals_ = [local for local, _, _ in WORK]
    assert_readable(lines, *locals_, *(f"task/{local}@6" for local in locals_), RUN, OTHER_RUN,
                    "MintKarma:4a3b5f56", "grant", "stake_returned", "command:Assign")
    assert "stake (task synthesise)" in words(lines)


def test_stakes_group_by_the_run_their_task_ids_start_with():
    rows = [{"task_id": f"{run}.{local}", "agent_id": agent, "amount": amount(i),
             "state": state, "reason": f"task {run}.{local} succeeded (quality 0.9)"}
            for i, (run, (local, _, agent), state) in enumerate(
                [(RUN, work, "returned") for work in WORK]
                + [(OTHER_RUN, WORK[-1], "escrowed")])]
    rows.append({"task_id": "3f2a9c1bd0e84f55a1b2c3d4e5f60718", "agent_id": "fetcher-1",
                 "amount": Decimal(1), "state": "slashed", "reason": None})
    shown = tables.stakes_tables(rows, [RUN, OTHER_RUN])
    assert len(shown) == 3
    lines = render(*shown)
    assert_readable(lines, *(local for local, _, _ in WORK), *(agent for _, _, agent in WORK),
                    RUN, OTHER_RUN, "3f2a9c1bd0e84f55a1b2c3d4e5f60718")
    assert "task succeeded (quality 0.9)" in words(lines)


def event_rows() -> list[dict]:
    rows = [{"position": 1, "event_type": "AgentRegistered", "originator_id": "agent/fetcher-1",
             "run_id": None, "occurred_at": T0,
             "causation_id": "command:RegisterAgent:d4b0d3fe11aa4c2b9e3f5a6b7c8d9e0f"},
            {"position": 2, "event_type": "RunStarted", "originator_id": f"run/{RUN}",
             "run_id": RUN, "occurred_at": T0,
             "causation_id": "command:StartRun:274e21ca11aa4c2b9e3f5a6b7c8d9e0f"}]
    for local in LOCAL_IDS:
        rows.append({"position": len(rows) + 1, "event_type": "ArtifactProduced",
                     "originator_id": f"task/{RUN}.{local}", "run_id": RUN,
                     "occurred_at": T0 + timedelta(seconds=len(rows)),
                     "causation_id": "command:RecordArtifact:704263cd11aa4c2b9e3f5a6b7c8d9e0f"})
        rows.append({"position": len(rows) + 1, "event_type": "KarmaAccountOpened",
                     "originator_id": "karma/synthesiser-1", "run_id": RUN,
                     "occurred_at": T0 + timedelta(seconds=len(rows)),
                     "causation_id": f"task/{RUN}.{local}@12"})
    return rows


def test_events_show_aggregates_and_causes_relative_to_their_run():
    shown = tables.events_tables(event_rows())
    assert len(shown) == 2
    lines = render(*shown)
    assert_readable(lines, "agent/fetcher-1", f"run/{RUN}", "RegisterAgent:d4b0d3fe",
                    *(f"task/{local}" for local in LOCAL_IDS),
                    *(f"task/{local}@12" for local in LOCAL_IDS), "10:05:00")
    assert "times UTC on 2026-11-22" in words(lines)


def test_events_of_several_days_show_the_date_in_each_row():
    rows = event_rows()
    rows[-1]["occurred_at"] += timedelta(days=1)
    lines = render(*tables.events_tables(rows))
    last = utc_row_time(rows[-1])
    assert last.startswith("11-23 ")
    assert_readable(lines, "11-22 10:05:00", last, "agent/fetcher-1",
                    *(f"task/{local}" for local in LOCAL_IDS))
    assert "times UTC in 2026" in words(lines)


def utc_row_time(row: dict) -> str:
    return row["occurred_at"].astimezone(UTC).strftime("%m-%d %H:%M:%S")


def test_tokens_runs_and_projections_fit():
    tokens = [{"token_id": f"{i:012x}", "role": "agent", "agent_id": agent,
               "label": "the fetcher pool on the second worker machine",
               "created_at": T0, "revoked_at": T0 + timedelta(days=1) if i % 2 else None}
              for i, agent in enumerate(AGENTS)]
    assert_readable(render(tables.tokens_table(tokens)), *AGENTS,
                    *(f"{i:012x}" for i in range(len(AGENTS))), "2026-11-23 10:05")
    runs = [{"run_id": run, "workflow": "research", "started_at": T0, "outcome": outcome,
             "config_digest": "sha256:fc652b9b2d44" + "0" * 52, "replay_of": replay_of}
            for run, outcome, replay_of in ((RUN, "succeeded", None), (OTHER_RUN, None, RUN))]
    lines = render(tables.runs_table(runs))
    assert_readable(lines, RUN, OTHER_RUN, "running", "sha256:fc652b9b")
    assert f"replay of {RUN}" in words(lines)
    names = ("agents", "task_board", "karma_balances", "reputation", "audit_log",
             "knowledge_graph")
    reports = [RebuildReport(name, 123456, "9a5bcbbbc2726764" * 4, "9a5bcbbbc2726764" * 4)
               for name in names]
    assert_readable(render(tables.rebuild_table(reports)), *names, "9a5bcbbbc2726764")
    lag = {name: {"position": 123456, "lag": i} for i, name in enumerate(names)}
    assert_readable(render(tables.projections_table(lag)), *names)


def test_the_counterfactual_comparison_names_both_leaderboards():
    standings = [Standing(agent, amount(i)) for i, agent in enumerate(AGENTS)]
    comparison = Comparison(RUN, "sha256:" + "ab" * 32, standings, standings[::-1], 0)
    lines = render(tables.comparison_table(comparison, RUN, "fetch-first.toml"))
    assert_readable(lines, *AGENTS, *(f"{s.earned.normalize():f}" for s in standings), RUN)


def test_kg_candidates_show_whole_terms_and_reasons():
    response = {"accepted_candidates": [
        {"subject": "Volt Cells", "predicate": "supplies", "object": "Acme Motors",
         "score": 0.91234},
        {"subject": "Acme Motors", "predicate": "is_based_in", "object": "Ohio", "score": 0.8}],
        "rejected_candidates": [{"candidate": {"subject": "Acme Motors", "predicate": "supplies",
                                               "object": "Volt Cells"},
                                 "reason": "the document says the opposite direction"}]}
    lines = render(tables.candidates_table(response))
    assert_readable(lines, "Volt Cells", "Acme Motors", "is_based_in", "Ohio", "score 0.912",
                    "accepted", "rejected")
    assert "the document says the opposite direction" in words(lines)


def test_a_diff_shows_one_row_per_changed_field_only():
    changes = {"from": 30, "to": 60, "balances": {
        "fetcher-2": {"from": None, "to": {"balance": Decimal("1.624000"), "escrow": Decimal(0)}},
        "reader-1": {"from": {"balance": Decimal("6.699000"), "escrow": Decimal(0),
                              "minted": Decimal("6.699000")},
                     "to": {"balance": Decimal("11.532244"), "escrow": Decimal("0.000000"),
                            "minted": Decimal("11.532244")}}},
        "scoped": {"reader-1": {"from": {"peft": Decimal("6.699")},
                                "to": {"peft": Decimal("11.532244")}}},
        "tasks": {f"{RUN}.{local}": {
            "from": {"state": "working", "assignee": agent, "artifacts": 0, "reviews": 0,
                     "task_type": task_type},
            "to": {"state": "completed", "assignee": agent, "artifacts": 1, "reviews": 0,
                   "task_type": task_type}} for local, task_type, agent in WORK}}
    changed = tables.changed_fields(changes)
    assert ("balances", "reader-1", "balance", Decimal("6.699000"), Decimal("11.532244")) in changed
    assert not [row for row in changed if row[2] in ("assignee", "reviews", "task_type")]
    assert not [row for row in changed if row[1] == "reader-1" and row[2] == "escrow"]
    assert len(changed) == 2 * len(WORK) + 2 + 2 + 1
    lines = render(tables.changes_table(changes, RUN, tables.in_run("changes", RUN)))
    assert_readable(lines, *(local for local, _, _ in WORK), "reader-1", "fetcher-2", "#peft",
                    "11.532244", "6.699", "working", "completed")
    assert not any(f"{RUN}." in line for line in lines)
    assert sum(" state " in line for line in lines) == len(WORK)


def test_a_timeline_keeps_ledger_order_and_says_whose_clock_timed_each_event():
    # Writers read their clocks before saving: position 3 was recorded at 0.118 s, after
    # position 2 at 0.120 s.
    offsets = [0, 0.120, 0.118, 0.2]
    events = [{"position": 40 + i, "context": "tasks", "event_type": kind,
               "originator_id": f"task/{RUN}.{local}",
               "occurred_at": T0 + timedelta(seconds=offset)}
              for i, (offset, kind, local) in enumerate(zip(
                  offsets, ["TaskIssued", "TaskStarted", "ArtifactProduced", "TaskCompleted"],
                  ["review.summarise.prefix-tuning"] * 4))]
    shown = {"run": {"run_id": RUN}, "events": events, "counts": {},
             "task_seconds": {f"task/{RUN}.review.summarise.prefix-tuning": 0.08}}
    lines = render(tables.timeline_table(shown))
    assert_readable(lines, "task/review.summarise.prefix-tuning", "TaskCompleted (0.080 s)")
    rows = [line.split() for line in lines if re.match(r"^\s*\d+\s+\d+\.\d{3}\s", line)]
    assert [(row[0], row[1]) for row in rows] == [
        ("40", "0.000"), ("41", "0.120"), ("42", "0.118"), ("43", "0.200")]
    assert "by the clock of the process that wrote each event" in words(lines)


def test_a_replays_earnings_name_every_agent_in_full():
    rows = [{"rank": rank, "agent_id": agent, "earned": amount(rank)}
            for rank, agent in enumerate(AGENTS, start=1)]
    title = f"karma earned in replay {RUN}: computed, not paid (the real balances are left alone)"
    lines = render(tables.earnings_table(rows, title))
    assert_readable(lines, *AGENTS, RUN)
    assert "computed, not paid" in words(lines)


def test_the_reward_formula_is_printed_as_the_economy_computes_it():
    from decimal import Decimal

    from domain.economy import EconomyPolicy, reward

    breakdown = reward(EconomyPolicy(), Decimal(8), Decimal("1.05"), 4000, 500, 800, 350.0)
    line = tables.formula_line({k: str(v) for k, v in breakdown.model_dump().items()})
    base, quality, time_penalty, resource_penalty, scale, delta = (
        Decimal(n) for n in re.findall(r"-?\d+(?:\.\d+)?", line))
    assert (base * quality - time_penalty - resource_penalty) * scale == pytest.approx(delta)
    assert delta == breakdown.delta and line.startswith("(8 x 1.05 - ")


def ecology_report():
    """A benchmark-sized ecology run folded from its events: four organelles, a merged child,
    the supervised baseline, three attempts with long reasons."""
    from domain.ecology import Colony, Organelle
    from domain.energy import EnergyPolicy
    from ecology.report import report_of
    from tests.builders import PROVENANCE

    run, policy = "eco-benchmark-1a2b3c", EnergyPolicy(topup_roi=Decimal(1),
                                                        topup_max=Decimal(2))
    families = ("arithmetic", "boolean_logic", "json_repair", "word_count")
    colony = Colony.found(run, config_digest="sha256:x", policy=policy, at=T0,
                          provenance=PROVENANCE)
    names = [f"{run}-o{i}" for i in range(1, 5)] + [f"{run}-m10"]
    organelles = [Organelle.spawn(n, colony_id=run, policy=policy, adapter_digest="sha256:0",
                                  at=T0, provenance=PROVENANCE) for n in names]
    for generation in range(1, 21):
        for index, organelle in enumerate(organelles):
            for family in families:
                organelle.score_episode(
                    policy, at=T0, provenance=PROVENANCE,
                    income=abs(amount(index + generation)) % 3,
                    cost=Decimal("0.123456"), generation=generation, family=family,
                    difficulty=2, question="q", answer="a", score=float(index % 2),
                    checker=f"{family}/1", tokens=24, latency_ms=812)
            organelle.record_work(policy, generation=generation, episodes=4, examples=2,
                                  steps=2, loss=0.25, sample_seconds=12.5, train_seconds=9.25,
                                  adapter_digest="sha256:1", at=T0, provenance=PROVENANCE)
        colony.close_generation(
            generation=generation, living=5, culled=1, episodes=20, mean_score=0.4125,
            energy_total=Decimal("123.456789"), energy_gini=0.3333, effective_population=3.25,
            species={"arithmetic": 3, "word_count": 2}, top_ups=2, at=T0,
            provenance=PROVENANCE)
    for adapter in (None, names[0], names[1], names[4], f"{run}-supervised"):
        for family in families:
            colony.record_holdout(generation=20, adapter=adapter, family=family,
                                  correct=37, total=120, at=T0, provenance=PROVENANCE)
    for generation, passed in ((5, False), (10, True), (15, False)):
        colony.record_attempt(
            generation=generation, candidate=names[1], control_mean=0.0333,
            treatment_mean=0.4667, uplift=0.4333, low=0.2, high=0.6, p_value=0.0001,
            n_control=120, n_treatment=120, threshold=0.05, alpha=0.05, min_samples=120,
            min_holdout=30, candidate_top_ups=3, holdout_before=(33, 120),
            holdout_after=(41, 120) if passed else (30, 120), passed=passed,
            reasons=() if passed else ("holdout 30/120 after the merge, not above 33/120 "
                                       "before",), at=T0, provenance=PROVENANCE)
    colony.record_merge(generation=10, child=names[4], child_digest="sha256:2",
                        parents={names[1]: "sha256:1", names[0]: "sha256:1"},
                        weights=(0.5, 0.5), method="cat", relative_error=1e-7, at=T0,
                        provenance=PROVENANCE)
    colony.record_baseline(adapter=f"{run}-supervised", adapter_digest="sha256:3",
                           method="supervised", examples=12345, steps=1543, loss=0.01,
                           seconds=2170.5, budget_seconds=2170.0, at=T0, provenance=PROVENANCE)
    events = colony.collect_events() + [e for o in organelles for e in o.collect_events()]
    return report_of(run, events)


def test_the_ecology_report_fits_and_names_every_compared_adapter():
    from ecology.replay import Thresholds, redecide  # noqa: F401 - the replay table below

    report = ecology_report()
    lines = render(tables.holdout_table(report), tables.compute_table(report),
                   tables.organelles_table(report), tables.generations_table(report),
                   tables.attempts_table(report))
    assert_readable(lines, "o1", "o2", "o3", "o4", "m10")
    text = words(lines)
    for role in ("frozen host", "best organelle", "merged colony m10", "supervised baseline"):
        assert role in text
    assert "2170.5" in text and "12345" in text


def test_the_ecology_replay_fits():
    from ecology.replay import Decision

    decisions = [Decision("cull", "eco-benchmark-1a2b3c-o3", 12, "culled in generation 12",
                          "lived", "its work after the recorded cull was never done: the "
                          "ledger cannot say more"),
                 Decision("assimilation", "eco-benchmark-1a2b3c-o2", 10,
                          "refused at the uplift test", "no merge built",
                          "the candidate would pass; no merge was built for it, so its "
                          "holdout is unknown")]
    assert_readable(render(tables.redecided_table(decisions, "eco-benchmark-1a2b3c")), "o3",
                    "o2")
