"""Dual-channel learning end to end on the real Gemma host and MiniLM, against a real ledger:
the reward model, training runs whose every update the ledger gates, the full RHI, deploys,
a rollback that restores exactly the adapter served before, replays under other thresholds,
and refused input that writes nothing."""

import shutil

import pytest
from safetensors.torch import load_file, save_file

from adapters.gemma_host import MODEL_NAME, GemmaHost, LoraFile
from adapters.llm import ModelCallError
from domain.errors import IllegalTransitionError, NotFoundError
from domain.learning import (
    AdapterTrained,
    ConsolidationRefused,
    Learner,
    RhiMeasured,
    TrainingRunStarted,
    UpdateGated,
)
from domain.rhi import GateThresholds
from handlers import commands as c
from learning import loop
from learning.config import load_config, load_manifold
from tests.conftest import ledger_size

pytestmark = pytest.mark.slow

PASSAGES = [
    ("LoRA freezes the pretrained weights and trains two low-rank matrices per layer, "
     "cutting trainable parameters by 10000 times on GPT-3."),
    ("QLoRA quantizes the frozen model to 4-bit NF4 and finetunes a 65B model on one 48 GB "
     "GPU, matching 16-bit finetuning."),
    ("Prefix tuning keeps the model frozen and learns 0.1 percent of the parameters as "
     "continuous prefixes prepended to every layer."),
    ("AdaLoRA allocates the rank budget by importance scores, pruning singular values of "
     "less important updates during training."),
]
GOOD = ["{} in short: it trains a small part of the model.",
        "The method keeps the base frozen: {}"]
BAD = "Bananas are yellow and grow in warm countries near the sea."


def summarise(passage: str) -> str:
    return f"Passage: {passage}\nSummarise the passage in one sentence:"


def fill(container, training_set: str) -> None:
    service = container.service
    service.execute(c.OpenTrainingSet(training_set=training_set,
                                      manifold=load_manifold().model_dump(mode="json")))
    commands: list[c.Command] = []
    for passage in PASSAGES:
        prompt = summarise(passage)
        good = GOOD[0].format(passage.split(",")[0])
        for response, grounding, quality in ((good, 0.9, 0.8), (BAD, 0.05, 0.1)):
            commands.append(c.LabelSample(
                training_set=training_set, prompt=prompt, response=response,
                vector={"grounding": grounding, "completeness": quality}, intensity=0.8,
                safety=1.0, labeller="test-review", category="paper_summary"))
        commands.append(c.FormPair(training_set=training_set, prompt=prompt, chosen=good,
                                   rejected=BAD, margin=0.8, intensity=0.8, safety=1.0,
                                   labeller="test-review", category="paper_summary"))
        commands.append(c.FormSftExample(training_set=training_set, prompt=prompt,
                                         response=good, intensity=0.8, safety=1.0,
                                         labeller="test-review", category="paper_summary"))
    service.execute_batch(commands)


def events(container, kind):
    return [e for e in container.ledger.events.get(Learner.id_for("t"))
            if isinstance(e, kind)]


