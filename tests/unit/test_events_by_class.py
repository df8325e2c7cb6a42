"""Events are told apart by their classes, never by their names: a name compares equal to
the wrong class (two contexts each have a ModelCalled) and silently stops matching when a
class is renamed. Rows read back from SQL are resolved to their class first
(``domain.catalogue.recorded_class``). This test reads the code for the old habit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from domain import graph, tasks
from domain.agents import Agent
from domain.base import key_of
from domain.catalogue import event_class, event_classes, recorded_class
from domain.karma import KarmaAccount, KarmaMinted
from domain.runs import Run
from domain.tasks import ACTIVE_STATES, STATE_AFTER, TERMINAL_STATES, Task, TaskState

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("domain", "adapters", "handlers", "readside", "projections", "streams", "app",
           "workers", "knowledge", "swarm", "entrypoints", "bench", "examples")
EVENT_NAMES = frozenset(klass.__name__ for klass in event_classes())


def _names_an_event(node: ast.AST) -> bool:
    """A string literal that is an event's name, alone or in a tuple, list or set."""
    if isinstance(node, ast.Constant):
        return node.value in EVENT_NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_names_an_event(element) for element in node.elts)
    return False


def _is_a_name(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "__name__"


def _string_matches(tree: ast.AST) -> list[tuple[int, str]]:
    """Where the code compares, matches or keys on an event's name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_a_name(o) or _names_an_event(o) for o in operands):
                found.append((node.lineno, "compares an event's name"))
        elif isinstance(node, ast.Match) and _is_a_name(node.subject):
            found.append((node.lineno, "matches on a class's name"))
        elif isinstance(node, ast.MatchValue) and _names_an_event(node.value):
            found.append((node.lineno, "matches an event's name"))
        elif isinstance(node, ast.Dict) and any(
                key is not None and _names_an_event(key) for key in node.keys):
            found.append((node.lineno, "keys a dict on an event's name"))
    return found


def test_no_source_matches_events_by_name():
    offences = [f"{path.relative_to(ROOT)}:{line}: {what}"
                for folder in SOURCES for path in sorted((ROOT / folder).rglob("*.py"))
                for line, what in _string_matches(ast.parse(path.read_text()))]
    assert not offences, "match events by class (isinstance, match, recorded_class):\n" + (
        "\n".join(offences))


@pytest.mark.parametrize("code", [
    'if type(event).__name__ == "ArtifactProduced": pass',
    'match kind:\n    case "RunStarted": pass',
    'ended = row["event_type"] in ("TaskCompleted", "TaskFailed")',
    'STATES = {"TaskIssued": "submitted"}',
])
def test_the_guard_sees_each_old_habit(code):
    assert _string_matches(ast.parse(code))


def test_a_recorded_row_resolves_to_its_class_within_its_context():
    assert event_class("karma", "KarmaMinted") is KarmaMinted
    assert event_class("tasks", "ModelCalled") is tasks.ModelCalled
    assert event_class("graph", "ModelCalled") is graph.ModelCalled
    assert recorded_class({"context": "tasks", "event_type": "TaskIssued"}) is tasks.TaskIssued
    assert event_class("tasks", "KarmaMinted") is None
    assert event_class("tasks", "NoSuchEvent") is None


def test_every_event_class_resolves_from_its_own_context_and_name():
    for klass in event_classes():
        assert event_class(klass.context(), klass.__name__) is klass


def test_an_aggregate_makes_its_ids_and_knows_them():
    assert Task.id_for("r1.fetch.lora") == "task/r1.fetch.lora"
    assert key_of(Task.id_for("r1.fetch.lora")) == "r1.fetch.lora"
    assert Task.owns("task/r1.fetch.lora")
    assert not Task.owns("karma/reader-1")
    assert not Task.owns("tasks/r1")
    assert KarmaAccount.owns(KarmaAccount.id_for("reader-1"))
    assert not Agent.owns(Run.id_for("agent"))
    # A template for a view's origins is an id like any other.
    assert KarmaAccount.id_for("{agent_id}").format(agent_id="reader-1") == "karma/reader-1"


def test_task_states_split_into_active_and_terminal_and_events_lead_to_them():
    assert ACTIVE_STATES | TERMINAL_STATES == set(TaskState)
    assert not ACTIVE_STATES & TERMINAL_STATES
    assert STATE_AFTER[tasks.TaskCompleted] is TaskState.COMPLETED
    assert STATE_AFTER[tasks.TaskInputRequired] in ACTIVE_STATES
    assert tasks.TaskAssigned not in STATE_AFTER
