"""The pilot corpus's gold figures: every figure its digests state (swarm/corpora/pilot.py).
AdaLoRA's digest states none, so it has no entry."""

from __future__ import annotations

from swarm.corpora.gold import GoldMetric as G

FT = "full fine-tuning"
ADAM = "GPT-3 175B fine-tuned with Adam"

PILOT_GOLD = (
    # LoRA
    G("lora", "10,000 times", 10_000.0, "x", "reduction in trainable parameters", "LoRA",
      "GPT-3 175B", baseline=ADAM),
    G("lora", "3 times", 3.0, "x", "reduction in GPU memory requirement", "LoRA", "GPT-3 175B",
      baseline=ADAM),
    G("lora", "4.7M", 4.7e6, "parameters", "trainable parameters", "LoRA", "GPT-3 175B"),
    G("lora", "73.4", 73.4, "%", "accuracy", "LoRA", "GPT-3 175B", "WikiSQL", FT),
    G("lora", "91.7", 91.7, "%", "accuracy", "LoRA", "GPT-3 175B", "MNLI-m", FT),
    G("lora", "73.8", 73.8, "%", "accuracy", FT, "GPT-3 175B", "WikiSQL"),
    G("lora", "89.5", 89.5, "%", "accuracy", FT, "GPT-3 175B", "MNLI-m"),
    G("lora", "175,255.8M", 175_255.8e6, "parameters", "trainable parameters", FT,
      "GPT-3 175B"),
    G("lora", "0.3M", 0.3e6, "parameters", "trainable parameters", "LoRA", "RoBERTa-base"),
    G("lora", "87.2", 87.2, "", "average GLUE score", "LoRA", "RoBERTa-base", "GLUE", FT),
    G("lora", "86.4", 86.4, "", "average GLUE score", FT, "RoBERTa-base", "GLUE"),
    G("lora", "125M", 125e6, "parameters", "trainable parameters", FT, "RoBERTa-base"),
    G("lora", "1.2 TB", 1200.0, "GB", "VRAM consumption in training", FT, "GPT-3 175B"),
    G("lora", "350 GB", 350.0, "GB", "VRAM consumption in training", "LoRA", "GPT-3 175B",
      baseline=FT),
    G("lora", "350 GB", 350.0, "GB", "checkpoint size", FT, "GPT-3 175B"),
    G("lora", "35 MB", 0.035, "GB", "checkpoint size", "LoRA", "GPT-3 175B", baseline=FT),
    # QLoRA
    G("qlora", "48 GB", 48.0, "GB", "GPU memory to finetune", "QLoRA", "65B",
      baseline="16-bit finetuning"),
    G("qlora", "780 GB", 780.0, "GB", "GPU memory to finetune", "16-bit finetuning", "65B"),
    G("qlora", "4-bit", 4.0, "bits", "precision of the frozen pretrained model", "QLoRA"),
    G("qlora", "16-bit", 16.0, "bits", "precision of the finetuning baseline",
      "16-bit finetuning"),
    G("qlora", "99.3%", 99.3, "%", "performance relative to ChatGPT", "Guanaco",
      dataset="Vicuna benchmark", baseline="ChatGPT"),
    G("qlora", "24 hours", 24.0, "hours", "finetuning time on a single GPU", "Guanaco"),
    G("qlora", "0.37 bits", 0.37, "bits", "memory saved per parameter", "double quantization"),
    G("qlora", "3 GB", 3.0, "GB", "memory saved", "double quantization", "65B"),
    # Prefix-tuning
    G("prefix-tuning", "0.1%", 0.1, "%", "share of parameters trained", "prefix-tuning",
      "GPT-2", baseline="fine-tuning"),
    # (IA)3 / T-Few
    G("ia3", "6%", 6.0, "%", "absolute improvement over the state of the art", "T-Few", "T0",
      "RAFT", "state-of-the-art"),
    G("ia3", "0.01%", 0.01, "%", "share of parameters updated", "(IA)3"),
    # DoRA
    G("dora", "3.7 points", 3.7, "points", "average accuracy improvement", "DoRA", "LLaMA-7B",
      "commonsense reasoning", "LoRA"),
)
