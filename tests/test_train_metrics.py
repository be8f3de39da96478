"""The metrics writer: buffered device scalars, JSON lines, resume truncation, TensorBoard."""

import json
import struct

import jax.numpy as jnp
import pytest

from jaxinterest.train.metrics import MetricsWriter, read_metrics


def test_buffers_until_the_log_interval_then_writes_lines(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"
    w = MetricsWriter(path, log_every=3)
    w.add(1, {"loss": jnp.float32(0.5), "skipped": jnp.int32(0)})
    w.add(2, {"loss": jnp.float32(jnp.nan), "skipped": jnp.int32(1)})
    assert path.read_text() == ""  # still on device
    w.add(3, {"loss": 0.25, "skipped": 1, "hist": jnp.arange(3)})
    rows = read_metrics(path)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert rows[0] == {"step": 1, "loss": 0.5, "skipped": 0}
    assert rows[1]["loss"] == "nan" and rows[2]["hist"] == [0, 1, 2]
    w.add(4, {"loss": jnp.float32(0.125)})
    w.close()  # flushes the rest
    assert read_metrics(path)[-1] == {"step": 4, "loss": 0.125}
    with pytest.raises(ValueError, match="log_every"):
        MetricsWriter(path, log_every=0)


def test_resume_drops_lines_after_the_checkpoint(tmp_path):
    path = tmp_path / "m.jsonl"
    with MetricsWriter(path, log_every=1) as w:
        for s in range(1, 6):
            w.add(s, {"x": s})
    with MetricsWriter(path, log_every=1, resume_step=3) as w:
        w.add(4, {"x": 40})
    assert [(r["step"], r["x"]) for r in read_metrics(path)] == [(1, 1), (2, 2), (3, 3), (4, 40)]


def read_events(directory):
    """(tag, step, value) of every scalar in the event files: TFRecord framing (u64 length,
    u32 crc, payload, u32 crc) around tensorboard Event protos, decoded here."""
    from tensorboardX.proto.event_pb2 import Event

    out = []
    for f in sorted(directory.iterdir()):
        data, pos = f.read_bytes(), 0
        while pos < len(data):
            (n,) = struct.unpack("<Q", data[pos : pos + 8])
            event = Event.FromString(data[pos + 12 : pos + 12 + n])
            pos += 12 + n + 4
            out += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
    return out


def test_tensorboard_event_files(tmp_path):
    pytest.importorskip("tensorboardX")
    with MetricsWriter(tmp_path / "m.jsonl", log_every=2, tensorboard=tmp_path / "tb") as w:
        assert w.tensorboard_active
        for s in range(1, 5):
            w.add(s, {"loss": jnp.float32(1.0 / s), "skipped": jnp.int32(0)})
    events = [e for e in read_events(tmp_path / "tb") if e[0] == "loss"]
    assert [e[1] for e in events] == [1, 2, 3, 4]
    assert events[3][2] == pytest.approx(0.25)
    assert json.loads((tmp_path / "m.jsonl").read_text().splitlines()[0])["loss"] == 1.0
