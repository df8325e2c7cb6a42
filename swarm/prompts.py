"""Few-shot prompts. The default host (Gemma 3 270M) is a base model, not a chat model: it
continues patterns, so every prompt shows one worked example and ends where the answer goes.
Instruction-tuned endpoints read them just as well."""

from __future__ import annotations

STOP = ("\n",)
"""Every worked answer is one line: a base model that goes on past it starts a new example."""

SUMMARY = """Summarise the paper excerpt in two sentences: what the method does and what it achieves.

Excerpt: Adapters insert small bottleneck layers between the layers of a frozen pretrained network and train only those. On GLUE, adapters reach within 0.4% of full fine-tuning while adding 3.6% parameters per task.
Summary: Adapters train small bottleneck layers inserted into a frozen network. They come within 0.4% of full fine-tuning on GLUE with 3.6% extra parameters per task.

Excerpt: {excerpt}
Summary:"""

NARRATIVE = """Write two sentences comparing the methods in the table: which is cheapest to train and which reports the strongest results.

Table:
| method | trainable params | best score |
| adapters | 3.6% | 80.0 on GLUE |
| bitfit | 0.1% | 78.1 on GLUE |
Comparison: BitFit trains the fewest parameters (0.1%), while adapters report the stronger GLUE score (80.0) at a larger parameter cost.

Table:
{table}
Comparison:"""

CRITIQUE = """{persona_line}

Claim: Adapters match full fine-tuning with few parameters.
{persona} view: {example}

Claim: {claim}
{persona} view:"""

PERSONAS = {
    "optimist": ("You argue for the strengths of parameter-efficient fine-tuning.",
                 "They cut the cost of training by orders of magnitude, so many tasks can "
                 "share one frozen model."),
    "skeptic": ("You look for the weaknesses and open questions of each claim.",
                "The comparison uses one benchmark; the gap may widen on harder tasks and "
                "the extra layers add latency."),
}

OVERVIEW = """Write a short overview of the research topic from the method summaries.

Topic: prompt tuning
Summaries:
- prompt-tuning: Soft prompts are trained while the model stays frozen. They close the gap to fine-tuning as models grow.
Overview: Prompt tuning learns a few soft prompt vectors and leaves the model untouched; its quality approaches full fine-tuning at large scale.

Topic: {topic}
Summaries:
{summaries}
Overview:"""
