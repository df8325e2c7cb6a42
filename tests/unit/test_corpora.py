"""The bundled corpora as the Reader meets them: each paper written as a PDF by the project's
generator and read back by adapters/pdf.py. The vision corpus has papers of several pages,
tables and two-column pages; what is read back keeps every paragraph whole and in order
(a two-column page column after column), a table row by row with its cells, and every figure
of each corpus's gold list."""

from __future__ import annotations

import re

import pytest

from adapters.pdf import Page, read_pages
from swarm.corpora import CORPORA, UnknownCorpusError, corpus
from swarm.corpora.digest import PaperDigest


@pytest.fixture(scope="module")
def read_back(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Page]]:
    """Every paper of every corpus, written and read back once: slug -> pages."""
    pages = {}
    for name, bundled in CORPORA.items():
        folder = tmp_path_factory.mktemp(name)
        for paper, path in zip(bundled.papers, bundled.write(folder), strict=True):
            pages[paper.slug] = read_pages(path)
    return pages


def text_of(pages: list[Page]) -> str:
    return " ".join(page.text for page in pages)


def paragraphs(paper: PaperDigest) -> list[str]:
    return [" ".join(part.split()) for _, body in paper.sections for part in body.split("\n\n")]


ALL_PAPERS = [paper for bundled in CORPORA.values() for paper in bundled.papers]


def test_the_vision_corpus_has_long_papers_tables_and_two_column_pages(read_back):
    vision = corpus("vision")
    assert len(vision.papers) == 5 and vision.field == "efficient image classification"
    pages = {paper.slug: len(read_back[paper.slug]) for paper in vision.papers}
    assert all(count >= 2 for slug, count in pages.items() if slug != "efficientnet"), pages
    assert {paper.slug for paper in vision.papers if paper.columns == 2} == {"resnet",
                                                                              "efficientnet"}
    assert all(paper.tables for paper in vision.papers)
    assert all(len(read_back[paper.slug]) == 1 for paper in corpus("pilot").papers)


def test_a_corpus_writes_the_same_bytes_every_time(tmp_path):
    for bundled in CORPORA.values():
        first = bundled.write(tmp_path / "first" / bundled.name)
        again = bundled.write(tmp_path / "again" / bundled.name)
        assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]


@pytest.mark.parametrize("paper", ALL_PAPERS, ids=lambda paper: paper.slug)
def test_every_paragraph_reads_back_whole_and_in_order(read_back, paper):
    """A two-column page read line by line across both columns would cut every paragraph
    that spans a column; each one comes back whole, and after the one before it."""
    text = text_of(read_back[paper.slug])
    at = 0
    for paragraph in paragraphs(paper):
        found = text.find(paragraph, at)
        assert found >= 0, f"{paper.slug}: {paragraph[:80]!r} is not read back whole"
        at = found + len(paragraph)


def test_a_two_column_page_reads_column_after_column_not_across(read_back, tmp_path):
    """The EfficientNet page sets its Method section over both columns: the sentence that
    leaves the foot of the left column goes on at the head of the right one. Read in the
    page's visual order (pypdf's layout mode), the lines of the two columns interleave and
    the paragraph is lost; the Reader keeps it whole."""
    from pypdf import PdfReader

    paper = corpus("vision").papers[2]
    assert paper.slug == "efficientnet" and paper.columns == 2
    method = paragraphs(paper)[1]
    assert method.startswith("Scaling up a single dimension")
    assert method in read_back["efficientnet"][0].text
    path = corpus("vision").write(tmp_path)[2]
    visual = " ".join(PdfReader(path).pages[0].extract_text(extraction_mode="layout").split())
    assert method not in visual
    assert "Convolutional networks are commonly developed" in visual  # the same page


