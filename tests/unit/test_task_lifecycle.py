from decimal import Decimal

import pytest

from domain.errors import DuplicateReviewError, IllegalTransitionError, SelfReviewError
from domain.tasks import TaskState, TextPart, content_hash
from tests.builders import PROVENANCE, T0, completed_task, task, working_task

P = {"at": T0, "provenance": PROVENANCE}


def test_a_task_goes_from_submitted_through_working_to_completed():
    t = task()
    t.assign("reader-1", scores={"reader-1": 0.9}, reason="best match", **P)
    t.start("reader-1", **P)
    t.produce_artifact("a1", name="summary", parts=(TextPart(text="x"),), **P)
    t.complete(duration_ms=5, tokens=10, cpu_ms=4, **P)
    assert t.state is TaskState.COMPLETED
    assert [type(e).__name__ for e in t.collect_events()] == [
        "TaskAssigned", "TaskStarted", "ArtifactProduced", "TaskCompleted"]


def test_input_required_pauses_work_until_the_assignee_resumes():
    t = working_task()
    t.require_input("which paper?", **P)
    assert t.state is TaskState.INPUT_REQUIRED
    t.start("reader-1", **P)
    assert t.state is TaskState.WORKING


ILLEGAL = [
    ("complete a submitted task", task,
     lambda t: t.complete(duration_ms=0, tokens=0, cpu_ms=0, **P)),
    ("start an unassigned task", task, lambda t: t.start("reader-1", **P)),
    ("start someone else's task", lambda: _assigned("reader-2"),
     lambda t: t.start("reader-1", **P)),
    ("record an artifact before starting", task,
     lambda t: t.produce_artifact("a", name="", parts=(TextPart(text="x"),), **P)),
    ("assign a working task", working_task, lambda t: t.assign("x", scores={}, reason="", **P)),
    ("reject a working task", working_task, lambda t: t.reject("reader-1", "no", **P)),
    ("cancel a completed task", completed_task, lambda t: t.cancel("stop", **P)),
    ("fail a completed task", completed_task, lambda t: t.fail("oops", **P)),
    ("review a working task", working_task,
     lambda t: t.score_review("rev", quality=Decimal(1), rationale="r", **P)),
    ("reject as a non-assignee", lambda: _assigned("reader-2"),
     lambda t: t.reject("reader-1", "no", **P)),
]


def _assigned(agent_id: str):
    t = task()
    t.assign(agent_id, scores={}, reason="", **P)
    t.collect_events()
    return t


@pytest.mark.parametrize(("case", "build", "action"), ILLEGAL, ids=[i[0] for i in ILLEGAL])
def test_an_illegal_transition_is_refused_and_records_nothing(case, build, action):
    t = build()
    version, state = t.version, t.state
    with pytest.raises(IllegalTransitionError):
        action(t)
    assert t.collect_events() == []
    assert (t.version, t.state) == (version, state)


def test_an_agent_cannot_review_its_own_task():
    t = completed_task("reader-1")
    with pytest.raises(SelfReviewError):
        t.score_review("reader-1", quality=Decimal(1), rationale="mine", **P)
    assert t.collect_events() == []


def test_a_reviewer_scores_a_task_once():
    t = completed_task()
    t.score_review("rev", quality=Decimal("1.2"), rationale="good", **P)
    with pytest.raises(DuplicateReviewError):
        t.score_review("rev", quality=Decimal("0.2"), rationale="changed my mind", **P)
    assert len(t.collect_events()) == 1


def test_content_hash_depends_on_content_only():
    assert content_hash((TextPart(text="a"),)) == content_hash((TextPart(text="a"),))
    assert content_hash((TextPart(text="a"),)) != content_hash((TextPart(text="b"),))
