"""Runs and tasks: every task's A2A state, assignee, artifacts and review scores."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor, sql

from domain.runs import Run, RunFinished, RunStarted
from domain.tasks import (
    STATE_AFTER,
    ArtifactProduced,
    ReviewScored,
    Task,
    TaskAssigned,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskInputRequired,
    TaskIssued,
    TaskRejected,
    TaskStarted,
)
from projections.base import Projection
from projections.staging import topic, topics

TASK_EVENTS = (TaskIssued, TaskAssigned, TaskStarted, ArtifactProduced, TaskInputRequired,
               TaskCompleted, TaskFailed, TaskCanceled, TaskRejected, ReviewScored)

START_RUNS = sql.SQL(
    "INSERT INTO runs (run_id, workflow, config_digest, seed, code_version, started_at,"
    " replay_of)"
    " SELECT state->>'run_id', state->>'workflow', state->>'config_digest',"
    " (state->>'seed')::bigint, state->>'code_version', (state->>'timestamp')::timestamptz,"
    " state->>'replay_of'"
    " FROM staged_events WHERE position > %s AND topic = {started} ORDER BY position"
).format(started=topic(RunStarted))

FINISH_RUNS = sql.SQL(
    "UPDATE runs SET outcome = f.state->>'outcome',"
    " finished_at = (f.state->>'timestamp')::timestamptz"
    " FROM staged_events f WHERE f.position > %s AND f.topic = {finished}"
    " AND runs.run_id = f.aggregate_key"
).format(finished=topic(RunFinished))

# What a batch did to each task it touched, in ledger order: the last assignee, state and
# reason win; artifacts, reviews and quality add up.
# A task issued in the batch is inserted with all of that; any other is updated once.
FOLD_TASKS = sql.SQL(
    "WITH changes AS (SELECT aggregate_key AS task_id,"
    "  (array_agg(state ORDER BY position) FILTER (WHERE topic = {issued}))[1] AS issued,"
    "  (array_agg(state->>'agent_id' ORDER BY position DESC)"
    "   FILTER (WHERE topic = {assigned}))[1] AS assignee,"
    "  (array_agg(new_state ORDER BY position DESC)"
    "   FILTER (WHERE new_state IS NOT NULL))[1] AS state,"
    "  count(*) FILTER (WHERE topic = {artifact}) AS artifacts,"
    "  count(*) FILTER (WHERE topic = {reviewed}) AS reviews,"
    "  coalesce(sum((state->>'quality')::numeric) FILTER (WHERE topic = {reviewed}), 0)"
    "   AS quality,"
    "  (array_agg(reason ORDER BY position DESC) FILTER (WHERE reason IS NOT NULL))[1]"
    "   AS reason,"
    "  (array_agg((state->>'timestamp')::timestamptz ORDER BY position DESC))[1]"
    "   AS updated_at"
    " FROM (SELECT *, CASE topic {states} END AS new_state,"
    "   CASE WHEN topic IN {reasoned} THEN coalesce(nullif(state->>'reason', ''),"
    "    state->>'question') END AS reason"
    "  FROM staged_events WHERE position > %s AND topic IN {tasks}) AS e"
    "  GROUP BY 1),"
    " issued AS (INSERT INTO tasks (task_id, run_id, task_type, state, assignee, parent_id,"
    "  tags, base_reward, stake_required, artifacts, reviews, quality_sum, last_reason,"
    "  issued_at, updated_at)"
    "  SELECT task_id, issued->'provenance'->>'run_id', issued->>'task_type', state,"
    "  assignee, issued->>'parent_id', issued->'tags', (issued->>'base_reward')::numeric,"
    "  (issued->>'stake_required')::numeric, artifacts, reviews, quality, reason,"
    "  (issued->>'timestamp')::timestamptz, updated_at"
    "  FROM changes WHERE issued IS NOT NULL)"
    " UPDATE tasks SET assignee = coalesce(c.assignee, tasks.assignee),"
    " state = coalesce(c.state, tasks.state), artifacts = tasks.artifacts + c.artifacts,"
    " reviews = tasks.reviews + c.reviews, quality_sum = tasks.quality_sum + c.quality,"
    " last_reason = coalesce(c.reason, tasks.last_reason), updated_at = c.updated_at"
    " FROM changes c WHERE c.issued IS NULL AND tasks.task_id = c.task_id"
).format(
    issued=topic(TaskIssued), assigned=topic(TaskAssigned), artifact=topic(ArtifactProduced),
    reviewed=topic(ReviewScored),
    states=sql.SQL(" ").join(sql.SQL("WHEN {} THEN {}").format(topic(c), sql.Literal(s.value))
                             for c, s in STATE_AFTER.items()),
    reasoned=topics(*(c for c in STATE_AFTER if c is not TaskIssued)),
    tasks=topics(*TASK_EVENTS))


class TaskBoardProjection(Projection):
    name = "task_board"
    tables = {"runs": "run_id", "tasks": "task_id"}
    origins = {"runs": Run.id_for("{run_id}"), "tasks": Task.id_for("{task_id}")}
    staged = True

    def apply_staged(self, curs: Cursor[Any], after: int) -> None:
        curs.execute(START_RUNS, (after,), prepare=True)
        curs.execute(FINISH_RUNS, (after,), prepare=True)
        curs.execute(FOLD_TASKS, (after,), prepare=True)
