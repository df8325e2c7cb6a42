"""Prompts asked of the local host at the same time are generated as one batch, and each
answer is the one it would have had alone: its own stop strings, its own token budget."""

import threading
import time

import pytest

from adapters.gemma_host import GemmaHost
from swarm import prompts
from swarm.corpus import PILOT


class CountingHost(GemmaHost):
    """The real host, noting the size of every batch it generates."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def _answer(self, batch):
        self.batches.append(len(batch))
        return super()._answer(batch)


@pytest.fixture(scope="module")
def host() -> CountingHost:
    found = CountingHost()
    found.load()
    return found


def asked_together(host: CountingHost, asks: list[tuple[str, int, tuple[str, ...]]]):
    """Ask every prompt from its own thread while the host is held, so that all of them are
    waiting when it frees: they must be answered as one batch."""
    answers: list = [None] * len(asks)

    def ask(index: int) -> None:
        prompt, budget, stop = asks[index]
        answers[index] = host.complete(prompt, max_tokens=budget, stop=stop)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(asks))]
    with host.lock:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(host._asked) < len(asks):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    for thread in threads:
        thread.join(timeout=300)
    return answers


def test_prompts_asked_together_are_one_batch_and_answer_as_they_would_alone(host):
    excerpts = [" ".join(body for _, body in paper.sections)[:500] for paper in PILOT[:3]]
    asks = [(prompts.SUMMARY.format(excerpt=excerpts[0]), 40, prompts.STOP),
            (prompts.SUMMARY.format(excerpt=excerpts[1]), 8, prompts.STOP),  # a small budget
            (prompts.SUMMARY.format(excerpt=excerpts[2]), 40, ())]  # no stop: runs to budget
    alone = [host.complete(prompt, max_tokens=budget, stop=stop)
             for prompt, budget, stop in asks]
    host.batches.clear()
    together = asked_together(host, asks)

    assert host.batches == [3]
    assert [a.text for a in together] == [a.text for a in alone]
    assert [a.completion_tokens for a in together] == [a.completion_tokens for a in alone]
    assert together[1].completion_tokens <= 8
    assert [a.prompt_tokens for a in together] == [a.prompt_tokens for a in alone]
    assert "\n" not in together[0].text
