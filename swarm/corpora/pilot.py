"""The pilot corpus: six short PEFT papers (LoRA, QLoRA, AdaLoRA, prefix tuning, (IA)3,
DoRA), one page each, so that the README's example needs no network. Each is a digest written
for this project; the figures are the ones the papers publish in their abstracts and main
tables, and none are invented where a paper gives none."""

from __future__ import annotations

from swarm.corpora.digest import PaperDigest

FIELD = "parameter-efficient fine-tuning (PEFT)"

PILOT = (
    PaperDigest(
        "lora", "LoRA: Low-Rank Adaptation of Large Language Models",
        "Edward J. Hu, Yelong Shen, Phillip Wallis, Zeyuan Allen-Zhu, Yuanzhi Li, Shean Wang, "
        "Lu Wang, Weizhu Chen", "arXiv:2106.09685 (2021)",
        (("Abstract",
          "Fine-tuning every parameter of a large pretrained model becomes less feasible as "
          "models grow. LoRA freezes the pretrained model weights and injects trainable rank "
          "decomposition matrices into each layer of the Transformer architecture, greatly "
          "reducing the number of trainable parameters for downstream tasks. Compared to GPT-3 "
          "175B fine-tuned with Adam, LoRA can reduce the number of trainable parameters by "
          "10,000 times and the GPU memory requirement by 3 times. LoRA performs on-par or "
          "better than fine-tuning in model quality on RoBERTa, DeBERTa, GPT-2, and GPT-3, "
          "despite having fewer trainable parameters, a higher training throughput, and, unlike "
          "adapters, no additional inference latency."),
         ("Method",
          "For a pretrained weight matrix W0 of size d x k, LoRA constrains its update by a "
          "low-rank decomposition W0 + BA, where B is d x r, A is r x k and the rank r is much "
          "smaller than d and k. W0 is frozen; A and B are trained. At deployment BA is merged "
          "into W0, so inference costs nothing extra. Applying LoRA to the query and value "
          "projections with r = 4 was enough for GPT-3 175B."),
         ("Results",
          "On GPT-3 175B, LoRA with 4.7M trainable parameters reaches 73.4 accuracy on WikiSQL "
          "and 91.7 on MNLI-m, against 73.8 and 89.5 for full fine-tuning of 175,255.8M "
          "parameters. On RoBERTa-base, LoRA with 0.3M trainable parameters averages 87.2 on "
          "GLUE, against 86.4 for full fine-tuning of 125M parameters. Training GPT-3 175B "
          "with LoRA reduces VRAM consumption from 1.2 TB to 350 GB, and the checkpoint from "
          "350 GB to 35 MB."),
         ("Limitations",
          "Batching inputs for different tasks with different A and B in a single forward pass "
          "is not straightforward once the weights are merged. The choice of which weight "
          "matrices to adapt relies on heuristics."))),
    PaperDigest(
        "qlora", "QLoRA: Efficient Finetuning of Quantized LLMs",
        "Tim Dettmers, Artidoro Pagnoni, Ari Holtzman, Luke Zettlemoyer",
        "arXiv:2305.14314 (2023)",
        (("Abstract",
          "QLoRA is an efficient finetuning approach that reduces memory usage enough to "
          "finetune a 65B parameter model on a single 48GB GPU while preserving full 16-bit "
          "finetuning task performance. QLoRA backpropagates gradients through a frozen, "
          "4-bit quantized pretrained language model into Low Rank Adapters. The best model "
          "family, Guanaco, reaches 99.3% of the performance level of ChatGPT on the Vicuna "
          "benchmark while only requiring 24 hours of finetuning on a single GPU."),
         ("Method",
          "QLoRA introduces 4-bit NormalFloat (NF4), a data type that is information "
          "theoretically optimal for normally distributed weights; double quantization, which "
          "quantizes the quantization constants and saves about 0.37 bits per parameter "
          "(about 3 GB for a 65B model); and paged optimizers that absorb memory spikes."),
         ("Results",
          "Finetuning a 65B model in 16 bits needs more than 780 GB of GPU memory; QLoRA brings "
          "it under 48 GB without degrading predictive performance relative to a 16-bit "
          "fully finetuned baseline. NF4 with double quantization matches 16-bit LoRA on the "
          "benchmarks studied."),
         ("Limitations",
          "The paper does not establish that QLoRA matches full 16-bit finetuning at 33B and "
          "65B scale on every benchmark, and evaluating chatbots with GPT-4 as judge has known "
          "biases."))),
    PaperDigest(
        "adalora", "AdaLoRA: Adaptive Budget Allocation for Parameter-Efficient Fine-Tuning",
        "Qingru Zhang, Minshuo Chen, Alexander Bukharin, Pengcheng He, Yu Cheng, Weizhu Chen, "
        "Tuo Zhao", "arXiv:2303.10512 (ICLR 2023)",
        (("Abstract",
          "LoRA distributes the budget of incremental updates evenly across all pretrained "
          "weight matrices and overlooks their varying importance. AdaLoRA adaptively "
          "allocates the parameter budget among weight matrices according to their importance "
          "score. It parameterizes the incremental updates in the form of a singular value "
          "decomposition, which allows it to prune the singular values of unimportant updates "
          "without intensive exact SVD computations."),
         ("Method",
          "Each update is written as P Lambda Q, with orthogonality regularisation on P and Q. "
          "An importance score built from the sensitivity of each triplet decides which "
          "singular values are kept; a global budget scheduler lowers the number of kept "
          "triplets during training."),
         ("Results",
          "Experiments fine-tune DeBERTaV3-base on GLUE and SQuAD and BART-large on XSum and "
          "CNN/DailyMail. AdaLoRA improves on the baselines, and the gains are largest in the "
          "low-budget settings."),
         ("Limitations",
          "The importance estimate and the budget schedule add hyperparameters, and the "
          "orthogonality regulariser adds training cost."))),
    PaperDigest(
        "prefix-tuning", "Prefix-Tuning: Optimizing Continuous Prompts for Generation",
        "Xiang Lisa Li, Percy Liang", "arXiv:2101.00190 (ACL 2021)",
        (("Abstract",
          "Prefix-tuning is a lightweight alternative to fine-tuning for natural language "
          "generation tasks, which keeps language model parameters frozen and optimizes a "
          "small continuous task-specific vector called the prefix. It is applied to GPT-2 for "
          "table-to-text generation and to BART for summarization. By learning only 0.1% of "
          "the parameters, prefix-tuning obtains comparable performance in the full data "
          "setting, outperforms fine-tuning in low-data settings, and extrapolates better to "
          "examples with topics unseen during training."),
         ("Method",
          "Trainable activations are prepended at every layer as virtual tokens that the "
          "real tokens attend to; the prefix is reparameterised through an MLP during training "
          "for stability and only the prefix is kept afterwards."),
         ("Results",
          "With 0.1% of the parameters, prefix-tuning is comparable to full fine-tuning on "
          "E2E, WebNLG and DART table-to-text, and slightly below it on XSum summarization."),
         ("Limitations",
          "The prefix uses part of the context window, and training is sensitive to "
          "initialisation."))),
    PaperDigest(
        "ia3", "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than "
        "In-Context Learning", "Haokun Liu, Derek Tam, Mohammed Muqeeth, Jay Mohta, Tenghao "
        "Huang, Mohit Bansal, Colin Raffel", "arXiv:2205.05638 (NeurIPS 2022)",
        (("Abstract",
          "The paper introduces a new PEFT method called (IA)3 that scales activations by "
          "learned vectors, attaining stronger performance while only introducing a relatively "
          "tiny amount of new parameters. The recipe T-Few, based on the T0 model, is applied "
          "to the RAFT benchmark, attaining super-human performance for the first time and "
          "outperforming the state-of-the-art by 6% absolute."),
         ("Method",
          "(IA)3 rescales the keys and values in attention and the inner activations of the "
          "feed-forward layers with learned vectors; it updates about 0.01% of the model's "
          "parameters. Training adds an unlikelihood loss and a length-normalised loss."),
         ("Results",
          "Few-shot PEFT with (IA)3 on T0-3B gives higher accuracy than few-shot in-context "
          "learning with far larger models, at a fraction of the inference cost, since the "
          "examples need not be processed again for every prediction."),
         ("Limitations",
          "Results are for classification-style tasks with a few labelled examples; the recipe "
          "was tuned on held-out tasks of T0's evaluation suite."))),
    PaperDigest(
        "dora", "DoRA: Weight-Decomposed Low-Rank Adaptation",
        "Shih-Yang Liu, Chien-Yi Wang, Hongxu Yin, Pavlo Molchanov, Yu-Chiang Frank Wang, "
        "Kwang-Ting Cheng, Min-Hung Chen", "arXiv:2402.09353 (ICML 2024)",
        (("Abstract",
          "DoRA decomposes the pretrained weight into two components, magnitude and direction, "
          "for fine-tuning, and employs LoRA for directional updates to efficiently minimize "
          "the number of trainable parameters. DoRA enhances both the learning capacity and "
          "training stability of LoRA while avoiding any additional inference overhead. DoRA "
          "consistently outperforms LoRA on fine-tuning LLaMA, LLaVA, and VL-BART on various "
          "downstream tasks, such as commonsense reasoning, visual instruction tuning, and "
          "image/video-text understanding."),
         ("Method",
          "A weight analysis shows that full fine-tuning and LoRA change magnitude and "
          "direction in different patterns; DoRA trains the magnitude vector directly and the "
          "direction through a low-rank update, and merges both after training."),
         ("Results",
          "On commonsense reasoning, DoRA improves the average accuracy of LoRA by 3.7 points "
          "on LLaMA-7B, with a similar number of trainable parameters."),
         ("Limitations",
          "Training needs somewhat more memory than LoRA because of the weight norm; the "
          "paper reduces it by treating the norm as a constant in backpropagation."))),
)
