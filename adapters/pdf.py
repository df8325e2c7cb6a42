"""Text out of a PDF with pypdf, page by page.

pypdf reads a page's text in the order its content stream draws it, which is the reading
order of the PDFs that typesetters write: a two-column page comes out column after column
(never line by line across both), a table row by row. ``Page.text`` is that text with its
whitespace collapsed; ``Page.lines`` keeps the lines, and splits a table's row into its cells
where a wide gap sets them apart, so that figures in a table stay with their row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import sqrt
from pathlib import Path
from typing import Any

MAX_PAGES = 200
CELL_GAP_EM = 0.9
"""Runs of text on one line further apart than this many ems are separate cells: a word
space is about a third of an em, a table's column gap an em or more."""
STRETCH_EM = 0.25
"""What each space of a justified line may add to its width, beyond the letters' widths."""


class UnreadablePdfError(ValueError):
    """The file is not a PDF pypdf can read, or holds no text."""


@dataclass(frozen=True)
class Page:
    number: int
    text: str
    lines: tuple[tuple[str, ...], ...] = ()
    """The page's lines in reading order, each as its cells: one for a line of prose, one per
    column for a table's row."""

    @property
    def rows(self) -> list[tuple[str, ...]]:
        """The lines of more than one cell: a table's header and rows.

        >>> Page(1, "", (("Results",), ("ResNet-152", "19.38", "4.49"))).rows
        [('ResNet-152', '19.38', '4.49')]
        """
        return [line for line in self.lines if len(line) > 1]


def read_pages(path: Path) -> list[Page]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path, strict=False)
        if len(reader.pages) > MAX_PAGES:
            raise UnreadablePdfError(f"{path.name} has {len(reader.pages)} pages; "
                                     f"the limit is {MAX_PAGES}")
        pages = [_read(number, page) for number, page in enumerate(reader.pages, start=1)]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as error:
        if isinstance(error, UnreadablePdfError):
            raise
        raise UnreadablePdfError(f"{path.name} is not a readable PDF: {error}") from None
    pages = [page for page in pages if page.text]
    if not pages:
        raise UnreadablePdfError(f"{path.name} holds no extractable text")
    return pages


Widths = Callable[[str], float]
"""The width of a text in a font, in ems."""


@dataclass(frozen=True)
class _Run:
    """A piece of text as pypdf hands it over: where it starts (x, in points), the size of
    its font there (an em, in points) and the widths of the font's letters; no position when
    it could not be worked out."""

    text: str
    x: float | None
    em: float
    widths: Widths


def _read(number: int, page: Any) -> Page:
    runs: list[_Run] = []
    fonts: dict[int, Widths] = {}

    def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        if text:
            if id(font) not in fonts:
                fonts[id(font)] = _font_widths(font)
            runs.append(_run(text, cm, tm, size, fonts[id(font)]))

    text = page.extract_text(visitor_text=visit) or ""
    return Page(number, " ".join(text.split()), _lines(runs))


def _run(text: str, cm: Any, tm: Any, size: Any, widths: Widths) -> _Run:
    try:
        x = float(tm[4]) * float(cm[0]) + float(tm[5]) * float(cm[2]) + float(cm[4])
        scale = sqrt(abs(float(tm[0]) * float(tm[3]) - float(tm[1]) * float(tm[2])))
        scale *= sqrt(abs(float(cm[0]) * float(cm[3]) - float(cm[1]) * float(cm[2])))
        return _Run(text, x, float(size) * scale, widths)
    except (TypeError, ValueError, IndexError):
        return _Run(text, None, 0.0, widths)


def _lines(runs: list[_Run]) -> tuple[tuple[str, ...], ...]:
    """pypdf puts a newline where the text moves to another line; on one line, a run that
    starts well after the previous one ends begins a new cell."""
    lines: list[tuple[str, ...]] = []
    cells: list[str] = [""]
    end: float | None = None  # where the previous run on this line ends

    def close_line() -> None:
        kept = tuple(cell for cell in (" ".join(c.split()) for c in cells) if cell)
        if kept:
            lines.append(kept)
        cells[:] = [""]

    for run in runs:
        # The run's position is where its first letters are drawn.
        placed = run.x is not None and run.em > 0
        for index, part in enumerate(run.text.split("\n")):
            if index:
                close_line()
                end = None
            if not part.strip():
                cells[-1] += part
                continue
            if placed and end is not None and run.x - end > CELL_GAP_EM * run.em:
                cells.append("")
            cells[-1] += part
            # Where the run ends, at the most: its letters, and its spaces stretched.
            stripped = part.strip()
            end = (run.x + (run.widths(stripped) + STRETCH_EM * stripped.count(" ")) * run.em
                   if placed else None)
            placed = False
    close_line()
    return tuple(lines)


def _font_widths(font: Any) -> Widths:
    """A simple font's own widths (/Widths from /FirstChar, in thousandths of an em; a
    letter's code is its ASCII code in the encodings typesetters use), a monospaced core font's
    0.6 em, else an estimate from Helvetica's letters."""
    try:
        font = font.get_object() if font is not None else {}
        name = str(font.get("/BaseFont", ""))
        table = [float(w) / 1000 for w in font["/Widths"].get_object()]
        first = int(font["/FirstChar"])
        known = [w for w in table if w > 0]
        average = sum(known) / len(known)
    except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError):
        return _monospace if "Courier" in name else _estimate

    def widths(text: str) -> float:
        total = 0.0
        for char in text:
            code = ord(char) - first
            total += table[code] if 0 <= code < len(table) and table[code] > 0 else average
        return total

    return widths


def _monospace(text: str) -> float:
    return 0.6 * len(text)


NARROW = frozenset("ijl.,:;'!|()[]{}/-ftrI\"` ")
WIDE = frozenset("mwMW@%")


def _estimate(text: str) -> float:
    """From the shapes of Helvetica's letters: close enough to tell a word space from a
    table's column gap in a proportional font."""
    return sum(0.3 if char in NARROW else 0.85 if char in WIDE else
               0.68 if char.isupper() else 0.556 if char.isdigit() else 0.5
               for char in text)
