"""Write a tokenizer directory that transformers 4 and 5 (and vLLM) all load."""

from __future__ import annotations

import json
from pathlib import Path


def save_tokenizer(tokenizer, out_dir: str | Path) -> Path:
    """`tokenizer.save_pretrained(out_dir)`, naming the class `PreTrainedTokenizerFast`.

    transformers 5 records its backend class `TokenizersBackend`, which transformers 4 (and
    the vLLM builds pinned to it) cannot resolve; `PreTrainedTokenizerFast` means "load
    tokenizer.json as is" in both, and everything else stays in tokenizer.json, the chat
    template file and tokenizer_config.json.
    """
    out = Path(out_dir)
    tokenizer.save_pretrained(str(out))
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    return out
