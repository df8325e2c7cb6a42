"""The faithfulness check on the pilot report's own failures (issue 16): invented figures,
misattributed models, repeats, and a few-shot example copied word for word."""

from domain.faithfulness import Fate, Tally, check, names, numbers, unsupported

QLORA = ("We present QLoRA, an efficient finetuning approach that reduces memory usage enough "
         "to finetune a 65B parameter model on a single 48GB GPU. QLoRA reduces the memory "
         "needed to finetune a 65B parameter model from more than 780 GB to under 48 GB of GPU "
         "memory. Guanaco reaches 99.3% of the performance level of ChatGPT on the Vicuna "
         "benchmark.")
LORA = ("Compared to GPT-3 175B fine-tuned with Adam, LoRA can reduce the number of trainable "
        "parameters by 10,000 times and the GPU memory requirement by 3 times. LoRA trains "
        "4.7M parameters on GPT-3.")
EXAMPLE = ("They cut the cost of training by orders of magnitude, so many tasks can share one "
           "frozen model.")


def test_numbers_are_compared_by_value_and_scale():
    assert numbers("4.7M and 4.7 million and 4,700,000") == {(4_700_000.0, "")}
    assert numbers("175B parameters") == {(175e9, "")}
    assert numbers("99.3% on GLUE, 4-bit, 3 times, 48GB") == {
        (99.3, "%"), (4.0, "-bit"), (3.0, "×"), (48.0, "GB")}
    assert unsupported("It cuts memory 4-fold.", "It stores 4-bit weights.") == ("4×",)
    assert unsupported("It stores weights in 4 bits.", "It stores 4-bit weights.") == ()
    assert unsupported("Rank 4 suffices.", "It stores 4-bit weights.") == ()
    assert names("LoRA on GPT-3 175B, RoBERTa and T5 on GLUE; The model") == {
        "LoRA", "GPT-3", "RoBERTa", "T5", "GLUE"}


def test_an_invented_figure_is_named_and_the_closest_source_sentence_stands_in():
    tally = Tally()
    [checked] = check("QLoRA reduces memory by 4-fold.", [QLORA], [], tally)
    assert checked.fate is Fate.EXTRACTED and checked.unsupported == ("4×",)
    assert checked.text == ('"QLoRA reduces the memory needed to finetune a 65B parameter '
                            'model from more than 780 GB to under 48 GB of GPU memory."')
    assert checked.citation == 0 and tally.as_data()["extracted"] == 1


def test_a_misattributed_figure_fails_against_the_passage_that_lacks_it():
    assert unsupported("LoRA trains 300K parameters on GPT-3.", LORA) == ("300000",)
    assert unsupported("LoRA trains 4.7M parameters on GPT-3.", LORA) == ()
    assert unsupported("LoRA trains 4.7M parameters on RoBERTa.", LORA) == ("RoBERTa",)


def test_a_supported_sentence_is_kept_and_cites_the_passage_that_holds_it():
    tally = Tally()
    [checked] = check("Guanaco reaches 99.3% of ChatGPT on Vicuna.", [LORA, QLORA], [], tally)
    assert (checked.fate, checked.citation) == (Fate.KEPT, 1)
    assert checked.text == checked.generated


def test_repeats_and_copies_of_the_worked_example_never_reach_the_report():
    tally = Tally()
    results = check("LoRA is a cost-efficient method for fine-tuning on large-scale datasets. "
                    "It is a cost-effective method for fine-tuning on large-scale datasets. "
                    + EXAMPLE, [LORA], [EXAMPLE], tally)
    assert [r.fate for r in results] == [Fate.KEPT, Fate.DROPPED, Fate.COPIED]
    assert [r.text for r in results][1:] == ["", ""]
    assert tally.as_data() == {"generated": 3, "kept": 1, "extracted": 0, "dropped": 1,
                               "copied": 1}
    assert "3 sentences generated" in tally.summary()


def test_a_sentence_with_nothing_close_in_the_source_is_dropped_not_replaced():
    tally = Tally()
    [checked] = check("BitFit tunes 0.1% of the biases on SuperGLUE.", [LORA], [], tally)
    assert checked.fate is Fate.DROPPED and checked.text == ""
    assert set(checked.unsupported) == {"0.1%", "BitFit", "SuperGLUE"}


def test_one_methods_figures_are_never_given_to_another_and_names_match_in_any_case():
    rows = ["| lora | 4.7M on GPT-3 175B; 300K on RoBERTa-base | 91.7 on MNLI-m |",
            "| qlora | 65B | 3 GB, 48 GB, 780 GB | 99.3% of ChatGPT |"]
    tally = Tally()
    given, borne, own = check(
        "QLoRA trains 300K parameters on RoBERTa-base. QLoRA needs 48 GB and reaches 99.3% of "
        "ChatGPT. LoRA trains 300K parameters on RoBERTa-base.", rows, [], tally,
        owners=["lora", "qlora"])
    assert given.fate is Fate.DROPPED and "300000" in given.unsupported  # lora's figure
    assert (borne.fate, borne.citation) == (Fate.KEPT, 1)  # "QLoRA" is the row's "qlora"
    assert (own.fate, own.citation) == (Fate.KEPT, 0)
