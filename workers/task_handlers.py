"""The task types this project's workers can do, and loading more from a module.

A module given to ``karma worker --handlers MODULE`` exposes ``HANDLERS``: a dict from task
type to a function ``(TaskMessage) -> TaskOutcome``.
"""

from __future__ import annotations

import importlib
from functools import partial
from pathlib import Path

from adapters.fetch import FetchRefusedError, fetch_pdf
from domain.tasks import DataPart, FilePart
from workers.task_types import TaskType, queued_task_types
from workers.task_worker import PermanentTaskError, TaskHandler, TaskMessage, TaskOutcome


def fetch_paper(message: TaskMessage, cache_dir: Path) -> TaskOutcome:
    location = message.payload.get("url") or message.payload.get("path")
    if not isinstance(location, str) or not location:
        raise PermanentTaskError("Fetch_Paper needs a 'url' (or 'path') in its payload")
    try:
        paper = fetch_pdf(location, cache_dir)
    except FetchRefusedError as error:
        raise PermanentTaskError(str(error)) from None
    return TaskOutcome(
        name="paper",
        parts=[FilePart(uri=paper.uri, mime_type="application/pdf"),
               DataPart(data={"sha256": paper.sha256, "bytes": paper.size,
                              "source": location})],
    )


def builtin_handlers(home: Path) -> dict[str, TaskHandler]:
    return {"Fetch_Paper": partial(fetch_paper, cache_dir=home / "papers")}


def builtin_task_types() -> list[TaskType]:
    """Every work queue on the TASKS stream, from the registry (workers/task_types.py): what
    the streams' document lists (``karma stream asyncapi``). The built-in handlers are a
    subset: a type without one is worked by the swarm's roles or a ``--handlers`` module."""
    return queued_task_types()


def load_handlers(module_name: str) -> dict[str, TaskHandler]:
    module = importlib.import_module(module_name)
    handlers = getattr(module, "HANDLERS", None)
    if not isinstance(handlers, dict):
        raise ValueError(f"module {module_name} has no HANDLERS dict")
    return handlers
