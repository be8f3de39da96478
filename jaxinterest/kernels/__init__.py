"""CPU kernels for the decode hot path (XLA FFI custom calls, compiled on first use).

decode_attention(qkv, cos, sin, keys, values, lo, slot, heads=, kv_heads=) -> (out, keys, values)
decode_attention_reference(...)  the same in pure jnp: the contract and the test oracle
matmul(a, pack_panels(w), n) -> a @ w   (decode-size matmuls, weights packed once)
sample_rows(logits, uniforms, temperature, greedy=) -> (tokens, logprob, logprob_raw)
kernel_available() / unsupported_reason(head_dim, dtype) / build.status()
"""

from jaxinterest.kernels import build
from jaxinterest.kernels.attention import (
    decode_attention,
    decode_attention_reference,
    kernel_available,
    unsupported_reason,
)
from jaxinterest.kernels.matmul import matmul, pack_panels
from jaxinterest.kernels.sampling import sample_rows

__all__ = [
    "build",
    "decode_attention",
    "decode_attention_reference",
    "kernel_available",
    "matmul",
    "pack_panels",
    "sample_rows",
    "unsupported_reason",
]
