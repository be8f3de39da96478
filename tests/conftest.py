"""Test set-up: eight simulated CPU devices so sharding tests see a real mesh."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in flags:
    os.environ["XLA_FLAGS"] = (flags + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_learning(tmp_path_factory):
    """The learning proofs' world, SFT policy and GRPO run (`tests/tiny_learning.py`), built
    once per pytest run: the GRPO policy is root/"grpo"/"policy"."""
    from tests import tiny_learning as tl

    setup = tl.build(tmp_path_factory.mktemp("tiny_learning"))
    tl.train_grpo(setup, "grpo", tl.ITERATIONS)
    return setup
