// Decode-step attention on CPU, as an XLA FFI custom call.
//
// One call does, for every row r and kv head k of one layer:
//   1. RoPE on the new query heads and key (rotate-half layout, the tables come from XLA),
//   2. the new key and value written into the cache at `slot` (the cache buffers are aliased
//      to the outputs, so this is an in-place update of the loop-carried cache),
//   3. softmax(q k^T * scale) v over the slots [lo[r], slot] only: left padding and unwritten
//      slots are never read, so the cost follows each row's real length.
//
// Layouts (float32, row-major):
//   qkv    [R, (N + 2K) * H]  the fused q/k/v projection (bias added), before RoPE
//   cos    [R, H], sin [R, H] RoPE tables at each row's position
//   keys   [R, K, S, H]       values [R, K, S, H]: one contiguous H-vector per slot
//   lo     [R] int32          first valid slot of each row; slot: [] int32
//   out    [R, N * H]         attention output, head n = k * G + g (G = N / K)
//
// Why a kernel: XLA's CPU code for this batched matrix-vector work either materialises the
// [R, K, G, H, S] products (reduce-window rewrite) or calls a small GEMM per (row, head); both
// read the cache several times. Here each key and value vector is read once per step.
//
// Numerics: float32 throughout. Scores are 8-lane partial dot products summed pairwise; exp
// is `vec8.h`'s polynomial (relative error ~1e-7, like XLA's own).

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "parallel.h"
#include "vec8.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using jaxinterest::exp8;
using jaxinterest::lane_sum;
using jaxinterest::load;
using jaxinterest::splat;
using jaxinterest::store;
using jaxinterest::transpose_sum;
using jaxinterest::v8;

