// Skinny float32 matmul for decode steps on CPU, as an XLA FFI custom call.
//
//   a [M, K] row-major  x  b packed as panels [P, K, 16]  ->  c [M, P * 16]
//
// Panel p holds columns [16p, 16p + 16) of the weight, row by row, so one panel is a
// contiguous K x 16 block: it is read once from memory (sequentially, which the hardware
// prefetcher follows) and then reused from L1 for every 6-row tile of `a`. That is the point
// at decode sizes (M = 1..256 rows against weights of megabytes): the weight stream is the
// cost, and Eigen's GEMM packs the weight again on every call and, at these sizes, keeps one
// core busy. Here the panels are handed out to every thread of XLA's intra-op pool.
//
// Tiles: 6 rows x 16 columns = 12 accumulators of 8 lanes, plus two panel vectors and a
// broadcast, which fits the 16 vector registers of AVX2. Each output is one float32 FMA chain
// over K (the rounding of a plain dot product).

#include <algorithm>
#include <cstdint>

#include "parallel.h"
#include "vec8.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using jaxinterest::load;
using jaxinterest::splat;
using jaxinterest::store;
using jaxinterest::v8;

namespace {

// c[0:R, 0:16] = a[0:R, :] @ panel, rows lda apart in a and ldc apart in c.
template <int R>
inline void tile(const float* a, int64_t lda, const float* panel, int64_t depth, float* c,
                 int64_t ldc) {
  v8 lo[R], hi[R];
  for (int i = 0; i < R; ++i) lo[i] = hi[i] = splat(0.0f);
  for (int64_t k = 0; k < depth; ++k) {
    const v8 b0 = load(panel + 16 * k), b1 = load(panel + 16 * k + 8);
    for (int i = 0; i < R; ++i) {
      const v8 x = splat(a[i * lda + k]);
      lo[i] += x * b0;
      hi[i] += x * b1;
    }
  }
  for (int i = 0; i < R; ++i) {
    store(c + i * ldc, lo[i]);
    store(c + i * ldc + 8, hi[i]);
  }
}

// Columns panels [p0, p1) of c = a @ b.
void panels(const float* a, const float* b, float* c, int64_t rows, int64_t depth,
            int64_t ldc, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const float* panel = b + p * depth * 16;
    float* out = c + 16 * p;
    int64_t i = 0;
    for (; i + 6 <= rows; i += 6) tile<6>(a + i * depth, depth, panel, depth, out + i * ldc, ldc);
    for (; i + 2 <= rows; i += 2) tile<2>(a + i * depth, depth, panel, depth, out + i * ldc, ldc);
    for (; i < rows; ++i) tile<1>(a + i * depth, depth, panel, depth, out + i * ldc, ldc);
  }
}

ffi::Error MatmulImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> a, ffi::Buffer<ffi::F32> b,
                      ffi::Result<ffi::Buffer<ffi::F32>> c) {
  const auto ad = a.dimensions(), bd = b.dimensions(), cd = c->dimensions();
  if (ad.size() != 2 || bd.size() != 3 || bd[2] != 16 || bd[1] != ad[1] || cd.size() != 2 ||
      cd[0] != ad[0] || cd[1] != bd[0] * 16) {
    return ffi::Error::InvalidArgument("matmul wants a [M, K], panels [P, K, 16], c [M, 16P]");
  }
  const float* ap = a.typed_data();
  const float* bp = b.typed_data();
  float* cp = c->typed_data();
  const int64_t rows = ad[0], depth = ad[1], count = bd[0];
  // About 16 grabs in all: few enough atomics, enough to even out the threads.
  jaxinterest::parallel_for(pool, count, std::max<int64_t>(1, count / 16), [=] {
    return [=](int64_t p0, int64_t p1) { panels(ap, bp, cp, rows, depth, 16 * count, p0, p1); };
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxinterestMatmul, MatmulImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()   // a
                                  .Arg<ffi::Buffer<ffi::F32>>()   // packed b
                                  .Ret<ffi::Buffer<ffi::F32>>());  // c
