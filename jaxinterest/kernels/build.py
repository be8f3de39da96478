"""Compiles the package's C++ kernels on first use and registers them as XLA FFI targets.

The shared library is built with the machine's C++ compiler (`$CXX`, else g++ / c++ /
clang++) against the XLA FFI headers that ship inside jaxlib, with `-march=native`, into
`cache_dir()/kernels/`. The file name hashes the sources, flags, compiler, jaxlib version and
CPU model, so a changed source, a new jaxlib or a different machine sharing the cache never
loads a stale binary. Builds are serialised by a file lock and land by rename, so concurrent
processes (pytest-xdist workers) neither race nor read a half-written library.

Nothing here downloads anything. If no compiler is found or the build fails, `library()`
returns None and `status()` says why; callers then use their pure-JAX path. Set
`JAXINTEREST_KERNELS=0` to switch the kernels off.
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from jaxinterest.paths import cache_dir

SOURCES = ("decode_attention.cc", "matmul.cc", "sample_rows.cc")
HEADERS = ("parallel.h", "vec8.h")
# name -> exported handler symbol; registered for the CPU platform.
TARGETS = {
    "jaxinterest_decode_attention": "JaxinterestDecodeAttention",
    "jaxinterest_matmul": "JaxinterestMatmul",
    "jaxinterest_sample_rows": "JaxinterestSampleRows",
}
FLAGS = ("-O3", "-march=native", "-ffp-contract=fast", "-std=c++17", "-shared", "-fPIC")

_status = "not built yet"


def compiler() -> str | None:
    """The C++ compiler to use: `$CXX`, else the first of g++, c++, clang++ on PATH."""
    if os.environ.get("CXX"):
        return os.environ["CXX"]
    return next((c for c in ("g++", "c++", "clang++") if shutil.which(c)), None)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _build_key(cxx: str) -> str:
    import jaxlib

    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    digest = hashlib.sha256()
    for part in (*FLAGS, version, jaxlib.__version__, platform.machine(), _cpu_model()):
        digest.update(part.encode() + b"\0")
    for name in (*SOURCES, *HEADERS):
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:16]


def _compile(cxx: str, out: Path) -> None:
    import jax

    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same file
        if out.is_file():
            return
        fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".so.tmp")
        os.close(fd)
        sources = [str(Path(__file__).parent / name) for name in SOURCES]
        cmd = [cxx, *FLAGS, "-I", jax.ffi.include_dir(), *sources, "-o", tmp]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            os.unlink(tmp)
            raise RuntimeError(f"{' '.join(cmd)}\n{result.stderr.strip()[-2000:]}")
        os.replace(tmp, out)


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled kernel library with its FFI targets registered, or None (see `status`)."""
    global _status
    if os.environ.get("JAXINTEREST_KERNELS", "1") == "0":
        _status = "switched off by JAXINTEREST_KERNELS=0"
        return None
    cxx = compiler()
    if cxx is None:
        _status = "no C++ compiler found ($CXX, g++, c++, clang++)"
        return None
    try:
        path = cache_dir() / "kernels" / f"jaxinterest-kernels-{_build_key(cxx)}.so"
        if not path.is_file():
            _compile(cxx, path)
        lib = ctypes.cdll.LoadLibrary(str(path))
        import jax

        for name, symbol in TARGETS.items():
            jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, symbol)), "cpu")
    except (OSError, RuntimeError, AttributeError) as err:
        _status = f"kernel build or load failed: {err}"
        return None
    _status = f"loaded {path}"
    return lib


def require(what: str) -> None:
    """Raises ValueError naming `what` and the reason when the library cannot be loaded."""
    if library() is None:
        raise ValueError(f"{what} kernel unavailable: {status()}")


def status() -> str:
    """Why `library()` returned what it did (call it first)."""
    return _status
