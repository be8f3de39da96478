"""News retrieval: FAISS index over article embeddings, many-query search, per-user merging."""

from jaxinterest.retrieval.index import (
    DEFAULT_KIND,
    DEFAULT_PARAMS,
    KINDS,
    MISSING_ID,
    NewsIndex,
    build_index,
)
from jaxinterest.retrieval.merge import (
    DEFAULT_METHOD,
    METHODS,
    merge,
    merge_users,
    retrieve_merged,
)
from jaxinterest.retrieval.search import load_index, retrieve, save_index

__all__ = [
    "DEFAULT_KIND",
    "DEFAULT_METHOD",
    "DEFAULT_PARAMS",
    "KINDS",
    "METHODS",
    "MISSING_ID",
    "NewsIndex",
    "build_index",
    "load_index",
    "merge",
    "merge_users",
    "retrieve",
    "retrieve_merged",
    "save_index",
]
