"""HF transformers checkpoints <-> our params pytree (Qwen2 and Llama layouts).

One table maps each of our leaves to its HF tensor name and says how the layouts differ:
HF stores a Linear as [out, in]; we store einsum kernels [in, ...] with heads split out
(q: [D, N, H], o: [N, H, D]) and stack layers on a leading axis.

Loading streams the checkpoint through memory maps, one HF tensor at a time, and builds each
of our arrays with `jax.make_array_from_callback`, so every device receives only its own shard
and host memory never holds two copies of the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, SingleDeviceSharding

from jaxinterest import sharding as shd
from jaxinterest.models.qwen2 import model
from jaxinterest.models.qwen2.config import Qwen2Config, config_from_hf, config_to_hf
from jaxinterest.models.safetensors_io import INDEX_NAME, SafetensorsReader, write_safetensors


class CheckpointError(ValueError):
    """A directory that is not a loadable Qwen2-family HF checkpoint."""


# Our leaf path -> (HF name, layout). "{i}" is the layer index for stacked leaves.
_LAYER = "model.layers.{i}."
TABLE: dict[tuple[str, ...], tuple[str, str]] = {
    ("embed", "embedding"): ("model.embed_tokens.weight", "same"),
    ("final_norm", "scale"): ("model.norm.weight", "same"),
    ("lm_head", "kernel"): ("lm_head.weight", "transpose"),
    ("layers", "attn_norm", "scale"): (_LAYER + "input_layernorm.weight", "same"),
    ("layers", "mlp_norm", "scale"): (_LAYER + "post_attention_layernorm.weight", "same"),
    ("layers", "q", "kernel"): (_LAYER + "self_attn.q_proj.weight", "in_heads"),
    ("layers", "k", "kernel"): (_LAYER + "self_attn.k_proj.weight", "in_heads"),
    ("layers", "v", "kernel"): (_LAYER + "self_attn.v_proj.weight", "in_heads"),
    ("layers", "q", "bias"): (_LAYER + "self_attn.q_proj.bias", "heads"),
    ("layers", "k", "bias"): (_LAYER + "self_attn.k_proj.bias", "heads"),
    ("layers", "v", "bias"): (_LAYER + "self_attn.v_proj.bias", "heads"),
    ("layers", "o", "kernel"): (_LAYER + "self_attn.o_proj.weight", "heads_out"),
    ("layers", "gate", "kernel"): (_LAYER + "mlp.gate_proj.weight", "transpose"),
    ("layers", "up", "kernel"): (_LAYER + "mlp.up_proj.weight", "transpose"),
    ("layers", "down", "kernel"): (_LAYER + "mlp.down_proj.weight", "transpose"),
}
# Tensors some checkpoints carry that the model does not use.
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


def _hf_shape(layout: str, ours: tuple[int, ...]) -> tuple[int, ...]:
    if layout == "same":
        return ours
    if layout == "transpose":
        return ours[::-1]
    if layout == "in_heads":  # ours [D, heads, H] <- HF [heads*H, D]
        return (ours[1] * ours[2], ours[0])
    if layout == "heads":  # ours [heads, H] <- HF [heads*H]
        return (ours[0] * ours[1],)
    if layout == "heads_out":  # ours [N, H, D] <- HF [D, N*H]
        return (ours[2], ours[0] * ours[1])
    raise ValueError(layout)


def from_hf_layout(array: np.ndarray, layout: str, ours: tuple[int, ...]) -> np.ndarray:
    """A HF tensor (possibly a memory map) as a view in our layout."""
    if layout == "same":
        return array
    if layout == "transpose":
        return array.T
    if layout == "in_heads":
        return array.T.reshape(ours)
    if layout == "heads":
        return array.reshape(ours)
    if layout == "heads_out":
        return array.T.reshape(ours)
    raise ValueError(layout)


def to_hf_layout(array: np.ndarray, layout: str) -> np.ndarray:
    """Our array in HF layout."""
    if layout == "same":
        return array
    if layout == "transpose":
        return array.T
    if layout == "in_heads":
        return array.reshape(array.shape[0], -1).T
    if layout == "heads":
        return array.reshape(-1)
    if layout == "heads_out":
        return array.reshape(-1, array.shape[-1]).T
    raise ValueError(layout)


def _leaf_paths(tree) -> list[tuple[str, ...]]:
    flat = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: isinstance(x, tuple))[0]
    return [tuple(k.key for k in path) for path, _ in flat]


def _expected_tensors(cfg: Qwen2Config, shapes) -> dict[str, tuple[tuple[str, ...], int | None]]:
    """HF name -> (our leaf path, layer index or None)."""
    out = {}
    for path in _leaf_paths(shapes):
        name, _ = TABLE[path]
        if path[0] == "layers":
            for i in range(cfg.num_layers):
                out[name.format(i=i)] = (path, i)
        else:
            out[name] = (path, None)
    return out


def _check(reader: SafetensorsReader, cfg: Qwen2Config, shapes, where: Path) -> None:
    expected = _expected_tensors(cfg, shapes)
    problems = []
    for name, (path, _) in expected.items():
        if name not in reader:
            problems.append(f"missing tensor {name}")
            continue
        ours = _get(shapes, path)[1:] if path[0] == "layers" else _get(shapes, path)
        want = _hf_shape(TABLE[path][1], ours)
        if reader.shape(name) != want:
            problems.append(f"tensor {name} has shape {reader.shape(name)}, expected {want}")
    extra = [
        n
        for n in reader.keys()
        if n not in expected
        and not n.endswith(_IGNORED_SUFFIXES)
        and not (n == "lm_head.weight" and cfg.tie_embeddings)
    ]
    problems += [f"unexpected tensor {n}" for n in extra[:10]]
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise CheckpointError(f"{where} does not match its config.json:\n  {shown}{more}")


def _get(tree, path):
    for key in path:
        tree = tree[key]
    return tree


def _set(tree, path, value):
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def load_hf(
    path: str | Path,
    *,
    dtype=None,
    mesh: Mesh | None = None,
    rules: str | shd.Rules = "fsdp",
) -> tuple[Qwen2Config, dict]:
    """Loads a local HF Qwen2/Llama directory (single or sharded safetensors, tied or untied).

    dtype: parameter dtype (default: float32). With a mesh, each array is built directly in
    its sharded layout under `rules`; otherwise on the default device.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a directory")
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path} is not a HF checkpoint: it has no config.json")
    try:
        cfg = config_from_hf(path)
    except (ValueError, KeyError, NotImplementedError) as err:
        raise CheckpointError(f"{path}/config.json: {err}") from None
    try:
        reader = SafetensorsReader(path)
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    shapes = model.param_shapes(cfg)
    _check(reader, cfg, shapes, path)
    dtype = jnp.dtype(dtype or jnp.float32)
    if isinstance(rules, str):
        rules = shd.get_rules(rules)
    axes = model.param_axes(cfg)

    params: dict = {}
    for leaf in _leaf_paths(shapes):
        shape = _get(shapes, leaf)
        if mesh is not None:
            spec = shd.logical_to_physical(_get(axes, leaf), rules, shape, mesh)
            sharding = NamedSharding(mesh, spec)
        else:
            sharding = SingleDeviceSharding(jax.devices()[0])
        name, layout = TABLE[leaf]
        stacked = leaf[0] == "layers"

        def read(index, name=name, layout=layout, stacked=stacked, shape=shape):
            if not stacked:
                view = from_hf_layout(reader.get(name), layout, shape)
                return np.asarray(view[index], dtype=dtype)
            layers = range(cfg.num_layers)[index[0]]
            parts = [
                from_hf_layout(reader.get(name.format(i=i)), layout, shape[1:])[index[1:]]
                for i in layers
            ]
            return np.stack(parts).astype(dtype)

        _set(params, leaf, jax.make_array_from_callback(shape, sharding, read))
    return cfg, params


