"""The report keeps each citation inside the sentence it supports, so that anyone splitting
the report into sentences (bench.research_quality does) finds each number's source."""

from adapters.vector_store import Hit, Passage
from domain.faithfulness import Checked, Fate, Tally, sentences
from swarm.synthesis import Finding, Rendered, Sources, render


def test_citations_sit_inside_their_sentences_and_extracted_ones_stay_quoted():
    sources = Sources()
    hit = Hit(Passage("lora", 1, 3, "LoRA trains 4.7M parameters on GPT-3 175B."), 0.8)
    number = sources.number(hit)
    kept = Checked("LoRA trains 4.7M parameters.", Fate.KEPT, "LoRA trains 4.7M parameters.", 0)
    quoted = Checked("LoRA cuts memory 4-fold.", Fate.EXTRACTED,
                     '"LoRA trains 4.7M parameters on GPT-3 175B."', 0, ("4×",))
    report = render("PEFT", Rendered(
        overview=[], findings=[Finding("LoRA", [kept, quoted], [number, number])], table="",
        narrative=[], debate={}, sources=sources, tally=Tally(), headlines=[]))
    line = next(line for line in report.splitlines() if line.startswith("- **LoRA**"))
    assert line == ('- **LoRA**: LoRA trains 4.7M parameters [1]. '
                    '"LoRA trains 4.7M parameters on GPT-3 175B" [1].')
    assert [s.endswith("[1].") for s in sentences(line)] == [True, True]
    assert "1. lora, page 1 (passage 3, similarity 0.80)" in report
