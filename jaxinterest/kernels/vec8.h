// Eight-lane float32 helpers shared by the kernels (GCC/Clang vector extensions: AVX2 when
// built with -march=native on x86-64, pairs of 128-bit registers elsewhere).

#pragma once

#include <cstdint>
#include <cstring>

namespace jaxinterest {

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

inline v8 splat(float x) { return (v8){x, x, x, x, x, x, x, x}; }

inline v8 load(const float* p) {
  v8 r;
  std::memcpy(&r, p, sizeof r);
  return r;
}

inline void store(float* p, v8 x) { std::memcpy(p, &x, sizeof x); }

inline float lane_sum(v8 x) {
  return ((x[0] + x[4]) + (x[1] + x[5])) + ((x[2] + x[6]) + (x[3] + x[7]));
}

inline v8 lane_max(v8 a, v8 b) { return a > b ? a : b; }

inline float lane_max(v8 x) {
  float m = x[0];
  for (int i = 1; i < 8; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// e^x on 8 lanes. x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in a short and a long part so
// that n * ln2_hi is exact), e^r by its degree-7 Taylor polynomial (truncation < 1e-8
// relative), 2^n through the exponent bits. Below -87.3 the result is 0 (and -inf gives 0):
// the callers use it for softmax weights relative to a maximum weight of 1.
inline v8 exp8(v8 x) {
  const v8 keep = x < splat(-87.3f) ? splat(0.0f) : splat(1.0f);
  x = x > splat(88.0f) ? splat(88.0f) : x;
  x = x < splat(-87.3f) ? splat(-87.3f) : x;
  const v8 round = splat(12582912.0f);  // 1.5 * 2^23: adding and subtracting it rounds to int
  const v8 n = (x * splat(1.44269504088896341f) + round) - round;
  v8 r = x - n * splat(0.693359375f);
  r = r - n * splat(-2.12194440e-4f);
  v8 p = splat(1.0f / 5040);
  p = p * r + splat(1.0f / 720);
  p = p * r + splat(1.0f / 120);
  p = p * r + splat(1.0f / 24);
  p = p * r + splat(1.0f / 6);
  p = p * r + splat(0.5f);
  p = p * r + splat(1.0f);
  p = p * r + splat(1.0f);
  const v8i bits = (__builtin_convertvector(n, v8i) + 127) << 23;
  v8 scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale * keep;
}

// Lane i of the result is the sum of x[i]'s eight lanes (three rounds of pairwise adds).
inline v8 transpose_sum(const v8* x) {
  v8 a[4], b[2];
  for (int i = 0; i < 4; ++i) {
    a[i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(x[2 * i], x[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15);
  }
  for (int i = 0; i < 2; ++i) {
    b[i] = __builtin_shufflevector(a[2 * i], a[2 * i + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
           __builtin_shufflevector(a[2 * i], a[2 * i + 1], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  const v8 c = __builtin_shufflevector(b[0], b[1], 0, 8, 2, 10, 4, 12, 6, 14) +
               __builtin_shufflevector(b[0], b[1], 1, 9, 3, 11, 5, 13, 7, 15);
  return __builtin_shufflevector(c, c, 0, 4, 2, 6, 1, 5, 3, 7);  // c holds x0 x4 x2 x6 x1 ...
}

inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace jaxinterest
