"""The swarm's pure parts: figures out of text, tidy answers, the reviewer's rubric, and the
model adapters' behaviour on a real loopback server that answers slowly or badly."""

import pytest

from adapters.llm import ModelCallError, OpenAICompatibleModel
from adapters.llm_replay import RecordedCall, RecordedModel, ReplayDivergenceError
from domain.model_calls import prompt_digest
from swarm import figures
from swarm.passages import tidy
from swarm.reviewing import grounding, rubric
from tests.support.openai_server import Broken, Slow, serving

LORA = ("On GPT-3 175B, LoRA with 4.7M trainable parameters reaches 73.4 accuracy on WikiSQL "
        "and 91.7 on MNLI-m. Training reduces VRAM consumption from 1.2 TB to 350 GB. "
        "(IA)3 on T0-3B updates about 0.01% of the model's parameters. It reduces the number of "
        "trainable parameters by 10,000 times.")


def test_the_metrician_finds_counts_scores_memory_and_shares_but_not_names():
    found = {(f.kind, f.value, f.subject) for f in figures.extract("lora", LORA)}
    assert ("params", 4.7e6, "GPT-3 175B") in found
    assert ("score", 73.4, "WikiSQL") in found and ("score", 91.7, "MNLI-m") in found
    assert ("memory_gb", 1200.0, "memory") in found and ("memory_gb", 350.0, "memory") in found
    assert ("param_share", 0.01, "T0-3B") in found and ("reduction", 10000.0, "") in found
    # "(IA)3 on T0-3B" is a method's name, not a score of 3.
    assert not any(kind == "score" and value == 3 for kind, value, _ in found)


def test_the_comparison_has_one_row_per_method():
    rows = figures.as_records(figures.extract("lora", LORA)
                              + figures.extract("qlora", "It needs under 48 GB."))
    table = figures.comparison(rows, papers=["adalora", "lora", "qlora"])
    assert list(table.method) == ["adalora", "lora", "qlora"]  # a paper with no figures too
    assert table.loc[1, "trainable params"] == "4.7M on GPT-3 175B"
    assert table.loc[1, "best score"] == "91.7 on MNLI-m"
    assert "| lora | 4.7M on GPT-3 175B |" in figures.markdown(table)
    assert table.loc[0, "figures"] == 0


OTHER_FIELDS = (
    "Whisper large-v2 reaches a WER of 2.7 on LibriSpeech test-clean. Speculative decoding is "
    "2.5x faster than autoregressive decoding on T5-XXL. FlashAttention reaches a perplexity "
    "of 18.2 on OpenWebText. The kernel serves 1,200 tokens/s with a latency of 35 ms per "
    "token. EfficientNet-B7 achieves 84.3% top-1 accuracy on ImageNet while being 8.4x smaller "
    "and 6.1x faster than GPipe. Training took 256 GPU-hours. In 2019 the authors used 8 "
    "layers.")


def test_the_metrician_reads_quantities_of_any_field_by_unit_and_measure_not_by_topic():
    found = {(f.kind, f.value, f.measure, f.subject, f.baseline)
             for f in figures.extract("x", OTHER_FIELDS)}
    assert ("score", 2.7, "WER", "LibriSpeech", "") in found
    assert ("speedup", 2.5, "speedup", "T5-XXL", "autoregressive decoding") in found
    assert ("score", 18.2, "perplexity", "OpenWebText", "") in found
    assert ("score", 84.3, "top-1", "ImageNet", "GPipe") in found
    assert ("reduction", 8.4, "reduction", "ImageNet", "GPipe") in found
    assert ("speedup", 6.1, "speedup", "ImageNet", "GPipe") in found
    kinds = {(f.kind, f.value, f.unit) for f in figures.extract("x", OTHER_FIELDS)}
    assert {("throughput", 1200.0, "tokens/s"), ("latency_s", 0.035, "s"),
            ("compute_hours", 256.0, "GPU-hours")} <= kinds
    assert not any(value in (2019.0, 8.0) for _, value, _ in kinds)  # a year, a layer count
    table = figures.comparison(figures.as_records(figures.extract("x", OTHER_FIELDS)))
    assert "WER 2.7 on LibriSpeech" in table.loc[0, "best score"]
    assert "speedup 6.1×" in table.loc[0, "speed and cost"]