def test_a_table_reads_back_row_by_row_with_its_cells(read_back):
    resnet = [row for page in read_back["resnet"] for row in page.rows]
    assert resnet[0] == ("Method", "top-1 err. (%)", "top-5 err. (%)")
    assert ("ResNet-152", "19.38", "4.49") in resnet
    assert ("ResNet-34 B", "21.84", "5.71") in resnet
    vit = [row for page in read_back["vit"] for row in page.rows]
    assert ("Model (pre-training)", "ImageNet", "ReaL", "CIFAR-10", "CIFAR-100", "VTAB",
            "TPUv3-core-days") in vit
    assert ("ViT-H/14 (JFT)", "88.55", "90.72", "99.50", "94.55", "77.63", "2.5k") in vit
    assert ("Noisy Student (EfficientNet-L2)", "88.4", "90.55", "-", "-", "-", "12.3k") in vit
    deit = [row for page in read_back["deit"] for row in page.rows]
    assert ("DeiT-Ti", "5M", "224", "2536.5", "72.2") in deit


@pytest.mark.parametrize("paper", ALL_PAPERS, ids=lambda paper: paper.slug)
def test_only_a_tables_rows_read_back_as_cells_never_a_line_of_prose(read_back, paper):
    rows = [row for page in read_back[paper.slug] for row in page.rows]
    assert rows == [row for table in paper.tables for row in (table.header, *table.rows)]


@pytest.mark.parametrize("name", list(CORPORA))
def test_every_gold_figure_and_name_appears_in_the_text_read_back(read_back, name):
    bundled = corpus(name)
    slugs = {paper.slug for paper in bundled.papers}
    missing = []
    for metric in bundled.gold:
        assert metric.paper in slugs, metric
        text = text_of(read_back[metric.paper])
        if metric.printed not in text:
            missing.append((metric.paper, metric.printed))
        missing += [(metric.paper, named) for named in (metric.method, metric.model,
                                                         metric.dataset, metric.baseline)
                    if named and named.lower() not in text.lower()]
    assert missing == []


@pytest.mark.parametrize("name", list(CORPORA))
def test_gold_values_are_the_printed_figures_in_canonical_units(name):
    for metric in corpus(name).gold:
        assert metric.value == pytest.approx(canonical(metric.printed), rel=1e-9), metric
        assert metric.unit in UNITS, metric


def test_every_paper_with_figures_has_gold_and_no_figure_is_listed_twice():
    for bundled in CORPORA.values():
        keys = [(m.paper, m.printed, m.method, m.measures, m.dataset) for m in bundled.gold]
        assert len(keys) == len(set(keys))
        without = {p.slug for p in bundled.papers} - {m.paper for m in bundled.gold}
        assert without == ({"adalora"} if bundled.name == "pilot" else set())
    assert len(corpus("vision").gold) > 150


def test_an_unknown_corpus_is_refused_with_the_names_of_the_bundled_ones():
    with pytest.raises(UnknownCorpusError, match="pilot, vision"):
        corpus("speech")


def test_the_pilot_is_still_importable_where_it_always_was(tmp_path):
    from swarm.corpus import PILOT, write_pdf, write_pilot_corpus

    assert PILOT == corpus("pilot").papers
    assert [p.name for p in write_pilot_corpus(tmp_path)][0] == "lora.pdf"
    assert write_pdf(PILOT[1], tmp_path) == tmp_path / "qlora.pdf"


UNITS = {"parameters", "FLOPs", "multiply-adds", "GB", "s", "hours", "TPUv3-core-days",
         "images/s", "x", "%", "points", "bits", ""}
FACTOR = {"": 1.0, "%": 1.0, "x": 1.0, "times": 1.0, "points": 1.0, "bits": 1.0, "-bit": 1.0,
          "k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "billion FLOPs": 1e9,
          "TB": 1e3, "GB": 1.0, "MB": 1e-3, "ms": 1e-3, "s": 1.0, "hours": 1.0, "days": 24.0}


def canonical(printed: str) -> float:
    """A printed figure in the gold list's canonical units: 4.7M is 4700000, 1.2 TB is 1200
    GB, 75ms is 0.075 s, 30 days is 720 hours."""
    match = re.fullmatch(r"([\d,]+(?:\.\d+)?)\s*(.*)", printed)
    assert match, printed
    return float(match[1].replace(",", "")) * FACTOR[match[2]]
