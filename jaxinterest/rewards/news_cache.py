"""On-disk cache of the training-window article embeddings and index, so a rerun of the
`rewards` command (or a bench) does not embed the news again.

A cache directory holds `index/` (retrieval.save_index), `title_vecs.npy` [N, D] float32 and
`key.json`. The key is a sha256 over the articles' ids and titles (in index order), the index
kind, the encoder's directory and `embed.LAYOUT_VERSION`: any change in the world's training
news, the index kind, the encoder or the bits `embed` produces is a miss, and the entry is
rebuilt and overwritten.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from jaxinterest.retrieval import load_index, save_index


def news_key(ids, titles, kind: str, encoder_path: str) -> str:
    from jaxinterest.embed import LAYOUT_VERSION

    h = hashlib.sha256()
    h.update(f"{kind}\n{encoder_path}\nembed layout {LAYOUT_VERSION}\n".encode())
    for i, t in zip(ids, titles, strict=True):
        h.update(f"{i}\t{t}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def load_news(path, key: str):
    """(NewsIndex, title_vecs) stored under `key` in directory `path`, or None on a miss."""
    path = Path(path)
    try:
        stored = json.loads((path / "key.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if stored.get("key") != key:
        return None
    index = load_index(path / "index")
    vecs = np.load(path / "title_vecs.npy", allow_pickle=False)
    if vecs.shape != (len(index), index.dim):
        raise ValueError(f"{path}: title_vecs.npy is {vecs.shape}, index {len(index)} rows")
    return index, vecs


def save_news(path, key: str, index, vecs: np.ndarray) -> None:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "key.json").unlink(missing_ok=True)  # a torn write is a miss, never a wrong hit
    save_index(index, path / "index")
    np.save(path / "title_vecs.npy", np.ascontiguousarray(vecs, np.float32), allow_pickle=False)
    (path / "key.json").write_text(json.dumps({"key": key}) + "\n")
