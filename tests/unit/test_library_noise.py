"""Libraries' log records and warnings reach the terminal as structured log lines, and a
corrupt PDF's pypdf warnings not at all while a research run shows its progress bars.

Each case runs in a fresh interpreter, as the CLI does: under pytest the root logger holds
pytest's own handlers, so Python's last-resort handler, which printed the bare lines, never
runs in-process."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STRUCTURED = re.compile(r"^\d{4}-\d\d-\d\dT\S+Z \[(\w+)\s*\] ")
"""The start of every line ConsoleRenderer writes: ISO time, then the level in brackets."""


def stderr_of(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.fixture
def corrupt_pdf(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.pdf"
    path.write_bytes(b"%PDF-1.4 garbage")
    return path


def test_a_corrupt_pdf_fails_with_its_reason_and_no_pypdf_warning_on_the_terminal(
        corrupt_pdf):
    stderr = stderr_of("""
        import logging, sys
        from pathlib import Path
        from adapters.pdf import UnreadablePdfError, read_pages
        from app import logs

        logs.configure(logging.WARNING)  # as `karma research run` does under its progress bars
        try:
            read_pages(Path(sys.argv[1]))
        except UnreadablePdfError as error:
            sys.stderr.write(f"refused: {error}\\n")
        else:
            raise SystemExit("read_pages accepted a corrupt PDF")
    """, str(corrupt_pdf))
    assert "refused: corrupt.pdf is not a readable PDF" in stderr
    assert "EOF marker" not in stderr


def test_library_warnings_become_structured_log_lines():
    stderr = stderr_of("""
        import logging, warnings
        from app import logs

        logs.configure()
        logging.getLogger("some_library").warning("disk %s nearly full", "sda")
        logging.getLogger("httpx").info("HTTP Request: GET http://localhost/ 200 OK")
        warnings.warn("the old parameter goes away", UserWarning)
    """)
    lines = stderr.splitlines()
    assert len(lines) == 2, stderr  # httpx's INFO line per request is chatter, not shown
    assert all(STRUCTURED.match(line)[1] == "warning" for line in lines), stderr
    assert "disk sda nearly full" in lines[0] and "[some_library]" in lines[0]
    assert "UserWarning: the old parameter goes away" in lines[1]
    assert "[py.warnings]" in lines[1]


def test_transformers_own_handler_gives_way_when_logs_are_configured_again():
    stderr = stderr_of("""
        import logging
        from app import logs

        logs.configure()
        from transformers.utils import logging as transformers_logging
        logs.configure(logging.WARNING)  # the research run, after loading the model
        transformers_logging.get_logger("transformers.generation").warning("pad token unset")
    """)
    assert STRUCTURED.match(stderr), stderr
    assert stderr.count("pad token unset") == 1
    assert "[transformers]" not in stderr  # the prefix of transformers' own handler
