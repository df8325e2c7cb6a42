"""transformers and huggingface_hub draw their own progress bars on stderr (de-quantising,
loading weights, writing shards); under the CLI's own bars they print as noise. The host says
what it does in words instead (GemmaHost.prepare)."""


def hide_progress_bars() -> None:
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    disable_progress_bars()
