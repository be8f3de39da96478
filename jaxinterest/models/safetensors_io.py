"""Reading and writing safetensors files with numpy memory maps.

The format is an 8-byte little-endian header length, a JSON header mapping each tensor name to
{dtype, shape, data_offsets}, then the raw bytes. Reading through `np.memmap` means a tensor
costs host memory only when it is sliced and copied, so a checkpoint larger than RAM can be
streamed tensor by tensor; it also handles bfloat16 (via ml_dtypes), which the `safetensors`
package's numpy backend cannot.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import ml_dtypes
import numpy as np

_DTYPES = {
    "F64": np.dtype(np.float64),
    "F32": np.dtype(np.float32),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype(np.int64),
    "I32": np.dtype(np.int32),
    "I16": np.dtype(np.int16),
    "I8": np.dtype(np.int8),
    "U8": np.dtype(np.uint8),
    "BOOL": np.dtype(np.bool_),
}
_NAMES = {v: k for k, v in _DTYPES.items()}
INDEX_NAME = "model.safetensors.index.json"


class SafetensorsError(ValueError):
    """A safetensors file or directory that cannot be read as one."""


def _read_header(path: Path) -> tuple[dict, int]:
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise SafetensorsError(f"{path}: too short to be a safetensors file")
        (size,) = struct.unpack("<Q", raw)
        if size > 100_000_000:
            raise SafetensorsError(f"{path}: header length {size} is implausible")
        try:
            header = json.loads(f.read(size))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise SafetensorsError(f"{path}: header is not JSON ({err})") from None
    header.pop("__metadata__", None)
    return header, 8 + size


class SafetensorsReader:
    """Lazy access to the tensors of a file or of a (possibly sharded) HF directory."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if path.is_dir():
            index = path / INDEX_NAME
            if index.is_file():
                weight_map = json.loads(index.read_text())["weight_map"]
                files = sorted({path / f for f in weight_map.values()})
            else:
                files = sorted(path.glob("*.safetensors"))
            if not files:
                raise SafetensorsError(f"{path}: no *.safetensors files")
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(f"no safetensors file or directory at {path}")
        self._entries: dict[str, tuple[Path, dict, int]] = {}
        self._maps: dict[Path, np.memmap] = {}
        for file in files:
            header, offset = _read_header(file)
            for name, info in header.items():
                if info.get("dtype") not in _DTYPES:
                    raise SafetensorsError(f"{file}: tensor {name!r} has dtype {info.get('dtype')}")
                self._entries[name] = (file, info, offset)

    def keys(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._entries[name][1]["shape"])

    def dtype(self, name: str) -> np.dtype:
        return _DTYPES[self._entries[name][1]["dtype"]]

    def get(self, name: str) -> np.ndarray:
        """A read-only memory-mapped view of the tensor (no copy until sliced and copied)."""
        file, info, offset = self._entries[name]
        if file not in self._maps:
            self._maps[file] = np.memmap(file, dtype=np.uint8, mode="r")
        start, end = info["data_offsets"]
        raw = self._maps[file][offset + start : offset + end]
        return raw.view(_DTYPES[info["dtype"]]).reshape(info["shape"])


def write_safetensors(path: str | Path, tensors: dict[str, np.ndarray], metadata=None) -> None:
    """Writes tensors (numpy, any dtype in the table above) as one safetensors file."""
    header, offset, arrays = {}, 0, []
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        if array.dtype not in _NAMES:
            raise SafetensorsError(f"tensor {name!r}: dtype {array.dtype} cannot be stored")
        header[name] = {
            "dtype": _NAMES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
        arrays.append(array)
    header["__metadata__"] = {"format": "pt", **(metadata or {})}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for array in arrays:
            f.write(array.tobytes())
