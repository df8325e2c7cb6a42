"""Held tasks' subjects: each agent's consumer reads its own tasks and no other agent's, and
agents whose ids differ only by a dot get consumers of their own."""

from hypothesis import given
from hypothesis import strategies as st

from domain.base import SLUG_PATTERN
from streams.topology import Topology

agent_ids = st.from_regex(SLUG_PATTERN, fullmatch=True)
task_ids = st.text(min_size=1, max_size=80)


def matches(subject_filter: str, subject: str) -> bool:
    """NATS's rule for filters without '>': same number of tokens, '*' matches any one."""
    wanted, tokens = subject_filter.split("."), subject.split(".")
    return len(wanted) == len(tokens) and all(w in ("*", t) for w, t in zip(wanted, tokens))


@given(task_ids, agent_ids, agent_ids)
def test_an_agents_filter_matches_its_held_tasks_and_no_other_agents(task_id, holder, other):
    topology = Topology(namespace="t1")
    subject = topology.held_task_subject("Fetch_Paper", task_id, holder)
    assert matches(topology.held_task_filter("Fetch_Paper", holder), subject)
    assert matches(topology.held_task_filter("Fetch_Paper", other), subject) == (other == holder)
    assert not matches(topology.task_subject("Fetch_Paper"), subject)  # not the shared queue's


def test_agents_differing_by_a_dot_get_consumers_of_their_own():
    topology = Topology()
    names = {topology.held_durable("Fetch_Paper", agent) for agent in ("a.b", "a_b", "a-b")}
    assert len(names) == 3
    assert not any("." in name for name in names)