namespace {

// RoPE, rotate-half layout: y = x * cos + concat(-x2, x1) * sin, as model.rope computes it.
void rope(const float* x, const float* cos, const float* sin, float* y, int64_t h) {
  const int64_t half = h / 2;
  for (int64_t i = 0; i < half; ++i) {
    y[i] = x[i] * cos[i] + (-x[i + half]) * sin[i];
    y[i + half] = x[i + half] * cos[i + half] + x[i] * sin[i + half];
  }
}

struct Step {
  const float *qkv, *cos, *sin;
  float *keys, *values, *out;
  const int32_t* lo;
  int64_t rows, heads, kv_heads, head_dim, slots, slot;
  float scale;
};

// Everything for one (row, kv head). C = head_dim / 8 (compile-time, so the query and
// accumulator vectors live in registers). scratch: G * (slots + 8) + G * head_dim floats.
template <int C>
void attend(const Step& st, int64_t r, int64_t k, float* scratch) {
  constexpr int64_t H = 8 * C;
  const int64_t G = st.heads / st.kv_heads, S = st.slots, slot = st.slot;
  const int64_t lo = std::clamp<int64_t>(st.lo[r], 0, slot);
  const float* row = st.qkv + r * (st.heads + 2 * st.kv_heads) * H;
  const float* cos = st.cos + r * H;
  const float* sin = st.sin + r * H;
  float* keys = st.keys + (r * st.kv_heads + k) * S * H;
  float* values = st.values + (r * st.kv_heads + k) * S * H;
  rope(row + (st.heads + k) * H, cos, sin, keys + slot * H, H);
  std::memcpy(values + slot * H, row + (st.heads + st.kv_heads + k) * H, H * sizeof(float));

  float* q = scratch;  // [G, H] rotated queries
  for (int64_t g = 0; g < G; ++g) rope(row + (k * G + g) * H, cos, sin, q + g * H, H);
  // Scores in blocks of 8 slots from the block holding lo; the slots outside [lo, slot] are
  // masked after. The block may run past `slot` (stale cache entries) but never past S.
  const int64_t first = lo & ~int64_t{7};
  const int64_t width = (slot + 8 - first) / 8 * 8;
  float* scores = scratch + G * H;  // [G, width]
  for (int64_t g = 0; g < G; ++g) {
    v8 qv[C];
    for (int c = 0; c < C; ++c) qv[c] = load(q + g * H + 8 * c);
    for (int64_t s0 = first; s0 < first + width; s0 += 8) {
      v8 part[8];
      for (int i = 0; i < 8; ++i) {
        const float* key = keys + std::min(s0 + i, S - 1) * H;
        v8 acc = splat(0.0f);
        for (int c = 0; c < C; ++c) acc += qv[c] * load(key + 8 * c);
        part[i] = acc;
      }
      store(scores + g * width + (s0 - first), transpose_sum(part) * splat(st.scale));
    }
  }
  for (int64_t g = 0; g < G; ++g) {
    float* sg = scores + g * width;
    for (int64_t j = 0; j < lo - first; ++j) sg[j] = -INFINITY;
    for (int64_t j = slot + 1 - first; j < width; ++j) sg[j] = -INFINITY;
    float top = -INFINITY;
    for (int64_t j = lo - first; j <= slot - first; ++j) top = std::max(top, sg[j]);
    v8 total = splat(0.0f);
    for (int64_t j = 0; j < width; j += 8) {
      const v8 e = exp8(load(sg + j) - splat(top));
      store(sg + j, e);
      total += e;
    }
    const v8 inv = splat(1.0f / lane_sum(total));
    // out = sum_s p_s v_s, in passes of up to 4 vectors (32 floats) of the head.
    float* og = st.out + (r * st.heads + k * G + g) * H;
    for (int c0 = 0; c0 < C; c0 += 4) {
      const int n = std::min(4, C - c0);
      v8 acc[4] = {splat(0.0f), splat(0.0f), splat(0.0f), splat(0.0f)};
      for (int64_t s = lo; s <= slot; ++s) {
        const v8 p = splat(sg[s - first]);
        const float* v = values + s * H + 8 * c0;
        acc[0] += p * load(v);
        if (n > 1) acc[1] += p * load(v + 8);
        if (n > 2) acc[2] += p * load(v + 16);
        if (n > 3) acc[3] += p * load(v + 24);
      }
      for (int c = 0; c < n; ++c) store(og + 8 * (c0 + c), acc[c] * inv);
    }
  }
}

using AttendFn = void (*)(const Step&, int64_t, int64_t, float*);

template <int... C>
constexpr std::array<AttendFn, sizeof...(C)> table(std::integer_sequence<int, C...>) {
  return {&attend<C + 1>...};
}
constexpr int kMaxChunks = 32;  // head_dim up to 256
constexpr auto kAttend = table(std::make_integer_sequence<int, kMaxChunks>{});

ffi::Error DecodeAttentionImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> qkv,
                               ffi::Buffer<ffi::F32> cos, ffi::Buffer<ffi::F32> sin,
                               ffi::Buffer<ffi::F32> keys_in, ffi::Buffer<ffi::F32> values_in,
                               ffi::Buffer<ffi::S32> lo, ffi::Buffer<ffi::S32> slot,
                               int64_t heads, int64_t kv_heads, float scale,
                               ffi::Result<ffi::Buffer<ffi::F32>> out,
                               ffi::Result<ffi::Buffer<ffi::F32>> keys,
                               ffi::Result<ffi::Buffer<ffi::F32>> values) {
  const auto cache = keys_in.dimensions();
  if (cache.size() != 4 || values_in.dimensions().size() != 4) {
    return ffi::Error::InvalidArgument("caches must be [rows, kv_heads, slots, head_dim]");
  }
  const int64_t rows = cache[0], slots = cache[2], head_dim = cache[3];
  if (kv_heads <= 0 || heads % kv_heads != 0 || cache[1] != kv_heads) {
    return ffi::Error::InvalidArgument("heads must be a multiple of the caches' kv heads");
  }
  if (head_dim % 8 != 0 || head_dim / 8 > kMaxChunks) {
    return ffi::Error::InvalidArgument("head_dim must be a multiple of 8, at most 256");
  }
  const auto q = qkv.dimensions();
  if (q.size() != 2 || q[0] != rows || q[1] != (heads + 2 * kv_heads) * head_dim ||
      cos.element_count() != rows * head_dim || sin.element_count() != rows * head_dim ||
      lo.element_count() != rows || slot.element_count() != 1) {
    return ffi::Error::InvalidArgument("qkv / cos / sin / lo / slot shapes do not match");
  }
  const int32_t at = slot.typed_data()[0];
  if (at < 0 || at >= slots) return ffi::Error::InvalidArgument("slot outside the cache");
  // The outputs alias the inputs when XLA honours the aliasing (always inside generate's
  // decode loop); copy otherwise, so the call stays correct on its own.
  if (keys->typed_data() != keys_in.typed_data()) {
    std::memcpy(keys->typed_data(), keys_in.typed_data(), keys_in.size_bytes());
  }
  if (values->typed_data() != values_in.typed_data()) {
    std::memcpy(values->typed_data(), values_in.typed_data(), values_in.size_bytes());
  }
  const Step step{qkv.typed_data(), cos.typed_data(), sin.typed_data(), keys->typed_data(),
                  values->typed_data(), out->typed_data(), lo.typed_data(), rows, heads,
                  kv_heads, head_dim, slots, at, scale};
  const AttendFn fn = kAttend[head_dim / 8 - 1];
  const int64_t scratch = heads / kv_heads * (slots + 8 + head_dim);
  jaxinterest::parallel_for(pool, rows * kv_heads, 1, [step, fn, scratch] {
    return [step, fn, buf = std::vector<float>(scratch)](int64_t i, int64_t end) mutable {
      for (; i < end; ++i) fn(step, i / step.kv_heads, i % step.kv_heads, buf.data());
    };
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxinterestDecodeAttention, DecodeAttentionImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // qkv
                                  .Arg<ffi::Buffer<ffi::F32>>()  // cos
                                  .Arg<ffi::Buffer<ffi::F32>>()  // sin
                                  .Arg<ffi::Buffer<ffi::F32>>()  // keys
                                  .Arg<ffi::Buffer<ffi::F32>>()  // values
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lo
                                  .Arg<ffi::Buffer<ffi::S32>>()  // slot
                                  .Attr<int64_t>("heads")
                                  .Attr<int64_t>("kv_heads")
                                  .Attr<float>("scale")
                                  .Ret<ffi::Buffer<ffi::F32>>()   // out
                                  .Ret<ffi::Buffer<ffi::F32>>()   // keys
                                  .Ret<ffi::Buffer<ffi::F32>>());  // values
