"""Structured logs to stderr, so that a command's stdout stays clean for ``--json`` and pipes.

Our own lines come from structlog. The standard ``logging`` records of the libraries (pypdf,
transformers, httpx, FastStream...) and ``warnings.warn`` go through the same processors and
renderer, so they too are structured lines, not the bare ones of Python's last-resort handler.
"""

from __future__ import annotations

import contextlib
import logging
import sys

import structlog
from structlog.stdlib import ProcessorFormatter

SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]

LIBRARY_FLOOR = logging.WARNING
"""Libraries log from this level up (or the configured one, when higher). Their INFO lines
are chatter for us: httpx writes one per request, FastStream one per message."""

QUIET_LIBRARIES = {"pypdf": logging.ERROR}
"""Libraries held at a higher level, whatever the configured one. pypdf warns about damage
in a PDF that it works around (we read with strict=False) or that ends in UnreadablePdfError,
whose message the task then fails with: the warning only repeats it, and on a research run it
broke through the progress bars. Keeping them in a log file under the data folder instead
was ruled out: configure() runs in the CLI's callback, before any command reads its settings."""

SELF_PRINTING_LIBRARIES = ("transformers", "huggingface_hub")
"""Libraries that put a stderr handler of their own on their root logger when imported."""

TRACEBACKS = structlog.dev.RichTracebackFormatter(color_system=None, show_locals=False)
"""Without locals: a library's traceback (FastStream's, on a NATS hiccup) would fill screens
with them, and a local may hold a token or a key."""


class _CurrentStderr:
    """sys.stderr as it is at each write, not as it was at configure(): rich's progress bars
    redirect it while they show (so that log lines print above them), and tests capture it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _LibraryHandler(logging.StreamHandler):
    """The root logger's handler that renders the libraries' records; one at a time."""


def configure(level: int = logging.INFO) -> None:
    renderer = structlog.dev.ConsoleRenderer(colors=False, exception_formatter=TRACEBACKS)
    structlog.configure(
        processors=[*SHARED_PROCESSORS, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),
        cache_logger_on_first_use=True,
    )
    _route_standard_logging(level, renderer)


def _route_standard_logging(level: int, renderer: structlog.typing.Processor) -> None:
    _install_root_handler(renderer)
    logging.getLogger().setLevel(max(level, LIBRARY_FLOOR))
    for name, quiet_level in QUIET_LIBRARIES.items():
        logging.getLogger(name).setLevel(max(level, quiet_level))
    _import_huggingface_hub_logging()
    for name in SELF_PRINTING_LIBRARIES:
        _take_over_handlers(name)
    logging.captureWarnings(True)


def _install_root_handler(renderer: structlog.typing.Processor) -> None:
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _LibraryHandler)]:
        root.removeHandler(old)  # configure() runs again when a research run shows its bars
    handler = _LibraryHandler(_CurrentStderr())
    handler.setFormatter(ProcessorFormatter(
        foreign_pre_chain=[*SHARED_PROCESSORS, structlog.stdlib.add_logger_name,
                           _strip_trailing_newline],
        processors=[ProcessorFormatter.remove_processors_meta, renderer],
    ))
    root.addHandler(handler)


def _strip_trailing_newline(
    _: object, __: str, event_dict: structlog.typing.EventDict,
) -> structlog.typing.EventDict:
    """A captured ``warnings.warn`` ends in a newline, which would break its line in two."""
    event = event_dict.get("event")
    if isinstance(event, str):
        event_dict["event"] = event.rstrip()
    return event_dict


def _import_huggingface_hub_logging() -> None:
    """huggingface_hub adds its handler on import and keeps propagating, so, imported after
    configure(), it would print each record twice. Its logging module is cheap to import
    (~15 ms, unlike transformers' ~1 s), so it is imported here and taken over at once."""
    with contextlib.suppress(ImportError):
        import huggingface_hub.utils.logging  # noqa: F401


def _take_over_handlers(name: str) -> None:
    """Send an imported library's records to the root logger instead of its own bare stderr
    handler. transformers, when imported later, keeps its handler until configure() runs
    again: a research run configures again after loading the model, before its bars show."""
    if name not in logging.root.manager.loggerDict:
        return  # not imported yet: creating its logger now would change nothing
    logger = logging.getLogger(name)
    for own in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
        logger.removeHandler(own)
    logger.propagate = True