def hf_state_dict(cfg: Qwen2Config, params: dict, dtype=None):
    """Yields (HF name, numpy array in HF layout), one tensor at a time."""
    for leaf in _leaf_paths(model.param_shapes(cfg)):
        name, layout = TABLE[leaf]
        array = np.asarray(jax.device_get(_get(params, leaf)))
        if dtype is not None:
            array = array.astype(dtype)
        if leaf[0] == "layers":
            for i in range(cfg.num_layers):
                yield name.format(i=i), np.ascontiguousarray(to_hf_layout(array[i], layout))
        else:
            yield name, np.ascontiguousarray(to_hf_layout(array, layout))


def save_hf(
    path: str | Path,
    cfg: Qwen2Config,
    params: dict,
    *,
    dtype=None,
    tokenizer=None,
    max_shard_bytes: int = 4 << 30,
) -> Path:
    """Writes a HF directory (config.json + safetensors, sharded past `max_shard_bytes`) that
    `transformers.AutoModelForCausalLM.from_pretrained` and vLLM load.

    Shards are planned from the shapes first and each is written as soon as it is full, so the
    host holds at most one shard (plus one stacked leaf) at a time.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    first = jax.tree.leaves(params)[0]
    stored = np.dtype(jnp.dtype(dtype)) if dtype is not None else np.dtype(first.dtype)
    shapes = model.param_shapes(cfg)
    sizes = {}  # HF name -> bytes, in hf_state_dict order
    for leaf in _leaf_paths(shapes):
        name, shape = TABLE[leaf][0], _get(shapes, leaf)
        if leaf[0] == "layers":
            for i in range(cfg.num_layers):
                sizes[name.format(i=i)] = int(np.prod(shape[1:])) * stored.itemsize
        else:
            sizes[name] = int(np.prod(shape)) * stored.itemsize
    plan, size, shard = {}, 0, 0
    for name, nbytes in sizes.items():
        if size and size + nbytes > max_shard_bytes:
            shard, size = shard + 1, 0
        plan[name] = shard
        size += nbytes
    count = shard + 1
    files = (
        ["model.safetensors"]
        if count == 1
        else [f"model-{i + 1:05d}-of-{count:05d}.safetensors" for i in range(count)]
    )
    for stale in list(path.glob("model*.safetensors")) + [path / INDEX_NAME]:
        stale.unlink(missing_ok=True)
    pending: dict[str, np.ndarray] = {}
    current = 0
    for name, array in hf_state_dict(cfg, params, stored):
        if plan[name] != current:
            write_safetensors(path / files[current], pending)
            pending, current = {}, plan[name]
        pending[name] = array
    write_safetensors(path / files[current], pending)
    if count > 1:
        index = {
            "metadata": {"total_size": sum(sizes.values())},
            "weight_map": {name: files[plan[name]] for name in sizes},
        }
        (path / INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n")
    (path / "config.json").write_text(
        json.dumps(config_to_hf(cfg, torch_dtype=stored.name), indent=2) + "\n"
    )
    if tokenizer is not None:
        from jaxinterest.tokenizers.save import save_tokenizer

        save_tokenizer(tokenizer, path)  # a class name transformers 4 and vLLM also resolve
    return path
