"""Task handlers for worker tests, loaded by `karma worker --handlers tests.support.task_handlers`."""

import os
import time
from pathlib import Path

from domain.tasks import TextPart
from workers.task_worker import TaskMessage, TaskOutcome


def slow_echo(message: TaskMessage) -> TaskOutcome:
    """Takes payload['seconds'], and leaves a trace of every start in payload['trace_dir']."""
    trace = Path(message.payload["trace_dir"]) / f"{message.task_id}.{os.getpid()}.{time.time_ns()}"
    trace.touch()
    time.sleep(float(message.payload.get("seconds", 0)))
    return TaskOutcome(name="echo", parts=[TextPart(text=message.payload.get("text", ""))],
                       tokens=1)


def always_broken(message: TaskMessage) -> TaskOutcome:
    raise RuntimeError("the model endpoint answered 503")


HANDLERS = {"Slow_Echo": slow_echo, "Always_Broken": always_broken}
