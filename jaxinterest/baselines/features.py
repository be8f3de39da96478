"""Text embeddings of everything the baselines read, computed once with `embed` and cached.

Test-week articles are all fresh, so no baseline can learn an id embedding for them: every
article, search query and page title enters the models as its MiniLM vector (`embed`), and the
models learn on top of those. Embedding is the costliest step on CPU, so vectors are written to a
directory in chunk files as they are computed: a rerun (or another model of the same run) only
embeds texts it has not seen, and an interrupted run resumes at the last finished chunk.

Layout of `cache_dir`: `meta.json` (encoder path and width) and `chunk_NNNNN.npz` files, each with
`texts` (unicode [n]) and `vectors` (float32 [n, D] unit rows).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

CHUNK = 4096  # texts per embed call and per cache file (one progress-bar tick)


@dataclasses.dataclass(frozen=True, eq=False)
class TextTable:
    """Distinct texts and their embeddings. Row 0 is the all-zero row of padding and of ""."""

    texts: list[str]
    vectors: np.ndarray  # float32 [N, D]
    row: dict[str, int]  # text -> row

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def rows(self, texts: Sequence[str]) -> np.ndarray:
        """int32 [n] table rows of texts; a KeyError names the first text not in the table."""
        try:
            return np.fromiter((self.row[t] for t in texts), np.int32, count=len(texts))
        except KeyError as err:
            raise KeyError(f"text {err.args[0]!r:.80} was never embedded") from err

    def lookup(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [n, D] embeddings of texts (each must be in the table)."""
        return self.vectors[self.rows(list(texts))]


def _read_cache(cache_dir: Path, encoder_id: str) -> tuple[list[str], list[np.ndarray]]:
    meta = cache_dir / "meta.json"
    if meta.exists():
        found = json.loads(meta.read_text()).get("encoder")
        if found != encoder_id:
            raise ValueError(
                f"{cache_dir} holds embeddings of encoder {found!r}, not {encoder_id!r}; "
                "use another cache directory"
            )
    texts, vecs = [], []
    for f in sorted(cache_dir.glob("chunk_*.npz")):
        with np.load(f, allow_pickle=False) as z:
            texts.extend(z["texts"].tolist())
            vecs.append(z["vectors"])
    return texts, vecs


def embed_table(
    texts: Sequence[str],
    cache_dir: str | Path | None = None,
    *,
    model=None,
    progress: bool = False,
) -> TextTable:
    """A TextTable holding every distinct text of `texts` (plus whatever the cache holds).

    model: an `Encoder` (default all-MiniLM-L6-v2). Without cache_dir nothing is written.
    """
    from tqdm import tqdm

    from jaxinterest.embed import default_encoder, embed

    model = model or default_encoder()
    encoder_id = f"{Path(model.path).name}:{model.dim}"
    have_texts: list[str] = []
    have_vecs: list[np.ndarray] = []
    if cache_dir is not None:
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        have_texts, have_vecs = _read_cache(cache_dir, encoder_id)
        (cache_dir / "meta.json").write_text(json.dumps({"encoder": encoder_id}))
    known = set(have_texts)
    missing = sorted(
        {t for t in texts if t and t not in known}
    )  # sorted: the same chunks every run
    n_old = len(list(cache_dir.glob("chunk_*.npz"))) if cache_dir is not None else 0
    starts = range(0, len(missing), CHUNK)
    for i, s in enumerate(tqdm(starts, desc="embed texts", unit="chunk", disable=not progress)):
        part = missing[s : s + CHUNK]
        vec = embed(part, model=model)
        if cache_dir is not None:
            tmp = cache_dir / f"partial_{n_old + i:05d}.npz"
            np.savez(tmp, texts=np.array(part, dtype=str), vectors=vec)
            tmp.rename(cache_dir / f"chunk_{n_old + i:05d}.npz")  # whole chunks only
        have_texts.extend(part)
        have_vecs.append(vec)
    all_texts = [""] + have_texts
    vectors = np.concatenate([np.zeros((1, model.dim), np.float32), *have_vecs])
    # An empty text (a blank query) maps to the zero row, like padding; masks come from the
    # behaviour arrays, not from the vectors.
    row = {t: i for i, t in enumerate(all_texts)}
    return TextTable(all_texts, vectors, row)
