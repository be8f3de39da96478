"""Regenerate `jaxinterest/assets/tiny_bpe_8k.json`, the tiny family's 8,192-id BPE tokenizer.

The corpus, deterministic for a given `--seed` and world generator version:
1. the synthetic world's `small` preset (`jaxinterest.data.world`, generated into a temporary
   directory): news titles and abstracts, and the text of every search/browse/click event;
2. general English news-like text made here, so the vocabulary also covers words the world's
   templates never use: headlines from templates, synthetic names, and words drawn Zipf-style
   from the English word tokens of Qwen's own vocabulary (`qwen.tiktoken`, where a lower rank
   means a more frequent word).
`--source synthetic` skips part 1 (the asset then no longer tracks the world). Changing the world
generator changes part 1, so regenerate the asset when it does.

    python experiments/train_tiny_tokenizer.py            # rewrites the shipped asset
    python experiments/train_tiny_tokenizer.py --out /tmp/tok.json --lines 50000
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import tempfile
from pathlib import Path

from jaxinterest.tokenizers.qwen import load_tiktoken_ranks, qwen_tiktoken_path
from jaxinterest.tokenizers.tiny import TINY_ASSET, TINY_VOCAB_SIZE, train_bpe

ASSET = Path(__file__).resolve().parents[1] / "jaxinterest" / "assets" / TINY_ASSET

SECTIONS = {
    "politics": "election senate minister parliament vote campaign policy reform budget treaty",
    "business": "market shares earnings inflation bank startup merger investors prices trade",
    "sports": "league match season coach striker final championship injury transfer record",
    "tech": "software chip smartphone privacy startup robot cloud battery launch update",
    "health": "hospital vaccine study patients doctors virus diet clinic trial sleep",
    "science": "researchers climate space telescope species ocean fossil energy mission data",
    "culture": "film festival album concert novel museum series actor award premiere",
    "weather": "storm flood heatwave rain snow drought wildfire forecast temperatures wind",
}
VERBS = "announces wins faces warns plans rejects approves delays launches cuts raises signs"
TEMPLATES = (
    "{Name} {verb} {noun} {prep} {Place}",
    "{Org} {verb} new {noun} as {noun2} {verb2}",
    "{Place} {noun}: {Num} things to know about the {noun2}",
    "Why the {noun} in {Place} matters for {noun2}",
    "{Name}, {Org} chief, says {w1} {w2} will {w3} by {Year}",
    "Live: {Section} updates as {Name} {verb} {noun}",
    "{w1} {w2} {noun} near {Place} leaves {Num} {w3}",
    "best {noun} {Place} {Year}",
    "{Name} {noun} news",
    "how to {w1} {noun2} {w2}",
    "Opinion: the {w1} {noun} we should {w2} about",
    "{Org} shares {verb} {Num}% after {noun} report",
)
SYLLABLES = "ka lo mi ra ne to shi an el dor vin sa ber gu li ta mar on is che za po fen ru al"
PREPS = ("in", "near", "across", "outside", "for", "after")


def english_words(limit: int = 20000) -> list[str]:
    """Lower-case English-looking word tokens of the Qwen vocab, most frequent first."""
    ranks = load_tiktoken_ranks(qwen_tiktoken_path())
    word = re.compile(rb"^ [a-z]{3,12}$")
    found = sorted((r, t[1:].decode()) for t, r in ranks.items() if word.match(t))
    return [w for _, w in found[:limit]]


def news_corpus(lines: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    vocab = english_words()
    zipf = [1.0 / (i + 10) for i in range(len(vocab))]
    syl = SYLLABLES.split()

    def name(parts: int) -> str:
        return "".join(rng.choice(syl) for _ in range(parts)).capitalize()

    people = [f"{name(2)} {name(rng.randint(2, 3))}" for _ in range(1500)]
    places = [name(rng.randint(2, 4)) for _ in range(800)]
    orgs = [
        f"{name(2)} {rng.choice(['Group', 'Labs', 'Bank', 'Motors', 'Health'])}" for _ in range(400)
    ]
    out = []
    for _ in range(lines):
        section = rng.choice(list(SECTIONS))
        nouns = SECTIONS[section].split()
        w1, w2, w3 = rng.choices(vocab, weights=zipf, k=3)
        line = rng.choice(TEMPLATES).format(
            Name=rng.choice(people), Place=rng.choice(places), Org=rng.choice(orgs),
            verb=rng.choice(VERBS.split()), verb2=rng.choice(VERBS.split()),
            noun=rng.choice(nouns), noun2=rng.choice(nouns), prep=rng.choice(PREPS),
            Num=rng.randint(2, 500), Year=rng.randint(1990, 2030), Section=section.title(),
            w1=w1, w2=w2, w3=w3,
        )  # fmt: skip
        out.append(line)
    return out


def world_corpus(preset: str, seed: int) -> list[str]:
    """News titles/abstracts and event texts of a generated world preset, in file order."""
    import pyarrow.parquet as pq

    from jaxinterest.data.world import generate_world, make_config

    with tempfile.TemporaryDirectory() as tmp:
        generate_world(make_config(preset, seed=seed), tmp, progress=False)
        news = pq.read_table(Path(tmp) / "news.parquet", columns=["title", "abstract"])
        events = pq.read_table(Path(tmp) / "events.parquet", columns=["text"])
    texts = news["title"].to_pylist() + news["abstract"].to_pylist() + events["text"].to_pylist()
    return [t for t in texts if t]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ASSET, help="output tokenizer.json path")
    parser.add_argument(
        "--lines", type=int, default=100_000, help="lines of generic news-like text"
    )
    parser.add_argument("--seed", type=int, default=0, help="corpus RNG seed")
    parser.add_argument("--vocab-size", type=int, default=TINY_VOCAB_SIZE)
    parser.add_argument(
        "--source",
        choices=("world+synthetic", "synthetic"),
        default="world+synthetic",
        help="include the synthetic world's texts (default) or only the generic English corpus",
    )
    parser.add_argument("--world-preset", default="small", help="world preset for --source world")
    args = parser.parse_args(argv)
    texts = []
    if args.source == "world+synthetic":
        texts += world_corpus(args.world_preset, args.seed)
        print(f"world preset {args.world_preset!r}: {len(texts)} texts")
    texts += news_corpus(args.lines, args.seed)
    tok = train_bpe(texts, vocab_size=args.vocab_size, path=args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()[:16]
    print(f"wrote {args.out}: {tok.get_vocab_size()} ids from {len(texts)} lines, sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