def test_tidy_drops_repeats_and_a_cut_off_tail():
    assert tidy("A is good. A is good. B is bad. C is", 5) == "A is good. B is bad."
    assert tidy("Only a fragment", 2) == "Only a fragment"
    assert tidy("QLoRA is a method that cuts memory. It is a method that cuts memory. "
                "It trains adapters.", 3) == "QLoRA is a method that cuts memory. It trains adapters."


def test_the_rubric_rewards_a_grounded_summary_over_an_invented_one():
    source = "LoRA freezes the pretrained weights and trains low-rank matrices."
    grounded, _ = rubric("Summarise_Paper", "LoRA freezes pretrained weights and trains "
                         "low-rank matrices instead of all weights.", {}, source)
    invented, _ = rubric("Summarise_Paper", "Quantum widgets accelerate blockchain synergy "
                         "across distributed marketplaces today.", {}, source)
    assert grounded > invented
    assert grounding("", source) == 0.0


def test_the_openai_adapter_counts_tokens_and_turns_timeouts_and_errors_into_model_call_errors():
    def script(prompt: str):
        if "slow" in prompt:
            return Slow(3.0, "late")
        if "broken" in prompt:
            return Broken(500)
        return "fine answer"

    with serving(script) as server:
        model = OpenAICompatibleModel(server.url, "scripted", timeout_s=0.5, retries=0)
        done = model.complete("hello there", max_tokens=5)
        assert (done.text, done.prompt_tokens, done.completion_tokens) == ("fine answer", 2, 2)
        with pytest.raises(ModelCallError, match="Timeout"):
            model.complete("a slow one", max_tokens=5)
        with pytest.raises(ModelCallError, match="InternalServerError"):
            model.complete("a broken one", max_tokens=5)
        retried = OpenAICompatibleModel(server.url, "scripted", timeout_s=5, retries=2)
        before = len(server.prompts)
        with pytest.raises(ModelCallError):
            retried.complete("broken again", max_tokens=5)
        assert len(server.prompts) - before == 3  # the first try and two retries


def test_the_replay_model_answers_recorded_prompts_in_order_and_refuses_new_ones():
    calls = [RecordedCall("a", prompt_digest("p"), "first", "m", 1, 1),
             RecordedCall("a", prompt_digest("p"), "second", "m", 1, 1)]
    model = RecordedModel(calls)
    assert [model.complete("p", max_tokens=1).text for _ in range(3)] == [
        "first", "second", "second"]
    with pytest.raises(ReplayDivergenceError, match="no recorded answer"):
        model.complete("q", max_tokens=1)


def test_a_table_row_is_read_cell_by_cell_under_its_header_and_a_ragged_row_is_not_guessed():
    rows = [("Model", "Top-1 Acc.", "#Params", "#FLOPs", "Latency"),
            ("EfficientNet-B0", "77.1%", "5.3M", "0.39B", "12ms"),
            ("ResNet-50", "76.0%", "26M"),  # a cell missing: which column is which?
            ("Caption", "text")]
    found = {(f.kind, f.value, f.subject, f.measure) for f in figures.extract("e", "", rows)}
    assert {("score", 77.1, "EfficientNet-B0", "Top-1 Acc."),
            ("model_size", 5.3e6, "EfficientNet-B0", "#Params"),
            ("flops", 0.39e9, "EfficientNet-B0", "#FLOPs"),
            ("latency_s", 0.012, "EfficientNet-B0", "Latency")} <= found
    assert {(kind, measure) for kind, _, subject, measure in found
            if subject == "ResNet-50"} == {("percent", ""), ("table", "table cell")}


def test_the_headlines_compare_methods_from_their_figures_and_name_the_silent_ones():
    rows = figures.as_records(
        figures.extract("lora", "LoRA trains 4.7M trainable parameters on GPT-3 175B.")
        + figures.extract("ia3", "(IA)3 updates 0.01% of the model's parameters. It trains "
                                 "0.6M trainable parameters on T0-3B.")
        + figures.extract("prefix", "It tunes 0.1% of the parameters."))
    said = figures.headlines(rows, papers=["adalora", "ia3", "lora", "prefix"])
    assert said == [
        "ia3 trains the smallest share of its model's parameters (0.01%), against prefix "
        "(0.1%).",
        "ia3 trains the fewest parameters (600K on T0-3B), against lora (4.7M on GPT-3 175B).",
        "adalora reports no figure that could be read."]
    table = figures.markdown(figures.comparison(rows, ["adalora", "ia3", "lora", "prefix"]))
    assert "| ia3 | 600K on T0-3B | 0.01% |" in table  # each headline's figure, as shown
