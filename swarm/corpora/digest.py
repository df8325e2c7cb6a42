"""A paper digest and the one generator that writes it as a PDF (fpdf2, the core Helvetica
font): a title block, then the sections in one column or flowing in two, tables set across the
page after the section that cites them, and page breaks where a digest asks for them.

A digest is written for this project: it restates what a published paper reports, with the
figures the paper gives, and no figure the paper does not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# A fixed date: the same digest always writes the same bytes (and the same sha256).
CREATED = datetime(2026, 1, 1, tzinfo=UTC)
LINE = {"new_x": "LMARGIN", "new_y": "NEXT"}
GUTTER_MM = 8.0


@dataclass(frozen=True)
class Table:
    """A table as a paper prints one, set across the page after the section ``after``:
    a caption, a header row, and rows of cells (the first cell names the row)."""

    after: str
    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...] = ()
    """Relative column widths; even when empty."""


@dataclass(frozen=True)
class PaperDigest:
    slug: str
    title: str
    authors: str
    reference: str
    sections: tuple[tuple[str, str], ...]
    """(heading, body) pairs; a body's paragraphs are separated by a blank line."""
    tables: tuple[Table, ...] = ()
    columns: int = 1
    """2: the sections flow in two columns, as on a conference paper's pages."""
    page_breaks: tuple[str, ...] = ()
    """Headings of the sections that start a new page."""

    def __post_init__(self) -> None:
        headings = {heading for heading, _ in self.sections}
        unknown = ({table.after for table in self.tables} | set(self.page_breaks)) - headings
        if unknown:
            raise ValueError(f"{self.slug}: no section is headed {sorted(unknown)}")
        if any(len(row) != len(table.header) for table in self.tables for row in table.rows):
            raise ValueError(f"{self.slug}: a table's row and its header differ in length")

    @property
    def plain(self) -> bool:
        """One column, no tables, no page breaks: the pilot's one-page layout."""
        return self.columns == 1 and not self.tables and not self.page_breaks


def write_pdf(paper: PaperDigest, folder: Path) -> Path:
    """``folder/<slug>.pdf``: A4, Helvetica, the same bytes for the same digest."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(paper.title)
    pdf.set_author(paper.authors)
    pdf.set_creation_date(CREATED)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.multi_cell(0, 8, paper.title, **LINE)
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 6, f"{paper.authors}\n{paper.reference}", **LINE)
    if paper.plain:
        _write_plain(pdf, paper)
    else:
        _write_laid_out(pdf, paper)
    target = folder / f"{paper.slug}.pdf"
    pdf.output(str(target))
    return target


def _write_plain(pdf: Any, paper: PaperDigest) -> None:
    """The pilot's layout, unchanged: its PDFs keep their bytes and their sha256."""
    for heading, body in paper.sections:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        pdf.multi_cell(0, 7, heading, **LINE)
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 6, body, **LINE)


def _write_laid_out(pdf: Any, paper: PaperDigest) -> None:
    """Sections in runs: a run ends where a table follows its last section or the next
    section starts a page. A two-column run is balanced, so a table set after it sits below
    both columns, as a full-width table does in a two-column paper."""
    run: list[tuple[str, str]] = []
    for heading, body in paper.sections:
        if heading in paper.page_breaks:
            _write_run(pdf, paper.columns, run)
            run = []
            pdf.add_page()
        run.append((heading, body))
        tables = [table for table in paper.tables if table.after == heading]
        if tables:
            _write_run(pdf, paper.columns, run)
            run = []
            for table in tables:
                _write_table(pdf, table)
    _write_run(pdf, paper.columns, run)


def _write_run(pdf: Any, columns: int, run: list[tuple[str, str]]) -> None:
    if not run:
        return
    if columns == 1:
        for heading, body in run:
            pdf.ln(3)
            pdf.set_font("Helvetica", "B", 12)
            pdf.multi_cell(0, 7, heading, **LINE)
            pdf.set_font("Helvetica", "", 11)
            for paragraph in _paragraphs(body):
                pdf.multi_cell(0, 6, paragraph, **LINE)
                pdf.ln(1)
        return
    pdf.ln(3)
    with pdf.text_columns(ncols=columns, gutter=GUTTER_MM, balance=True, text_align="J",
                          line_height=1.15) as flow:
        for heading, body in run:
            pdf.set_font("Helvetica", "B", 11)
            with flow.paragraph(text_align="L", top_margin=2, bottom_margin=1) as par:
                par.write(heading)
            pdf.set_font("Helvetica", "", 10)
            for paragraph in _paragraphs(body):
                with flow.paragraph(bottom_margin=1.5) as par:
                    par.write(paragraph)


def _write_table(pdf: Any, table: Table) -> None:
    pdf.ln(4)
    pdf.set_font("Helvetica", "I", 9)
    pdf.multi_cell(0, 5, table.caption, **LINE)
    pdf.ln(1)
    pdf.set_font("Helvetica", "", 9)
    widths = table.widths or tuple(1.0 for _ in table.header)
    align = ("LEFT", *("RIGHT" for _ in table.header[1:]))
    with pdf.table(col_widths=widths, text_align=align, line_height=5.5,
                   first_row_as_headings=True, repeat_headings=1) as grid:
        for cells in (table.header, *table.rows):
            row = grid.row()
            for cell in cells:
                row.cell(cell)
    pdf.ln(3)


def _paragraphs(body: str) -> list[str]:
    return [" ".join(part.split()) for part in body.split("\n\n") if part.strip()]
