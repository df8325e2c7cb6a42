"""FastStream's restart notice is dropped for the one known-harmless fetch timeout only."""

import asyncio
import logging

import nats.errors
import pytest

from workers.work_queue import QUEUE_LOG

NOTICE = "Task-7 raised an exception, retrying...\nIf this behavior causes issues, ..."


def shown(error: BaseException, message: str = NOTICE) -> bool:
    record = logging.LogRecord(QUEUE_LOG.name, logging.ERROR, __file__, 1, message, None,
                               (type(error), error, None))
    return QUEUE_LOG.filter(record)


@pytest.mark.parametrize(("error", "message", "expected"), [
    (asyncio.TimeoutError(), NOTICE, False),           # nats-py's plain deadline timeout
    (nats.errors.TimeoutError(), NOTICE, True),
    (nats.errors.NoServersError(), NOTICE, True),
    (ValueError("boom"), NOTICE, True),
    (asyncio.TimeoutError(), "a task failed", True),
])
def test_only_the_fetch_deadline_restart_is_hidden(error, message, expected):
    assert shown(error, message) is expected