def test_train_gate_measure_deploy_train_again_and_roll_back_to_the_exact_adapter(container,
                                                                                 tmp_path):
    fill(container, "set")
    config = load_config(
        learner="t", training_set="set", steps=2, sft_batch=1, pair_batch=1, held_out=0.5,
        probe_prompts=2, max_new_tokens=6, max_prompt_chars=400, learning_rate=1e-3,
        thresholds={"consolidate": 0.05}, calibration={"dcs_items": 2})
    reward = loop.train_reward(container, config, epochs=60, seed=0)
    assert reward.samples == 8

    first = loop.train(container, config, run="first")
    gated = events(container, UpdateGated)
    assert [g.step for g in gated] == [1, 2] and sum(first.decisions.values()) == 2
    assert all(0 <= g.partial_rhi <= 1 and g.pairs + g.examples >= 1 for g in gated)
    [measured] = events(container, RhiMeasured)
    assert measured.digest == first.digest and 0 <= measured.rhi <= 1
    assert set(measured.components) == {"dcs", "gvs", "mss", "cdrs", "lrps"}
    assert first.held_out + first.pairs == 4
    # The saved adapter is the one recorded: its tensors hash to the digest.
    assert loop.adapter_bytes(container, "t", first.digest)
    assert loop.lineage(first.path)["digest"] == first.digest

    assert loop.deploy(container, "t", first.digest)
    before = ledger_size(container)
    with pytest.raises(ValueError, match="rank 8 and alpha 16"):
        loop.train(container, config.model_copy(update={"rank": 4}), run="reshaped")
    assert ledger_size(container) == before
    second = loop.train(container, config, run="second")
    [started_second] = [e for e in events(container, TrainingRunStarted)
                        if e.run == "second"]
    assert started_second.base_digest == first.digest == second.parent
    assert second.digest != first.digest
    assert loop.deploy(container, "t", second.digest)

    assert loop.roll_back(container, "t", "answers got worse") == first.digest
    learner = loop.load_learner(container, "t")
    assert learner.serving == first.digest

    # What `karma research run --learner t` answers with: the served adapter on the host,
    # named in every model call; a file changed after it was recorded never answers.
    lora = loop.serving_adapter(container, "t")
    assert lora.digest == first.digest
    answered = GemmaHost(lora=lora).complete("LoRA is", max_tokens=3)
    assert answered.model == f"{MODEL_NAME}+lora:{first.digest[7:19]}"
    tampered = tmp_path / "tampered"
    shutil.copytree(lora.folder, tampered)
    weights = load_file(tampered / "adapter_model.safetensors")
    first_name = sorted(weights)[0]
    weights[first_name] = weights[first_name] + 1
    save_file(weights, tampered / "adapter_model.safetensors")
    with pytest.raises(ModelCallError, match="not " + first.digest):
        GemmaHost(lora=LoraFile(tampered, first.digest)).load()

    strict = GateThresholds(skip=0.999, rollback=0.001, freeze=0.0)
    redecided = loop.replay(container, "t", "first", strict)
    assert [r.recorded for r in redecided] == [g.decision.value for g in gated]
    assert [r.redecided for r in redecided] == [
        "apply" if r.partial_rhi >= 0.999 else "skip" for r in redecided]


def test_consolidation_below_the_threshold_is_refused_and_recorded(container):
    fill(container, "set")
    config = load_config(learner="t", training_set="set", steps=1, sft_batch=1,
                         pair_batch=0, held_out=0.0, probe_prompts=2, max_new_tokens=4,
                         max_prompt_chars=300, thresholds={"consolidate": 1.0})
    loop.train_reward(container, config, epochs=20, seed=0)
    summary = loop.train(container, config, run="only")
    assert not loop.deploy(container, "t", summary.digest)
    [refused] = events(container, ConsolidationRefused)
    assert refused.threshold == 1.0 and refused.digest == summary.digest


def test_refused_learning_commands_write_nothing(container):
    fill(container, "set")
    config = load_config(learner="t", training_set="set")
    loop.ensure_learner(container, config, load_manifold(), host_model="gemma")
    before = ledger_size(container)
    refused = [
        (c.RollBackAdapter(learner="t", reason="nothing serves"), IllegalTransitionError),
        (c.DeployAdapter(learner="t", digest="sha256:" + "a" * 64), NotFoundError),
        (c.GateUpdate(learner="t", run="nope", partial_rhi=0.5, dcs=0.5, gvs=0.5, gvi=0.1,
                      loss=1.0, learning_rate=1e-3, examples=1, pairs=0), NotFoundError),
        (c.LabelSample(training_set="set", prompt="p", response="r",
                       vector={"empathy": 3.0}, intensity=1, safety=1, labeller="x"),
         Exception),
        (c.LabelSample(training_set="set", prompt="p", response="r",
                       vector={"kindness": 0.5}, intensity=1, safety=1, labeller="x"),
         Exception),
        (c.FormPair(training_set="nope", prompt="p", chosen="a", rejected="b", margin=0.5,
                    intensity=1, safety=1, labeller="x"), NotFoundError),
        (c.FormPair(training_set="set", prompt="p", chosen="a", rejected="a", margin=0.5,
                    intensity=1, safety=1, labeller="x"), IllegalTransitionError),
    ]
    for command, error in refused:
        with pytest.raises(error):
            container.service.execute(command)
    for bad in ({"intensity": float("nan")}, {"safety": 1.5}, {"prompt": "x" * 40_000}):
        with pytest.raises(ValueError):
            c.LabelSample(**{"training_set": "set", "prompt": "p", "response": "r",
                             "vector": {}, "intensity": 1, "safety": 1, "labeller": "x",
                             **bad})
    with pytest.raises(NotFoundError):
        loop.replay(container, "t", "never", GateThresholds())
    assert ledger_size(container) == before
    assert not events(container, AdapterTrained)
