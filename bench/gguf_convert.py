"""SmolLM2-135M Q4_1 GGUF -> float32 HF tensors: our converter against transformers' GGUF loader.

Prints one JSON object: seconds for `gguf_to_hf` (read + dequantise + un-permute + tokenizer),
for `write_hf_dir` (the same plus writing config/safetensors/tokenizer), and for the anchor,
`transformers.AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)`, in this process.

  python bench/gguf_convert.py   (not bench/gguf.py: that name would shadow the gguf package)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import emit, machine  # noqa: E402
from jaxinterest.models.qwen2.gguf import gguf_to_hf, smollm2_gguf_path, write_hf_dir  # noqa: E402


def seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    import transformers

    path = smollm2_gguf_path()
    ours = seconds(lambda: gguf_to_hf(path))
    with tempfile.TemporaryDirectory() as tmp:
        write = seconds(lambda: write_hf_dir(path, tmp))
    anchor = seconds(
        lambda: transformers.AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name
        )
    )
    emit(
        {
            "bench": "gguf",
            "machine": machine(),
            "file": path.name,
            "file_mb": round(path.stat().st_size / 1e6, 1),
            "ours_gguf_to_hf_s": round(ours, 2),
            "ours_write_hf_dir_s": round(write, 2),
            "transformers_gguf_load_s": round(anchor, 2),
            "ratio_anchor_over_ours": round(anchor / ours, 2),
        }
    )


if __name__ == "__main__":
    main()
