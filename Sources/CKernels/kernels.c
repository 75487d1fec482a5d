#include "ckernels.h"
#include <string.h>
#include <math.h>
#include <immintrin.h>

/* The 16-float bodies' target. A build with -DFB_EMULATE_WIDE (`make test-wide`) compiles
   them for AVX2 + FMA instead and runs them on any AVX2 host, so the AVX-512 code paths'
   logic (blocking, tails, indexing) is tested on machines without AVX-512. The bits are
   those of a real AVX-512 run: both targets have FMA, and each 16-float operation is two
   8-float ones. */
#ifdef FB_EMULATE_WIDE
#define WIDE_TARGET "avx2,fma"
#else
#define WIDE_TARGET "avx512f,avx2,fma"
#endif

/* One body, compiled for AVX-512 (16-float vectors) and for AVX2 + FMA (8-float vectors),
   chosen at run time: Debian's toolchain builds for baseline x86-64, which has neither.
   Accumulators for R neighbouring output pixels (along the row) x the filters stay in
   registers through all kh*kw*cin taps; each output pixel is written already biased and
   activated. A row whose width is not a multiple of R ends with blocks of R/2, the last of
   which may overlap the one before it: the overlapped pixels are computed again in the same
   order, so they are rewritten with the same bits, and no pixel runs the slow one-at-a-time
   loop (its accumulators form one dependency chain), which rows narrower than R still take.
   Every output is the bias plus its products in one fixed order whatever the blocking, so
   every instruction set and block size gives the same bits. */

/* BLOCK(…, RR, at) over positions 0..total: whole blocks of R, then the rest in blocks of R/2,
   the last of which may overlap the one before it (27 with R = 6: four blocks of 6 and one of
   3, where a block of 6 at 21 would compute 3 positions twice). Fewer than R positions run
   one at a time. */
#define HALF_BLOCK(R) ((R) / 2 > 0 ? (R) / 2 : 1)
#define FOR_BLOCKS(R, total, BLOCK, ...)                                                           \
  if ((total) >= (R)) {                                                                            \
    int at_ = 0;                                                                                   \
    for (; at_ + (R) <= (total); at_ += (R)) BLOCK(__VA_ARGS__, (R), at_)                          \
    for (; at_ < (total); at_ += HALF_BLOCK(R)) {                                                  \
      const int from_ = at_ + HALF_BLOCK(R) <= (total) ? at_ : (total) - HALF_BLOCK(R);            \
      BLOCK(__VA_ARGS__, HALF_BLOCK(R), from_)                                                     \
    }                                                                                              \
  } else {                                                                                         \
    for (int at_ = 0; at_ < (total); at_++) BLOCK(__VA_ARGS__, 1, at_)                             \
  }

/* RR output pixels from column ow x all NT filters, in groups of NV vectors. */
#define PIXEL_BLOCK(VEC, LANES, NV, NT, RR, ow)                                                    \
  for (int f0 = 0; f0 < NT; f0 += NV * LANES) {                                                    \
    VEC acc[RR][NV];                                                                               \
    for (int i = 0; i < RR; i++)                                                                   \
      for (int v = 0; v < NV; v++) acc[i][v] = *(const VEC *)(bias + f0 + LANES * v);              \
    for (int kh = 0; kh < kH; kh++) {                                                              \
      const float *src = image + ((long)(oh * sH + kh) * inW + (long)(ow) * sW) * cin;             \
      const float *wk = w + kh * taps * NT + f0;                                                   \
      for (long t = 0; t < taps; t++) {                                                            \
        VEC b[NV];                                                                                 \
        for (int v = 0; v < NV; v++) b[v] = *(const VEC *)(wk + t * NT + LANES * v);               \
        for (int i = 0; i < RR; i++) {                                                             \
          const float s = src[i * pixelStep + t];                                                  \
          for (int v = 0; v < NV; v++) acc[i][v] += s * b[v];                                      \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
    for (int i = 0; i < RR; i++)                                                                   \
      for (int v = 0; v < NV; v++) {                                                               \
        VEC out = acc[i][v];                                                                       \
        if (relu) out = __builtin_elementwise_max(out, (VEC){0});                                  \
        *(VEC *)(row + (long)((ow) + i) * NT + f0 + LANES * v) = out;                              \
      }                                                                                            \
  }

#define BODY(VEC, LANES, NV, R, NT)                                                                \
  const long pixelStep = (long)sW * cin, taps = (long)kW * cin;                                    \
  for (long n = first; n < first + count; n++) {                                                   \
    const float *image = x + n * (long)inH * inW * cin;                                            \
    for (int oh = 0; oh < outH; oh++) {                                                            \
      float *row = y + ((n * outH + oh) * (long)outW) * NT;                                        \
      FOR_BLOCKS(R, outW, PIXEL_BLOCK, VEC, LANES, NV, NT)                                         \
    }                                                                                              \
  }

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));

#define ARGS const float *x, const float *w, const float *bias, float *y, long first, long count, \
             int inH, int inW, int cin, int outH, int outW, int kH, int kW, int sH, int sW, int relu

__attribute__((target(WIDE_TARGET))) static void conv32_avx512(ARGS) { BODY(v16, 16, 2, 8, 32) }
__attribute__((target(WIDE_TARGET))) static void conv64_avx512(ARGS) { BODY(v16, 16, 4, 6, 64) }
__attribute__((target(WIDE_TARGET))) static void conv128_avx512(ARGS) { BODY(v16, 16, 4, 6, 128) }
__attribute__((target("avx2,fma"))) static void conv32_avx2(ARGS) { BODY(v8, 8, 2, 6, 32) }
__attribute__((target("avx2,fma"))) static void conv64_avx2(ARGS) { BODY(v8, 8, 2, 6, 64) }
__attribute__((target("avx2,fma"))) static void conv128_avx2(ARGS) { BODY(v8, 8, 2, 6, 128) }

/* Blocks of TB taps x the filters in registers; one output row of pixels at a time (its dy
   rows stay in L1 across the blocks), flushed into dw after the row. Taps past the last
   (K not a multiple of TB) read tap 0 and are dropped at the flush. */
#define WBODY(VEC, LANES, NV, TB, NT, DY_ROW)                                                      \
  const int N = NV * LANES, K = kH * kW * cin;                                                     \
  int offset[K];                                                                                   \
  for (int t = 0; t < K; t++) {                                                                    \
    const int kh = t / (kW * cin), kw = (t / cin) % kW, c = t % cin;                               \
    offset[t] = (kh * inW + kw) * cin + c;                                                         \
  }                                                                                                \
  for (long n = first; n < first + count; n++) {                                                   \
    const float *image = x + n * (long)inH * inW * cin;                                            \
    for (int oh = 0; oh < outH; oh++) {                                                            \
      const float *g = DY_ROW;                                                                     \
      const float *top = image + (long)oh * sH * inW * cin;                                        \
      for (int f0 = 0; f0 < NT; f0 += N)                                                           \
      for (int t0 = 0; t0 < K; t0 += TB) {                                                         \
        int off[TB];                                                                               \
        for (int i = 0; i < TB; i++) off[i] = t0 + i < K ? offset[t0 + i] : offset[0];             \
        VEC acc[TB][NV];                                                                           \
        for (int i = 0; i < TB; i++)                                                               \
          for (int v = 0; v < NV; v++) acc[i][v] = (VEC){0};                                       \
        for (int ow = 0; ow < outW; ow++) {                                                        \
          VEC d[NV];                                                                               \
          for (int v = 0; v < NV; v++) d[v] = *(const VEC *)(g + (long)ow * NT + f0 + LANES * v);  \
          const float *src = top + (long)ow * sW * cin;                                            \
          for (int i = 0; i < TB; i++) {                                                           \
            const float s = src[off[i]];                                                           \
            for (int v = 0; v < NV; v++) acc[i][v] += s * d[v];                                    \
          }                                                                                        \
        }                                                                                          \
        for (int i = 0; i < TB && t0 + i < K; i++)                                                 \
          for (int v = 0; v < NV; v++) *(VEC *)(dw + (long)(t0 + i) * NT + f0 + LANES * v) += acc[i][v]; \
      }                                                                                            \
    }                                                                                              \
  }

#define WARGS const float *x, const float *dy, float *dw, long first, long count, \
              int inH, int inW, int cin, int outH, int outW, int kH, int kW, int sH, int sW
#define DENSE_ROW(NT) dy + ((n * outH + oh) * (long)outW) * NT

/* A maximum's place within its (clipped) window: row << 16 | column (pools are at most 4096 wide). */
#define POSITION(row, column) ((row) << 16 | (column))

/* dy's output row oh of sample n for a convolution whose output a max pooling of tiles (pkH x
   pkW windows, as many apart) reduced, written into `row` (outW x filters) from the pooling's
   gradient gp, output p (with relu, only where p > 0) and its maxima's window positions pos:
   the pooling's backward, one row at a time in L1, instead of a dense gradient in memory. */
static inline const float *pooled_dy_row(const float *gp, const float *p, const int *pos, float *row, long n, int oh,
                                         int outW, int filters, int poolH, int poolW, int pkH, int pkW, int relu) {
  const int ph = oh / pkH, dh = oh - ph * pkH, covered = ph < poolH ? poolW * pkW : 0;
  memset(row + (long)covered * filters, 0, sizeof(float) * (outW - covered) * filters);
  for (int pw = 0; pw < (covered ? poolW : 0); pw++) {
    const long o = ((n * poolH + ph) * (long)poolW + pw) * filters;
    for (int dw = 0; dw < pkW; dw++) {
      /* Every cell written, a select rather than a branch on where each maximum lies. */
      float *restrict cell = row + (long)(pw * pkW + dw) * filters;
      const int here = POSITION(dh, dw);
      for (int f = 0; f < filters; f++) {
        const float g = gp[o + f], y = p[o + f];
        cell[f] = pos[o + f] == here && (!relu || y > 0) ? g : 0.0f;
      }
    }
  }
  return row;
}
#define PWARGS const float *x, const float *gp, const float *p, const int *pos, float *row, float *dw, long first, \
               long count, int inH, int inW, int cin, int outH, int outW, int kH, int kW, int sH, int sW, int poolH, \
               int poolW, int pkH, int pkW, int relu
#define POOLED_ROW_OF(NT) pooled_dy_row(gp, p, pos, row, n, oh, outW, NT, poolH, poolW, pkH, pkW, relu)

/* Each instruction set and filter count: the kernel gradient from dy in memory (grad) and
   from a pooling's gradient, dy rebuilt row by row (pgrad). */
#define WEIGHT_GRADIENTS(TARGET, ISA, VEC, LANES, NV, TB, NT)                                      \
  __attribute__((target(TARGET))) static void grad##NT##_##ISA(WARGS) { WBODY(VEC, LANES, NV, TB, NT, DENSE_ROW(NT)) } \
  __attribute__((target(TARGET))) static void pgrad##NT##_##ISA(PWARGS) { WBODY(VEC, LANES, NV, TB, NT, POOLED_ROW_OF(NT)) }
WEIGHT_GRADIENTS(WIDE_TARGET, avx512, v16, 16, 2, 8, 32)
WEIGHT_GRADIENTS(WIDE_TARGET, avx512, v16, 16, 4, 6, 64)
WEIGHT_GRADIENTS(WIDE_TARGET, avx512, v16, 16, 4, 6, 128)
WEIGHT_GRADIENTS("avx2,fma", avx2, v8, 8, 2, 6, 32)
WEIGHT_GRADIENTS("avx2,fma", avx2, v8, 8, 2, 6, 64)
WEIGHT_GRADIENTS("avx2,fma", avx2, v8, 8, 2, 6, 128)

static int detected = -1, cap = 2;

static int level(void) {
  if (detected < 0) {
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#ifdef FB_EMULATE_WIDE
    detected = avx2 ? 2 : 0;
#else
    detected = __builtin_cpu_supports("avx512f") ? 2 : avx2 ? 1 : 0;
#endif
  }
  return detected < cap ? detected : cap;
}

int fb_kernels_cap_level(int requested) {
  cap = requested < 0 ? 0 : requested > 2 ? 2 : requested;
  return level();
}

int fb_kernels_level(void) { return level(); }

/* 32, 64 and 128 filters run in groups of up to 64 (AVX-512) or 32 (AVX2) filters. 1 to 4
   filters take the kernels that vectorise along a kernel row instead (its kw*cin values, a
   multiple of 32 so both instruction sets' blocks divide it). */
int fb_conv_direct_supported(int filters, int kW, int cin) {
  if (filters >= 1 && filters <= 4) return level() > 0 && ((long)kW * cin) % 32 == 0;
  return (filters == 32 || filters == 64 || filters == 128) && level() > 0;
}

/* Few filters (1 to 4: a decoder's last layer, grey or RGB): the vectors run along the
   kw*cin contiguous input values one kernel row covers (a multiple of 32), not along the
   filters; R pixels at a time, then each sum across its lanes. The kernel, stored
   [kh][kw*cin][F], is first copied to [kh][F][kw*cin] so each filter's row is contiguous. */
#define SMALL_BODY(VEC, LANES, F, R)                                                               \
  const long span = (long)kW * cin, nvs = span / LANES, pixelStep = (long)sW * cin;                 \
  float wt[kH * F * span]; /* at most 4 x 4096 floats: the callers cap kh*kw*cin at 4096 */      \
  for (int kh = 0; kh < kH; kh++)                                                                  \
    for (long s = 0; s < span; s++)                                                                \
      for (int f = 0; f < F; f++) wt[((long)kh * F + f) * span + s] = w[((long)kh * span + s) * F + f]; \
  for (long n = first; n < first + count; n++) {                                                   \
    const float *image = x + n * (long)inH * inW * cin;                                            \
    for (int oh = 0; oh < outH; oh++) {                                                            \
      float *row = y + ((n * outH + oh) * (long)outW) * F;                                         \
      const int r = outW >= R ? R : 1;                                                             \
      for (int block = 0; block < outW; block += r) {                                              \
        const int ow = block + r <= outW ? block : outW - r;                                       \
        VEC acc[R][F];                                                                             \
        for (int i = 0; i < R; i++)                                                                \
          for (int f = 0; f < F; f++) acc[i][f] = (VEC){0};                                        \
        for (int kh = 0; kh < kH; kh++) {                                                          \
          const float *src = image + ((long)(oh * sH + kh) * inW + (long)ow * sW) * cin;           \
          const float *wk = wt + (long)kh * F * span;                                              \
          for (long v = 0; v < nvs; v++) {                                                         \
            VEC b[F];                                                                              \
            for (int f = 0; f < F; f++) b[f] = *(const VEC *)(wk + f * span + LANES * v);          \
            if (r == R) {                                                                          \
              for (int i = 0; i < R; i++) {                                                        \
                const VEC a = *(const VEC *)(src + i * pixelStep + LANES * v);                     \
                for (int f = 0; f < F; f++) acc[i][f] += a * b[f];                                 \
              }                                                                                    \
            } else {                                                                               \
              const VEC a = *(const VEC *)(src + LANES * v);                                       \
              for (int f = 0; f < F; f++) acc[0][f] += a * b[f];                                   \
            }                                                                                      \
          }                                                                                        \
        }                                                                                          \
        for (int i = 0; i < r; i++)                                                                \
          for (int f = 0; f < F; f++) {                                                            \
            float t = bias[f];                                                                     \
            for (int l = 0; l < LANES; l++) t += acc[i][f][l];                                     \
            row[(long)(ow + i) * F + f] = relu && t < 0 ? 0 : t;                                   \
          }                                                                                        \
      }                                                                                            \
    }                                                                                              \
  }

/* dW[kh][kw*cin][F] += Σ_pixels x(kernel row kh) · dy[F], vectorised along kw*cin, VB vectors
   of it x F filters in registers through one image's pixels. */
#define SMALL_WBODY(VEC, LANES, F, VB)                                                             \
  const long span = (long)kW * cin, nvs = span / LANES, pixelStep = (long)sW * cin;                 \
  float acct[kH * F * span]; /* as above */                                                        \
  memset(acct, 0, sizeof(acct));                                                                   \
  for (long n = first; n < first + count; n++) {                                                   \
    const float *image = x + n * (long)inH * inW * cin;                                            \
    const float *g0 = dy + n * (long)outH * outW * F;                                              \
    for (int kh = 0; kh < kH; kh++)                                                                \
      for (long v0 = 0; v0 < nvs; v0 += VB) {                                                      \
        VEC acc[F][VB];                                                                            \
        for (int f = 0; f < F; f++)                                                                \
          for (int v = 0; v < VB; v++) acc[f][v] = (VEC){0};                                       \
        for (int oh = 0; oh < outH; oh++) {                                                        \
          const float *src = image + (long)(oh * sH + kh) * inW * cin + LANES * v0;                \
          const float *g = g0 + (long)oh * outW * F;                                               \
          for (int ow = 0; ow < outW; ow++) {                                                      \
            VEC a[VB];                                                                             \
            for (int v = 0; v < VB; v++) a[v] = *(const VEC *)(src + ow * pixelStep + LANES * v);  \
            for (int f = 0; f < F; f++) {                                                          \
              const float d = g[(long)ow * F + f];                                                 \
              for (int v = 0; v < VB; v++) acc[f][v] += d * a[v];                                  \
            }                                                                                      \
          }                                                                                        \
        }                                                                                          \
        for (int f = 0; f < F; f++)                                                                \
          for (int v = 0; v < VB; v++)                                                             \
            *(VEC *)(acct + ((long)kh * F + f) * span + LANES * (v0 + v)) += acc[f][v];            \
      }                                                                                            \
  }                                                                                                \
  for (int kh = 0; kh < kH; kh++)                                                                  \
    for (long s = 0; s < span; s++)                                                                \
      for (int f = 0; f < F; f++) dw[((long)kh * span + s) * F + f] += acct[((long)kh * F + f) * span + s];

#define SMALL_ARGS const float *x, const float *w, const float *bias, float *y, long first, long count, \
                   int inH, int inW, int cin, int outH, int outW, int kH, int kW, int sH, int sW, int relu
#define SMALL_WARGS const float *x, const float *dy, float *dw, long first, long count, \
                    int inH, int inW, int cin, int outH, int outW, int kH, int kW, int sH, int sW
#define SMALL_KERNELS(F)                                                                                             \
  __attribute__((target(WIDE_TARGET))) static void small##F##_avx512(SMALL_ARGS) { SMALL_BODY(v16, 16, F, 4) }   \
  __attribute__((target("avx2,fma"))) static void small##F##_avx2(SMALL_ARGS) { SMALL_BODY(v8, 8, F, 3) }               \
  __attribute__((target(WIDE_TARGET))) static void smallgrad##F##_avx512(SMALL_WARGS) { SMALL_WBODY(v16, 16, F, 2) } \
  __attribute__((target("avx2,fma"))) static void smallgrad##F##_avx2(SMALL_WARGS) { SMALL_WBODY(v8, 8, F, 4) }
SMALL_KERNELS(1)
SMALL_KERNELS(2)
SMALL_KERNELS(3)
SMALL_KERNELS(4)

int fb_conv_direct_forward(const float *x, const float *w, const float *bias, float *y, long first, long count,
                           int inH, int inW, int cin, int outH, int outW, int filters, int kH, int kW, int sH, int sW,
                           int relu) {
  if (!fb_conv_direct_supported(filters, kW, cin)) return 0;
  int wide = level() == 2;
  if (filters <= 4) {
    void (*const kernels[4][2])(SMALL_ARGS) = {{small1_avx2, small1_avx512}, {small2_avx2, small2_avx512},
                                               {small3_avx2, small3_avx512}, {small4_avx2, small4_avx512}};
    kernels[filters - 1][wide](x, w, bias, y, first, count, inH, inW, cin, outH, outW, kH, kW, sH, sW, relu);
  } else if (filters == 32) (wide ? conv32_avx512 : conv32_avx2)(x, w, bias, y, first, count, inH, inW, cin, outH, outW, kH, kW, sH, sW, relu);
  else if (filters == 64) (wide ? conv64_avx512 : conv64_avx2)(x, w, bias, y, first, count, inH, inW, cin, outH, outW, kH, kW, sH, sW, relu);
  else (wide ? conv128_avx512 : conv128_avx2)(x, w, bias, y, first, count, inH, inW, cin, outH, outW, kH, kW, sH, sW, relu);
  return 1;
}

int fb_conv_direct_weight_gradient_pooled(PWARGS, int filters) {
  if (filters != 32 && filters != 64 && filters != 128) return 0;
  if (!fb_conv_direct_supported(filters, kW, cin)) return 0;
  const int wide = level() == 2;
  void (*const kernel)(PWARGS) = filters == 32 ? (wide ? pgrad32_avx512 : pgrad32_avx2)
                                 : filters == 64 ? (wide ? pgrad64_avx512 : pgrad64_avx2)
                                                 : (wide ? pgrad128_avx512 : pgrad128_avx2);
  kernel(x, gp, p, pos, row, dw, first, count, inH, inW, cin, outH, outW, kH, kW, sH, sW, poolH, poolW, pkH, pkW, relu);
  return 1;
}

int fb_conv_direct_weight_gradient(const float *x, const float *dy, float *dw, long first, long count,
                                   int inH, int inW, int cin, int outH, int outW, int filters, int kH, int kW,
                                   int sH, int sW) {
  if (!fb_conv_direct_supported(filters, kW, cin)) return 0;
  int wide = level() == 2;
  if (filters <= 4) {
    void (*const kernels[4][2])(SMALL_WARGS) = {{smallgrad1_avx2, smallgrad1_avx512}, {smallgrad2_avx2, smallgrad2_avx512},
                                                {smallgrad3_avx2, smallgrad3_avx512}, {smallgrad4_avx2, smallgrad4_avx512}};
    kernels[filters - 1][wide](x, dy, dw, first, count, inH, inW, cin, outH, outW, kH, kW, sH, sW);
  } else if (filters == 32) (wide ? grad32_avx512 : grad32_avx2)(x, dy, dw, first, count, inH, inW, cin, outH, outW, kH, kW, sH, sW);
  else if (filters == 64) (wide ? grad64_avx512 : grad64_avx2)(x, dy, dw, first, count, inH, inW, cin, outH, outW, kH, kW, sH, sW);
  else (wide ? grad128_avx512 : grad128_avx2)(x, dy, dw, first, count, inH, inW, cin, outH, outW, kH, kW, sH, sW);
  return 1;
}

/* Max pooling: channel vectors of LANES with the maximum and its index in registers, selects
   (bitwise) instead of branches; the remaining channels one by one. Strict > keeps the first
   maximum. */
/* The first maximum of a 2x2 window's values v[0..4) (rows then columns) and its position. */
#define FIRST_MAXIMUM_OF_2X2(VEC, IVEC, v, best, index)                                            \
  best = v[0];                                                                                     \
  index = (IVEC){0};                                                                               \
  for (int i = 1; i < 4; i++) {                                                                    \
    const IVEC better = v[i] > best;                                                               \
    best = (VEC)(((IVEC)v[i] & better) | ((IVEC)best & ~better));                                  \
    index = (((IVEC){0} + POSITION(i >> 1, i & 1)) & better) | (index & ~better);                  \
  }

/* The maximum of one window's NH x NW vectors of channels, rows then columns: a value
   replaces the best only when greater (the first maximum wins, as TensorFlow). */
#define POOL_WINDOW(VEC, IVEC, NH, NW)                                                             \
  for (int dh = 0; dh < (NH); dh++)                                                                \
    for (int dw = 0; dw < (NW); dw++) {                                                            \
      const int i = ((hLo + dh) * inW + wLo + dw) * c + ch;                                        \
      const VEC v = *(const VEC *)(image + i);                                                     \
      const IVEC better = v > best;                                                                \
      const IVEC here = positions ? (IVEC){0} + POSITION(dh, dw) : i + lanes;                      \
      best = (VEC)(((IVEC)v & better) | ((IVEC)best & ~better));                                   \
      index = (here & better) | (index & ~better);                                                 \
    }

#define POOL_FORWARD(VEC, IVEC, LANES)                                                             \
  const long inSize = (long)inH * inW * c, outSize = (long)outH * outW * c;                        \
  if (positions && kH == 2 && kW == 2 && sH == 2 && sW == 2 && padTop == 0 && padLeft == 0 && c % LANES == 0) { \
    /* 2x2 tiles, the convolutions' pooled forward: the loop below without its generality. */    \
    for (long n = first; n < first + count; n++)                                                   \
      for (int oh = 0; oh < outH; oh++)                                                            \
        for (int ow = 0; ow < outW; ow++) {                                                        \
          const float *top = x + n * inSize + ((long)(2 * oh) * inW + 2 * ow) * c, *bottom = top + (long)inW * c; \
          const long o = n * outSize + ((long)oh * outW + ow) * c;                                 \
          for (int ch = 0; ch < c; ch += LANES) {                                                  \
            const VEC v[4] = {*(const VEC *)(top + ch), *(const VEC *)(top + c + ch), *(const VEC *)(bottom + ch), \
                              *(const VEC *)(bottom + c + ch)};                                     \
            VEC best;                                                                              \
            IVEC index;                                                                            \
            FIRST_MAXIMUM_OF_2X2(VEC, IVEC, v, best, index)                                        \
            *(VEC *)(y + o + ch) = best;                                                           \
            *(IVEC *)(arg + o + ch) = index;                                                       \
          }                                                                                        \
        }                                                                                          \
    return;                                                                                        \
  }                                                                                                \
  IVEC lanes;                                                                                      \
  for (int l = 0; l < LANES; l++) lanes[l] = l;                                                    \
  for (long n = first; n < first + count; n++) {                                                   \
    const float *image = x + n * inSize;                                                           \
    for (int oh = 0; oh < outH; oh++) {                                                            \
      const int h0 = oh * sH - padTop, hLo = h0 > 0 ? h0 : 0, hHi = h0 + kH < inH ? h0 + kH : inH; \
      for (int ow = 0; ow < outW; ow++) {                                                          \
        const int w0 = ow * sW - padLeft, wLo = w0 > 0 ? w0 : 0, wHi = w0 + kW < inW ? w0 + kW : inW; \
        const long o = n * outSize + ((long)oh * outW + ow) * c;                                   \
        const int start = (hLo * inW + wLo) * c, full = hHi - hLo == kH && wHi - wLo == kW;        \
        int ch = 0;                                                                                \
        for (; ch + LANES <= c; ch += LANES) {                                                     \
          VEC best = *(const VEC *)(image + start + ch);                                           \
          IVEC index = positions ? (IVEC){0} : (start + ch) + lanes;                               \
          /* Whole 2x2 and 3x3 windows unrolled (the same comparisons in the same order). */       \
          if (full && kH == 2 && kW == 2) POOL_WINDOW(VEC, IVEC, 2, 2)                             \
          else if (full && kH == 3 && kW == 3) POOL_WINDOW(VEC, IVEC, 3, 3)                        \
          else POOL_WINDOW(VEC, IVEC, hHi - hLo, wHi - wLo)                                        \
          *(VEC *)(y + o + ch) = best;                                                             \
          *(IVEC *)(arg + o + ch) = index;                                                         \
        }                                                                                          \
        for (; ch < c; ch++) {                                                                     \
          float best = image[start + ch];                                                          \
          int index = positions ? 0 : start + ch;                                                  \
          for (int ih = hLo; ih < hHi; ih++)                                                       \
            for (int iw = wLo; iw < wHi; iw++) {                                                   \
              const int i = (ih * inW + iw) * c + ch;                                              \
              if (image[i] > best) { best = image[i]; index = positions ? POSITION(ih - hLo, iw - wLo) : i; } \
            }                                                                                      \
          y[o + ch] = best;                                                                        \
          arg[o + ch] = index;                                                                     \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
  }

#define POOL_BACKWARD(VEC, IVEC, LANES)                                                            \
  const long inSize = (long)inH * inW * c, outSize = (long)outH * outW * c;                        \
  const int coveredH = outH * kH, coveredW = outW * kW;                                            \
  IVEC lanes;                                                                                      \
  for (int l = 0; l < LANES; l++) lanes[l] = l;                                                    \
  for (long n = first; n < first + count; n++) {                                                   \
    float *image = dx + n * inSize;                                                                \
    for (int oh = 0; oh < outH; oh++) {                                                            \
      for (int ow = 0; ow < outW; ow++) {                                                          \
        const long o = n * outSize + ((long)oh * outW + ow) * c;                                   \
        for (int ih = oh * kH; ih < (oh + 1) * kH; ih++)                                           \
          for (int iw = ow * kW; iw < (ow + 1) * kW; iw++) {                                       \
            const int p = (ih * inW + iw) * c;                                                     \
            int ch = 0;                                                                            \
            for (; ch + LANES <= c; ch += LANES) {                                                 \
              IVEC keep = *(const IVEC *)(arg + o + ch) == (p + ch) + lanes;                       \
              if (maskPositive) keep &= *(const VEC *)(y + o + ch) > (VEC){0};                     \
              *(IVEC *)(image + p + ch) = *(const IVEC *)(dy + o + ch) & keep;                     \
            }                                                                                      \
            for (; ch < c; ch++) {                                                                 \
              const int hit = arg[o + ch] == p + ch && (!maskPositive || y[o + ch] > 0);           \
              image[p + ch] = hit ? dy[o + ch] : 0;                                                \
            }                                                                                      \
          }                                                                                        \
      }                                                                                            \
      if (coveredW < inW)                                                                          \
        for (int ih = oh * kH; ih < (oh + 1) * kH; ih++)                                           \
          memset(image + ((long)ih * inW + coveredW) * c, 0, sizeof(float) * (inW - coveredW) * c); \
    }                                                                                              \
    if (coveredH < inH) memset(image + (long)coveredH * inW * c, 0, sizeof(float) * (inH - coveredH) * inW * c); \
  }

typedef int i16v __attribute__((vector_size(64), aligned(4)));
typedef int i8v __attribute__((vector_size(32), aligned(4)));
typedef float f4v __attribute__((vector_size(16), aligned(4)));
typedef int i4v __attribute__((vector_size(16), aligned(4)));

#define POOL_FWD_ARGS const float *x, float *y, int *arg, long first, long count, int inH, int inW, int c, \
                      int outH, int outW, int kH, int kW, int sH, int sW, int padTop, int padLeft, int positions
#define POOL_BWD_ARGS const float *dy, const float *y, const int *arg, float *dx, long first, long count, \
                      int inH, int inW, int c, int outH, int outW, int kH, int kW, int maskPositive

__attribute__((target(WIDE_TARGET))) static void pool_forward_avx512(POOL_FWD_ARGS) { POOL_FORWARD(v16, i16v, 16) }
__attribute__((target("avx2,fma"))) static void pool_forward_avx2(POOL_FWD_ARGS) { POOL_FORWARD(v8, i8v, 8) }
static void pool_forward_sse(POOL_FWD_ARGS) { POOL_FORWARD(f4v, i4v, 4) }
__attribute__((target(WIDE_TARGET))) static void pool_backward_avx512(POOL_BWD_ARGS) { POOL_BACKWARD(v16, i16v, 16) }
__attribute__((target("avx2,fma"))) static void pool_backward_avx2(POOL_BWD_ARGS) { POOL_BACKWARD(v8, i8v, 8) }
static void pool_backward_sse(POOL_BWD_ARGS) { POOL_BACKWARD(f4v, i4v, 4) }

void fb_maxpool_forward(POOL_FWD_ARGS) {
  const int l = level();
  (l == 2 ? pool_forward_avx512 : l == 1 ? pool_forward_avx2 : pool_forward_sse)(
      x, y, arg, first, count, inH, inW, c, outH, outW, kH, kW, sH, sW, padTop, padLeft, positions);
}

void fb_maxpool_backward_tiles(POOL_BWD_ARGS) {
  const int l = level();
  (l == 2 ? pool_backward_avx512 : l == 1 ? pool_backward_avx2 : pool_backward_sse)(
      dy, y, arg, dx, first, count, inH, inW, c, outH, outW, kH, kW, maskPositive);
}

/* A loop written once in plain C (an always-inline body), compiled three times, for
   AVX-512, AVX2 and the x86-64 baseline (SSE2), and chosen at run time like the kernels above.
   The vectoriser only widens the loop over independent elements, so every version gives the
   same bits. */
#define MULTIVERSION(NAME, PARAMS, ARGS)                                                           \
  __attribute__((target(WIDE_TARGET))) static void NAME##_avx512 PARAMS { NAME##_body ARGS; }      \
  __attribute__((target("avx2"))) static void NAME##_avx2 PARAMS { NAME##_body ARGS; }           \
  static void NAME##_sse PARAMS { NAME##_body ARGS; }                                            \
  void fb_##NAME PARAMS {                                                                        \
    const int l = level();                                                                       \
    (l == 2 ? NAME##_avx512 : l == 1 ? NAME##_avx2 : NAME##_sse) ARGS;                           \
  }
#define INLINE static inline __attribute__((always_inline))

INLINE void relu_backward_bias_body(const float *restrict y, float *restrict dy, long rows, long width, float *restrict partial) {
  for (long r = 0; r < rows; r++) {
    const float *out = y + r * width;
    float *g = dy + r * width;
    /* Both loads unconditional, so the comparison is a select, not a branch. */
#pragma clang loop vectorize(enable)
    for (long j = 0; j < width; j++) {
      const float gj = g[j], yj = out[j];
      const float v = yj > 0 ? gj : 0;
      g[j] = v;
      partial[j] += v;
    }
  }
}
MULTIVERSION(relu_backward_bias, (const float *restrict y, float *restrict dy, long rows, long width, float *restrict partial),
             (y, dy, rows, width, partial))

/* LeakyReLU (slope a >= 0) and its backward, given its output y (y > 0 exactly when x > 0),
   written once for the layer and for the batch normalization that absorbs it. Both values are
   computed before choosing: a select, not a branch on a random sign. */
INLINE float leaky(float v, float a) { const float w = v * a; return v > 0 ? v : w; }
INLINE float leaky_backward(float y, float g, float a) { const float w = g * a; return y > 0 ? g : w; }

INLINE void leaky_relu_forward_body(const float *restrict x, float *restrict y, long n, float a) {
#pragma clang loop vectorize(enable)
  for (long i = 0; i < n; i++) y[i] = leaky(x[i], a);
}
MULTIVERSION(leaky_relu_forward, (const float *restrict x, float *restrict y, long n, float a), (x, y, n, a))

INLINE void leaky_relu_backward_body(const float *restrict y, float *restrict dy, long n, float a) {
#pragma clang loop vectorize(enable)
  for (long i = 0; i < n; i++) dy[i] = leaky_backward(y[i], dy[i], a);
}
MULTIVERSION(leaky_relu_backward, (const float *restrict y, float *restrict dy, long n, float a), (y, dy, n, a))

/* Rows of up to 8 vectors keep their sums in registers across all rows (each sum still adds
   the rows in order, so the same bits as the plain loop); other widths take the plain loop. */
#define ADD_ROWS_BODY(VEC, LANES)                                                                  \
  if (width % LANES == 0 && width <= 8 * LANES) {                                                  \
    const int nv = (int)(width / LANES);                                                           \
    VEC acc[8];                                                                                    \
    for (int v = 0; v < nv; v++) acc[v] = *(const VEC *)(partial + LANES * v);                     \
    for (long r = 0; r < rows; r++)                                                                \
      for (int v = 0; v < nv; v++) acc[v] = acc[v] + *(const VEC *)(dy + r * width + LANES * v);   \
    for (int v = 0; v < nv; v++) *(VEC *)(partial + LANES * v) = acc[v];                           \
    return;                                                                                        \
  }                                                                                                \
  for (long r = 0; r < rows; r++)                                                                  \
    for (long j = 0; j < width; j++) partial[j] += dy[r * width + j];

#define ADD_ROWS_ARGS const float *restrict dy, long rows, long width, float *restrict partial
__attribute__((target(WIDE_TARGET))) static void add_rows_avx512(ADD_ROWS_ARGS) { ADD_ROWS_BODY(v16, 16) }
__attribute__((target("avx2"))) static void add_rows_avx2(ADD_ROWS_ARGS) { ADD_ROWS_BODY(v8, 8) }
static void add_rows_plain(ADD_ROWS_ARGS) { ADD_ROWS_BODY(f4v, 4) }

void fb_add_rows(const float *dy, long rows, long width, float *partial) {
  const int l = level();
  (l == 2 ? add_rows_avx512 : l == 1 ? add_rows_avx2 : add_rows_plain)(dy, rows, width, partial);
}

/* Optimizer updates, element-wise over [0, n), the same float32 operations in the same order
   as the equations in RMSprop.swift and Adam.swift, and never fused into multiply-adds: every
   instruction set gives the same bits as the plain loop (the vectors only add throughput; the
   Swift loop compiled to scalar code because its arrays might alias). */
#pragma clang fp contract(off)

#define RMSPROP_BODY(VEC, LANES)                                                                   \
  long i = 0;                                                                                      \
  for (; i + LANES <= n; i += LANES) {                                                             \
    const VEC gi = *(const VEC *)(g + i);                                                          \
    const VEC vi = rho * *(const VEC *)(v + i) + oneMinusRho * gi * gi;                            \
    *(VEC *)(v + i) = vi;                                                                          \
    *(VEC *)(w + i) = *(const VEC *)(w + i) - lr * gi / __builtin_elementwise_sqrt(vi + eps);     \
  }                                                                                                \
  for (; i < n; i++) {                                                                             \
    const float gi = g[i];                                                                         \
    v[i] = rho * v[i] + oneMinusRho * gi * gi;                                                     \
    w[i] = w[i] - lr * gi / __builtin_sqrtf(v[i] + eps);                                           \
  }

#define RMSPROP_ARGS float *restrict w, float *restrict v, const float *restrict g, long n, \
                     float lr, float rho, float oneMinusRho, float eps

__attribute__((target(WIDE_TARGET))) static void rmsprop_avx512(RMSPROP_ARGS) { RMSPROP_BODY(v16, 16) }
__attribute__((target("avx2"))) static void rmsprop_avx2(RMSPROP_ARGS) { RMSPROP_BODY(v8, 8) }
static void rmsprop_plain(RMSPROP_ARGS) { RMSPROP_BODY(float, 1) }

void fb_rmsprop_update(float *w, float *v, const float *g, long n, float lr, float rho, float oneMinusRho, float eps) {
  int l = level();
  (l == 2 ? rmsprop_avx512 : l == 1 ? rmsprop_avx2 : rmsprop_plain)(w, v, g, n, lr, rho, oneMinusRho, eps);
}

#define ADAM_BODY(VEC, LANES)                                                                      \
  long i = 0;                                                                                      \
  for (; i + LANES <= n; i += LANES) {                                                             \
    const VEC gi = *(const VEC *)(g + i);                                                          \
    VEC mi = *(const VEC *)(m + i), vi = *(const VEC *)(v + i);                                    \
    mi = mi + (gi - mi) * oneMinusBeta1;                                                           \
    vi = vi + (gi * gi - vi) * oneMinusBeta2;                                                      \
    *(VEC *)(m + i) = mi;                                                                          \
    *(VEC *)(v + i) = vi;                                                                          \
    *(VEC *)(w + i) = *(const VEC *)(w + i) - mi * alpha / (__builtin_elementwise_sqrt(vi) + eps); \
  }                                                                                                \
  for (; i < n; i++) {                                                                             \
    const float gi = g[i];                                                                         \
    m[i] = m[i] + (gi - m[i]) * oneMinusBeta1;                                                     \
    v[i] = v[i] + (gi * gi - v[i]) * oneMinusBeta2;                                                \
    w[i] = w[i] - m[i] * alpha / (__builtin_sqrtf(v[i]) + eps);                                    \
  }

#define ADAM_ARGS float *restrict w, float *restrict m, float *restrict v, const float *restrict g, long n, \
                  float alpha, float oneMinusBeta1, float oneMinusBeta2, float eps

__attribute__((target(WIDE_TARGET))) static void adam_avx512(ADAM_ARGS) { ADAM_BODY(v16, 16) }
__attribute__((target("avx2"))) static void adam_avx2(ADAM_ARGS) { ADAM_BODY(v8, 8) }
static void adam_plain(ADAM_ARGS) { ADAM_BODY(float, 1) }

void fb_adam_update(float *w, float *m, float *v, const float *g, long n, float alpha, float oneMinusBeta1,
                    float oneMinusBeta2, float eps) {
  int l = level();
  (l == 2 ? adam_avx512 : l == 1 ? adam_avx2 : adam_plain)(w, m, v, g, n, alpha, oneMinusBeta1, oneMinusBeta2, eps);
}

/* Batch normalization (after `fp contract(off)` above: the same bits as the Swift loops). */
/* `slope` is the negative slope of a LeakyReLU just before the normalization, applied to x as
   it is read (`leaky`, as the layer's own loop), so that layer need not write its output; 1
   when there is none (v*1 is v, so the same bits as plain x). */

INLINE void bn_sums_body(const float *restrict x, long rows, long c, double *restrict s, double *restrict q, float slope) {
  for (long r = 0; r < rows; r++) {
    const float *row = x + r * c;
    for (long j = 0; j < c; j++) {
      const float xv = row[j];
      const double v = leaky(xv, slope);
      s[j] += v;
      q[j] += v * v;
    }
  }
}
MULTIVERSION(bn_sums, (const float *restrict x, long rows, long c, double *restrict s, double *restrict q, float slope),
             (x, rows, c, s, q, slope))

INLINE void bn_gradient_sums_body(const float *restrict dy, const float *restrict x, const float *restrict mean,
                                  const float *restrict inverseStd, long rows, long c, double *restrict s, double *restrict q,
                                  float slope) {
  for (long r = 0; r < rows; r++) {
    const float *g = dy + r * c, *xr = x + r * c;
    for (long j = 0; j < c; j++) {
      const double gv = g[j];
      const float xv = leaky(xr[j], slope);
      s[j] += gv;
      q[j] += gv * (double)((xv - mean[j]) * inverseStd[j]);
    }
  }
}
MULTIVERSION(bn_gradient_sums, (const float *restrict dy, const float *restrict x, const float *restrict mean,
                                const float *restrict inverseStd, long rows, long c, double *restrict s, double *restrict q,
                                float slope),
             (dy, x, mean, inverseStd, rows, c, s, q, slope))

INLINE void bn_apply_body(const float *restrict x, float *restrict y, long rows, long c, const float *restrict k,
                          const float *restrict b, float slope) {
  for (long r = 0; r < rows; r++) {
    const float *xr = x + r * c;
    float *yr = y + r * c;
    for (long j = 0; j < c; j++) {
      const float xv = leaky(xr[j], slope);
      yr[j] = xv * k[j] + b[j];
    }
  }
}
MULTIVERSION(bn_apply, (const float *restrict x, float *restrict y, long rows, long c, const float *restrict k,
                        const float *restrict b, float slope), (x, y, rows, c, k, b, slope))

/* ... and the LeakyReLU's backward applied to the result (as fb_leaky_relu_backward). */
INLINE void bn_input_gradient_body(float *restrict g, const float *restrict x, long rows, long c, const float *restrict a,
                                   const float *restrict m, const float *restrict mean, const float *restrict h, float slope) {
  for (long r = 0; r < rows; r++) {
    float *gr = g + r * c;
    const float *xr = x + r * c;
    for (long j = 0; j < c; j++) {
      const float xv = leaky(xr[j], slope);
      gr[j] = leaky_backward(xv, a[j] * (gr[j] - m[j] - (xv - mean[j]) * h[j]), slope);
    }
  }
}
MULTIVERSION(bn_input_gradient, (float *restrict g, const float *restrict x, long rows, long c, const float *restrict a,
                                 const float *restrict m, const float *restrict mean, const float *restrict h, float slope),
             (g, x, rows, c, a, m, mean, h, slope))

void fb_weighted_sum(float *out, const float *const *others, const float *weights, int replicas, long first, long count) {
  const long block = 4096; /* in L1 across the replicas' passes */
  for (long lo = first; lo < first + count; lo += block) {
    const long hi = lo + block < first + count ? lo + block : first + count;
    for (long i = lo; i < hi; i++) out[i] = out[i] * weights[0];
    for (int r = 1; r < replicas; r++) {
      const float *restrict g = others[r - 1];
      const float w = weights[r];
      for (long i = lo; i < hi; i++) out[i] = out[i] + w * g[i];
    }
  }
}

/* Dense layers with 16 units over a long input (an autoencoder's latent code) or 16 inputs to
   a long output (its decoder's first layer). OpenBLAS runs these shapes at a third of memory
   speed; here each pass reads its operands once (blocks sized for L2), 16-float rows of the
   narrow side held as one vector (two on AVX2). Multiply-adds are fused where the CPU has FMA,
   as the direct convolutions; summation orders are fixed for a given range split. */
#define NARROW_FMA _Pragma("clang fp contract(fast)")

/* y[m][0..16) += Σ_{k in [k0, k1)} x[m][k]·w[k][0..16); x has K columns. */
INLINE void narrow_forward_body(const float *restrict x, const float *restrict w, float *restrict y, long rows, long K,
                                long k0, long k1) {
  NARROW_FMA
  const long KB = 2048;
  for (long kb = k0; kb < k1; kb += KB) {
    const long ke = kb + KB < k1 ? kb + KB : k1;
    long m0 = 0;
    for (; m0 + 8 <= rows; m0 += 8) {
      v16 acc[8];
      for (int i = 0; i < 8; i++) acc[i] = (v16){0};
      for (long k = kb; k < ke; k++) {
        const v16 wk = *(const v16 *)(w + k * 16);
        for (int i = 0; i < 8; i++) acc[i] += x[(m0 + i) * K + k] * wk;
      }
      for (int i = 0; i < 8; i++) *(v16 *)(y + (m0 + i) * 16) += acc[i];
    }
    for (; m0 < rows; m0++) {
      v16 acc = {0};
      for (long k = kb; k < ke; k++) acc += x[m0 * K + k] * *(const v16 *)(w + k * 16);
      *(v16 *)(y + m0 * 16) += acc;
    }
  }
}
MULTIVERSION(narrow_forward, (const float *restrict x, const float *restrict w, float *restrict y, long rows, long K,
                              long k0, long k1), (x, w, y, rows, K, k0, k1))

/* dw[k][0..16) = Σ_m x[m][k]·dy[m][0..16), for k in [k0, k1). */
INLINE void narrow_weight_gradient_body(const float *restrict x, const float *restrict dy, float *restrict dw, long rows,
                                        long K, long k0, long k1) {
  NARROW_FMA
  long k = k0;
  for (; k + 8 <= k1; k += 8) {
    v16 acc[8];
    for (int i = 0; i < 8; i++) acc[i] = (v16){0};
    for (long m = 0; m < rows; m++) {
      const v16 d = *(const v16 *)(dy + m * 16);
      const float *xr = x + m * K + k;
      for (int i = 0; i < 8; i++) acc[i] += xr[i] * d;
    }
    for (int i = 0; i < 8; i++) *(v16 *)(dw + (k + i) * 16) = acc[i];
  }
  for (; k < k1; k++) {
    v16 acc = {0};
    for (long m = 0; m < rows; m++) acc += x[m * K + k] * *(const v16 *)(dy + m * 16);
    *(v16 *)(dw + k * 16) = acc;
  }
}
MULTIVERSION(narrow_weight_gradient, (const float *restrict x, const float *restrict dy, float *restrict dw, long rows,
                                      long K, long k0, long k1), (x, dy, dw, rows, K, k0, k1))

/* dx[m][k] = Σ_n dy[m][n]·w[k][n], for k in [k0, k1): blocks of 256 rows of w turned into 16
   columns (in L1), then each row of dx written along the block, a vector at a time. */
INLINE void narrow_input_gradient_body(const float *restrict dy, const float *restrict w, float *restrict dx, long rows,
                                       long K, long k0, long k1) {
  NARROW_FMA
  enum { S = 256 };
  float wt[16][S];
  long kb = k0;
  for (; kb + S <= k1; kb += S) {
    for (long i = 0; i < S; i++)
      for (int n = 0; n < 16; n++) wt[n][i] = w[(kb + i) * 16 + n];
    for (long m = 0; m < rows; m++) {
      float *out = dx + m * K + kb;
      const float *g = dy + m * 16;
      for (long i = 0; i < S; i += 16) {
        v16 acc = g[0] * *(const v16 *)(wt[0] + i);
        for (int n = 1; n < 16; n++) acc += g[n] * *(const v16 *)(wt[n] + i);
        *(v16 *)(out + i) = acc;
      }
    }
  }
  for (long k = kb; k < k1; k++)
    for (long m = 0; m < rows; m++) {
      float s = dy[m * 16] * w[k * 16];
      for (int n = 1; n < 16; n++) s += dy[m * 16 + n] * w[k * 16 + n];
      dx[m * K + k] = s;
    }
}
MULTIVERSION(narrow_input_gradient, (const float *restrict dy, const float *restrict w, float *restrict dx, long rows,
                                     long K, long k0, long k1), (dy, w, dx, rows, K, k0, k1))

/* y[m][j] = b[j] + Σ_n z[m][n]·w[n][j] for j in [j0, j1); w is 16 rows of J. In blocks of 256
   columns: w's block stays in L1 while each row of y is written along it, a vector at a time. */
INLINE void wide_forward_body(const float *restrict z, const float *restrict w, const float *restrict b, float *restrict y,
                              long rows, long J, long j0, long j1) {
  NARROW_FMA
  enum { S = 256 };
  long jb = j0;
  for (; jb + S <= j1; jb += S)
    for (long m = 0; m < rows; m++) {
      float *out = y + m * J + jb;
      const float *zr = z + m * 16;
      for (long i = 0; i < S; i += 16) {
        v16 acc = *(const v16 *)(b + jb + i) + zr[0] * *(const v16 *)(w + jb + i);
        for (int n = 1; n < 16; n++) acc += zr[n] * *(const v16 *)(w + n * J + jb + i);
        *(v16 *)(out + i) = acc;
      }
    }
  for (long j = jb; j < j1; j++)
    for (long m = 0; m < rows; m++) {
      float s = b[j] + z[m * 16] * w[j];
      for (int n = 1; n < 16; n++) s += z[m * 16 + n] * w[n * J + j];
      y[m * J + j] = s;
    }
}
MULTIVERSION(wide_forward, (const float *restrict z, const float *restrict w, const float *restrict b, float *restrict y,
                            long rows, long J, long j0, long j1), (z, w, b, y, rows, J, j0, j1))

/* dw[n][j] = Σ_m z[m][n]·dy[m][j] for j in [j0, j1): 4 rows x 64 columns of dw in registers
   through all rows of dy (whose 64-column block stays in L1 for the next 4 rows of dw). */
INLINE void wide_weight_gradient_body(const float *restrict z, const float *restrict dy, float *restrict dw, long rows,
                                      long J, long j0, long j1) {
  NARROW_FMA
  long j = j0;
  for (; j + 64 <= j1; j += 64)
    for (int n0 = 0; n0 < 16; n0 += 4) {
      v16 acc[4][4];
      for (int a = 0; a < 4; a++)
        for (int v = 0; v < 4; v++) acc[a][v] = (v16){0};
      for (long m = 0; m < rows; m++) {
        v16 d[4];
        for (int v = 0; v < 4; v++) d[v] = *(const v16 *)(dy + m * J + j + 16 * v);
        for (int a = 0; a < 4; a++) {
          const float zn = z[m * 16 + n0 + a];
          for (int v = 0; v < 4; v++) acc[a][v] += zn * d[v];
        }
      }
      for (int a = 0; a < 4; a++)
        for (int v = 0; v < 4; v++) *(v16 *)(dw + (n0 + a) * J + j + 16 * v) = acc[a][v];
    }
  for (; j < j1; j++)
    for (int n = 0; n < 16; n++) {
      float s = 0;
      for (long m = 0; m < rows; m++) s += z[m * 16 + n] * dy[m * J + j];
      dw[n * J + j] = s;
    }
}
MULTIVERSION(wide_weight_gradient, (const float *restrict z, const float *restrict dy, float *restrict dw, long rows,
                                    long J, long j0, long j1), (z, dy, dw, rows, J, j0, j1))

/* dz[m][n] += Σ_{j in [j0, j1)} dy[m][j]·w[n][j]: per row, 16 vector sums along j (in blocks
   that keep w's 16 rows in L2 across the rows of dy), kept in `work` (rows x 256 floats, the
   caller's) between blocks, each summed across its lanes at the end. */
INLINE void wide_input_gradient_body(const float *restrict dy, const float *restrict w, float *restrict dz, long rows,
                                     long J, long j0, long j1, float *restrict work) {
  NARROW_FMA
  const long JB = 1024;
  const long vecEnd = j0 + (j1 - j0) / 16 * 16;
  v16 *sums = (v16 *)work;
  for (long i = 0; i < rows * 16; i++) sums[i] = (v16){0};
  for (long jb = j0; jb < vecEnd; jb += JB) {
    const long je = jb + JB < vecEnd ? jb + JB : vecEnd;
    for (long m = 0; m < rows; m++) {
      v16 acc[16];
      for (int n = 0; n < 16; n++) acc[n] = sums[m * 16 + n];
      for (long j = jb; j < je; j += 16) {
        const v16 d = *(const v16 *)(dy + m * J + j);
        for (int n = 0; n < 16; n++) acc[n] += d * *(const v16 *)(w + n * J + j);
      }
      for (int n = 0; n < 16; n++) sums[m * 16 + n] = acc[n];
    }
  }
  for (long m = 0; m < rows; m++)
    for (int n = 0; n < 16; n++) {
      float s = 0;
      for (int l = 0; l < 16; l++) s += sums[m * 16 + n][l];
      for (long j = vecEnd; j < j1; j++) s += dy[m * J + j] * w[n * J + j];
      dz[m * 16 + n] += s;
    }
}
MULTIVERSION(wide_input_gradient, (const float *restrict dy, const float *restrict w, float *restrict dz, long rows,
                                   long J, long j0, long j1, float *restrict work), (dy, w, dz, rows, J, j0, j1, work))

/* A convolution's backward from the max pooling after it (see ckernels.h), one row of
   pooled windows (a band) at a time. Each pooled value g adds g times its maximum's input
   patch into its filter's row of the kernel gradient, and g times that filter's row of the
   transposed kernel into the patch's place in dx.
   - Values whose patch lies inside the image (and rows of a multiple of 16 values) are
     summed in registers: for the kernel gradient, filter by filter over the band's windows;
     for dx, window by window over the filters whose maximum is at the same place (a
     counting sort per window), each sum then added to memory once. Adding into memory value
     by value instead (a load, a multiply-add and a store per element, and dx's chains through
     memory from one filter to the next) measured 2-3 times slower.
   - The others (clipped patches) take the value-by-value form, after the band's sums.
   Every element sees the same fused multiply-adds and adds in the same order on every
   instruction set (the baseline's through libm), so all give the same bits. */
#define POOLED_MAX_PLACES 16
#define POOLED_MAX_VECTORS 8

long fb_conv_pooled_work_count(int filters, int poolW) {
  const long values = (long)filters * poolW;
  /* per filter: patch offsets and gradients; per window: each filter's place, the filters
     sorted by place, where each place's run starts, and the places' offsets; each filter's
     offset in the transposed kernel, and its value's patch in the window at hand */
  return 4 * values + (long)poolW * (POOLED_MAX_PLACES + 1) + (long)poolW * POOLED_MAX_PLACES + 2 * filters;
}

/* d[r·dStride + [0, NV·LANES)] += Σ_i g[k]·src_k[r·sStride + [0, NV·LANES)] for rows r < NR,
   src_k = base + offsets[k], k = which ? which[i] : i: NR x NV accumulators in registers. */
#define POOLED_SUMS(SUFFIX, VEC, LANES, MAXV, TARGET)                                              \
  TARGET INLINE void pooled_sum_##SUFFIX(const float *base, long sStride, const int *offsets, const float *g, \
                                         const int *which, int count, float *d, long dStride, const int NR, const int NV) { \
    VEC acc[3][POOLED_MAX_VECTORS];                                                                \
    for (int r = 0; r < NR; r++)                                                                   \
      for (int v = 0; v < NV; v++) acc[r][v] = (VEC){0};                                           \
    for (int i = 0; i < count; i++) {                                                              \
      const int k = which ? which[i] : i;                                                          \
      const float *src = base + offsets[k];                                                        \
      const VEC gv = g[k] - (VEC){0}; /* a splat */                                                \
      for (int r = 0; r < NR; r++)                                                                 \
        for (int v = 0; v < NV; v++)                                                               \
          acc[r][v] = __builtin_elementwise_fma(gv, *(const VEC *)(src + r * sStride + v * LANES), acc[r][v]); \
    }                                                                                              \
    for (int r = 0; r < NR; r++)                                                                   \
      for (int v = 0; v < NV; v++) *(VEC *)(d + r * dStride + v * LANES) += acc[r][v];             \
  }                                                                                                \
  /* The same over a patch of `rows` rows of `width` values (a multiple of LANES), in blocks of */ \
  /* up to 3 rows x MAXV vectors. */                                                               \
  TARGET INLINE void pooled_patch_##SUFFIX(const float *base, long sStride, const int *offsets, const float *g, \
                                           const int *which, int count, float *d, long dStride, int rows, long width) { \
    for (int r = 0; r < rows; r += 3)                                                              \
      for (long j = 0; j < width; j += MAXV * LANES) {                                             \
        const int nr = rows - r < 3 ? rows - r : 3;                                                \
        const long left = (width - j) / LANES;                                                     \
        const int nv = left < MAXV ? (int)left : MAXV;                                             \
        const float *b = base + r * sStride + j;                                                   \
        float *e = d + r * dStride + j;                                                            \
        switch (nr * 16 + nv) {                                                                    \
        POOLED_CASES(SUFFIX, 1) POOLED_CASES(SUFFIX, 2) POOLED_CASES(SUFFIX, 3)                    \
        }                                                                                          \
      }                                                                                            \
  }
#define POOLED_CASE(SUFFIX, NR, NV)                                                                \
  case NR * 16 + NV: pooled_sum_##SUFFIX(b, sStride, offsets, g, which, count, e, dStride, NR, NV); break;
#define POOLED_CASES(SUFFIX, NR)                                                                   \
  POOLED_CASE(SUFFIX, NR, 1) POOLED_CASE(SUFFIX, NR, 2) POOLED_CASE(SUFFIX, NR, 3) POOLED_CASE(SUFFIX, NR, 4) \
  POOLED_CASE(SUFFIX, NR, 5) POOLED_CASE(SUFFIX, NR, 6) POOLED_CASE(SUFFIX, NR, 7) POOLED_CASE(SUFFIX, NR, 8)

/* 3 x 8 accumulators fit AVX-512's 32 registers; 3 x 4, the 16 of AVX2 and SSE. */
POOLED_SUMS(avx512, v16, 16, 8, __attribute__((target(WIDE_TARGET))))
POOLED_SUMS(avx2, v8, 8, 4, __attribute__((target("avx2,fma"))))
POOLED_SUMS(sse, f4v, 4, 4, )

#define CONV_POOLED_BACKWARD(SUFFIX, AXPY)                                                         \
  const long inSize = (long)inH * inW * cin, pooledSize = (long)poolH * poolW * filters;           \
  const long row = (long)kW * cin, filterRows = (long)kH * row, rowStride = (long)inW * cin;       \
  const long values = (long)filters * poolW;                                                       \
  const int places = pkH * pkW, summed = row % 16 == 0 && places <= POOLED_MAX_PLACES;             \
  int *offsets = work, *placeOf = work + 2 * values, *sorted = work + 3 * values;                  \
  float *gradients = (float *)(work + values);                                                     \
  int *runStart = work + 4 * values, *placeOffset = runStart + (long)poolW * (POOLED_MAX_PLACES + 1); \
  int *filterOffsets = placeOffset + (long)poolW * POOLED_MAX_PLACES, *patchOf = filterOffsets + filters; \
  int counts[filters], clipped[poolW];                                                             \
  for (int f = 0; f < filters; f++) filterOffsets[f] = (int)(f * filterRows);                      \
  for (long n = first; n < first + count; n++) {                                                   \
    const float *image = x + n * inSize;                                                           \
    float *dimage = dx ? dx + n * inSize : 0;                                                      \
    if (dimage) memset(dimage, 0, sizeof(float) * inSize);                                         \
    for (int oh = 0; oh < poolH; oh++) {                                                           \
      const int h0 = oh * psH - pPadTop, hLo = h0 > 0 ? h0 : 0;                                    \
      const long o0 = n * pooledSize + (long)oh * poolW * filters;                                 \
      for (int f = 0; f < filters; f++) counts[f] = 0;                                             \
      /* Sort the band's values: by filter for the kernel gradient, by place for dx. A value */    \
      /* that ReLU stops or whose patch is clipped goes to place `places`, summed by no one. */    \
      for (int ow = 0; ow < poolW; ow++) {                                                         \
        const int w0 = ow * psW - pPadLeft, wLo = w0 > 0 ? w0 : 0;                                 \
        const long o = o0 + (long)ow * filters;                                                    \
        int *offset = placeOffset + ow * POOLED_MAX_PLACES;                                        \
        clipped[ow] = 0;                                                                           \
        if (!summed) {                                                                             \
          for (int f = 0; f < filters; f++) {                                                      \
            const int active = !relu || p[o + f] > 0;                                              \
            db[f] += active ? gp[o + f] : 0.0f;                                                    \
            clipped[ow] |= active;                                                                 \
          }                                                                                        \
          continue;                                                                                \
        }                                                                                          \
        /* Places are rows x columns of the window; those whose patches lie inside the image */   \
        /* form rows [rLo, rHi) x columns [cLo, cHi). */                                           \
        int rLo = pkH, rHi = 0, cLo = pkW, cHi = 0;                                                \
        for (int r = 0; r < pkH; r++) {                                                            \
          const int ih0 = (hLo + r) * sH - padTop;                                                 \
          if (ih0 >= 0 && ih0 + kH <= inH) { rLo = r < rLo ? r : rLo; rHi = r + 1; }               \
        }                                                                                          \
        for (int c = 0; c < pkW; c++) {                                                            \
          const int iw0 = (wLo + c) * sW - padLeft;                                                \
          if (iw0 >= 0 && iw0 + kW <= inW) { cLo = c < cLo ? c : cLo; cHi = c + 1; }               \
        }                                                                                          \
        const int corner = (int)(((long)(hLo * sH - padTop) * inW + wLo * sW - padLeft) * cin);    \
        const int rStep = (int)(sH * rowStride), cStep = sW * cin;                                 \
        for (int r = 0; r < pkH; r++)                                                              \
          for (int c = 0; c < pkW; c++) offset[r * pkW + c] = corner + r * rStep + c * cStep;      \
        /* Each value's place (or `places`) and patch, in a loop of vector operations; then the */ \
        /* per-filter lists and the counts per place. */                                           \
        int *placeOfWindow = placeOf + ow * filters, anyClipped = 0;                               \
        for (int f = 0; f < filters; f++) {                                                        \
          const int at = pos[o + f], r = at >> 16, c = at & 0xffff;                                \
          const int active = !relu | (p[o + f] > 0);                                               \
          db[f] += active ? gp[o + f] : 0.0f;                                                      \
          const int summable = active & (r >= rLo) & (r < rHi) & (c >= cLo) & (c < cHi);          \
          anyClipped |= active & !summable;                                                        \
          placeOfWindow[f] = summable ? r * pkW + c : places;                                      \
          patchOf[f] = corner + r * rStep + c * cStep;                                             \
        }                                                                                          \
        clipped[ow] = anyClipped;                                                                  \
        int run[POOLED_MAX_PLACES + 1] = {0};                                                      \
        for (int f = 0; f < filters; f++) {                                                        \
          const int k = placeOfWindow[f], at = counts[f];                                          \
          run[k]++;                                                                                \
          offsets[(long)f * poolW + at] = patchOf[f];                                              \
          gradients[(long)f * poolW + at] = gp[o + f];                                             \
          counts[f] = at + (k < places);                                                           \
        }                                                                                          \
        int *start = runStart + ow * (POOLED_MAX_PLACES + 1), next[POOLED_MAX_PLACES + 1], k = 0;  \
        for (int c = 0; c <= places; c++) { start[c] = next[c] = k; k += run[c]; }                 \
        for (int f = 0; f < filters; f++) sorted[(long)ow * filters + next[placeOf[ow * filters + f]]++] = f; \
      }                                                                                            \
      if (summed) {                                                                                \
        for (int f = 0; f < filters; f++)                                                          \
          if (counts[f])                                                                           \
            pooled_patch_##SUFFIX(image, rowStride, offsets + (long)f * poolW, gradients + (long)f * poolW, 0, \
                                  counts[f], dwt + f * filterRows, row, kH, row);                  \
        for (int ow = 0; ow < poolW && dimage; ow++) {                                             \
          const int *start = runStart + ow * (POOLED_MAX_PLACES + 1);                              \
          const int *offset = placeOffset + ow * POOLED_MAX_PLACES;                                \
          for (int c = 0; c < places; c++)                                                         \
            if (start[c + 1] > start[c])                                                           \
              pooled_patch_##SUFFIX(wt, row, filterOffsets, gp + o0 + (long)ow * filters,          \
                                    sorted + (long)ow * filters + start[c], start[c + 1] - start[c], \
                                    dimage + offset[c], rowStride, kH, row);                       \
        }                                                                                          \
      }                                                                                            \
      /* The clipped patches, value by value, along their rows' parts inside the image. */        \
      for (int ow = 0; ow < poolW; ow++) {                                                         \
        if (!clipped[ow]) continue;                                                                \
        const int w0 = ow * psW - pPadLeft, wLo = w0 > 0 ? w0 : 0;                                 \
        const long o = o0 + (long)ow * filters;                                                    \
        for (int f = 0; f < filters; f++) {                                                        \
          if (summed && placeOf[ow * filters + f] < places) continue;                              \
          if (relu && !(p[o + f] > 0)) continue;                                                   \
          const float g = gp[o + f];                                                               \
          const int at = pos[o + f];                                                               \
          const int ih0 = (hLo + (at >> 16)) * sH - padTop, iw0 = (wLo + (at & 0xffff)) * sW - padLeft; \
          const int kwLo = iw0 < 0 ? -iw0 : 0, kwHi = iw0 + kW > inW ? inW - iw0 : kW;             \
          const long jLo = (long)kwLo * cin, width = (long)(kwHi - kwLo) * cin;                    \
          const int khLo = ih0 < 0 ? -ih0 : 0, khHi = ih0 + kH > inH ? inH - ih0 : kH;             \
          float *dwf = dwt + f * filterRows + jLo;                                                 \
          const float *wf = wt + f * filterRows + jLo;                                             \
          const long start = ((long)ih0 * inW + iw0) * cin + jLo;                                  \
          for (int kh = khLo; kh < khHi; kh++) {                                                   \
            const long at_row = start + (long)kh * rowStride;                                      \
            AXPY(dwf + kh * row, image + at_row, width, g);                                        \
            if (dimage) AXPY(dimage + at_row, wf + kh * row, width, g);                            \
          }                                                                                        \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
  }

#define CONV_POOLED_ARGS const float *x, const float *wt, const float *gp, const float *p, const int *pos, float *dwt, \
    float *db, float *dx, long first, long count, int inH, int inW, int cin, int filters, int kH, int kW, int sH, int sW, \
    int padTop, int padLeft, int poolH, int poolW, int pkH, int pkW, int psH, int psW, int pPadTop, int pPadLeft, \
    int relu, int *work

__attribute__((target("avx2,fma"))) static inline void axpy_avx2(float *d, const float *s, long n, float g) {
  const __m256 gv = _mm256_set1_ps(g);
  long j = 0;
  for (; j + 8 <= n; j += 8)
    _mm256_storeu_ps(d + j, _mm256_fmadd_ps(gv, _mm256_loadu_ps(s + j), _mm256_loadu_ps(d + j)));
  if (j < n) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - j)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(d + j, m, _mm256_fmadd_ps(gv, _mm256_maskload_ps(s + j, m), _mm256_maskload_ps(d + j, m)));
  }
}
#ifdef FB_EMULATE_WIDE
#define axpy_avx512 axpy_avx2 /* a 16-lane mask has no AVX2 form; per element the same fma */
#else
__attribute__((target(WIDE_TARGET))) static inline void axpy_avx512(float *d, const float *s, long n, float g) {
  const __m512 gv = _mm512_set1_ps(g);
  long j = 0;
  for (; j + 16 <= n; j += 16)
    _mm512_storeu_ps(d + j, _mm512_fmadd_ps(gv, _mm512_loadu_ps(s + j), _mm512_loadu_ps(d + j)));
  if (j < n) {
    const __mmask16 m = (__mmask16)((1u << (n - j)) - 1);
    _mm512_mask_storeu_ps(d + j, m, _mm512_fmadd_ps(gv, _mm512_maskz_loadu_ps(m, s + j), _mm512_maskz_loadu_ps(m, d + j)));
  }
}
#endif
static inline void axpy_plain(float *d, const float *s, long n, float g) {
  for (long j = 0; j < n; j++) d[j] = fmaf(g, s[j], d[j]);
}

__attribute__((target(WIDE_TARGET))) static void conv_pooled_backward_avx512(CONV_POOLED_ARGS) { CONV_POOLED_BACKWARD(avx512, axpy_avx512) }
__attribute__((target("avx2,fma"))) static void conv_pooled_backward_avx2(CONV_POOLED_ARGS) { CONV_POOLED_BACKWARD(avx2, axpy_avx2) }
static void conv_pooled_backward_sse(CONV_POOLED_ARGS) { CONV_POOLED_BACKWARD(sse, axpy_plain) }

void fb_conv_pooled_backward(CONV_POOLED_ARGS) {
  const int l = level();
  (l == 2 ? conv_pooled_backward_avx512 : l == 1 ? conv_pooled_backward_avx2 : conv_pooled_backward_sse)(
      x, wt, gp, p, pos, dwt, db, dx, first, count, inH, inW, cin, filters, kH, kW, sH, sW, padTop, padLeft, poolH, poolW,
      pkH, pkW, psH, psW, pPadTop, pPadLeft, relu, work);
}

/* A 3x3 convolution (stride 1, valid on an already padded image) followed by 2x2 max pooling
   of tiles, by Winograd's F(2x2, 3x3) (Lavin & Gray 2016): each pooling window's 2x2 outputs
   come from the 4x4 input tile around it, transformed (V = BᵀdB), multiplied element by
   element with the transformed kernel (U = GgGᵀ) and summed over input channels (16 products
   of [tiles x cin] by [cin x filters]), then transformed back (Y = AᵀMA): 16 multiply-adds per
   channel and filter for four outputs instead of 36. Bias, ReLU and the pooling follow in
   registers; the convolution's output is never written. Every element sees the same
   operations in the same order on every instruction set (fused multiply-adds, sums over
   channels in order), so all give the same bits. */

/* Bᵀ d B with Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]: d[4][4] → V[16], for F(2x2, 3x3)
   (Lavin & Gray) and, with the G and Aᵀ below, for F(3x3, 2x2). */
#define WINOGRAD3_INPUT(VEC, d, V)                                                                 \
  {                                                                                                \
    VEC t_[4][4];                                                                                  \
    for (int j = 0; j < 4; j++) {                                                                  \
      t_[0][j] = d[0][j] - d[2][j];                                                                \
      t_[1][j] = d[1][j] + d[2][j];                                                                \
      t_[2][j] = d[2][j] - d[1][j];                                                                \
      t_[3][j] = d[1][j] - d[3][j];                                                                \
    }                                                                                              \
    for (int i = 0; i < 4; i++) {                                                                  \
      V[i * 4 + 0] = t_[i][0] - t_[i][2];                                                          \
      V[i * 4 + 1] = t_[i][1] + t_[i][2];                                                          \
      V[i * 4 + 2] = t_[i][2] - t_[i][1];                                                          \
      V[i * 4 + 3] = t_[i][1] - t_[i][3];                                                          \
    }                                                                                              \
  }
/* Aᵀ M A for F(2x2, 3x3), Aᵀ = [1 1 1 0; 0 1 −1 −1]: q[16] → y[2][2]. */
#define WINOGRAD3_OUTPUT(VEC, q, y)                                                                \
  {                                                                                                \
    VEC s_[2][4];                                                                                  \
    for (int col = 0; col < 4; col++) {                                                            \
      s_[0][col] = q[col] + q[4 + col] + q[8 + col];                                               \
      s_[1][col] = q[4 + col] - q[8 + col] - q[12 + col];                                          \
    }                                                                                              \
    for (int i = 0; i < 2; i++) {                                                                  \
      y[i][0] = s_[i][0] + s_[i][1] + s_[i][2];                                                    \
      y[i][1] = s_[i][1] - s_[i][2] - s_[i][3];                                                    \
    }                                                                                              \
  }

/* G e Gᵀ for F(2x2, 3x3), G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]: e[3][3] → U[16] (the kernel's, and
   in the kernel gradient of a 2x2 kernel dy's 3x3 tile's). */
#define WINOGRAD3_FILTER(VEC, g, U)                                                                \
  {                                                                                                \
    VEC t_[4][3];                                                                                  \
    for (int j = 0; j < 3; j++) {                                                                  \
      t_[0][j] = g[0][j];                                                                          \
      t_[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);                                             \
      t_[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);                                             \
      t_[3][j] = g[2][j];                                                                          \
    }                                                                                              \
    for (int i = 0; i < 4; i++) {                                                                  \
      U[i * 4 + 0] = t_[i][0];                                                                     \
      U[i * 4 + 1] = 0.5f * (t_[i][0] + t_[i][1] + t_[i][2]);                                      \
      U[i * 4 + 2] = 0.5f * (t_[i][0] - t_[i][1] + t_[i][2]);                                      \
      U[i * 4 + 3] = t_[i][2];                                                                     \
    }                                                                                              \
  }

#define WINOGRAD_GROUP 32 /* filters per pass: 2 AVX-512, 4 AVX2 or 8 SSE vectors */

long fb_winograd_work_count(int cin, int poolW) {
  return 16L * poolW * cin + 16L * 16 * WINOGRAD_GROUP; /* V for a row of tiles; M for up to 16 tiles */
}

/* U[k][c][f] = (G g_{c,f} Gᵀ)[k] (WINOGRAD3_FILTER); w is [3][3][cin][filters]. */
void fb_winograd_kernel(const float *w, float *u, int cin, int filters) {
  const long cf = (long)cin * filters;
  for (long e = 0; e < cf; e++) {
    float g[3][3], t[16];
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) g[i][j] = w[(i * 3 + j) * cf + e];
    WINOGRAD3_FILTER(float, g, t)
    for (int k = 0; k < 16; k++) u[k * cf + e] = t[k];
  }
}

/* M[k][r][0..GROUP) = Σ_c V[k][tile + r][c] · U[k][c][f0 + 0..GROUP) for r < R, k < 16. */
#define WINOGRAD_PRODUCTS(VEC, LANES, R)                                                           \
  for (int k = 0; k < 16; k++) {                                                                   \
    VEC acc[R][WINOGRAD_GROUP / LANES];                                                            \
    for (int r = 0; r < R; r++)                                                                    \
      for (int j = 0; j < WINOGRAD_GROUP / LANES; j++) acc[r][j] = (VEC){0};                       \
    const float *vk = v + ((long)k * poolW + tile) * cin, *uk = u + (long)k * cin * filters + f0;  \
    for (int c = 0; c < cin; c++) {                                                                \
      for (int r = 0; r < R; r++) {                                                                \
        const VEC d = vk[(long)r * cin + c] - (VEC){0};                                            \
        for (int j = 0; j < WINOGRAD_GROUP / LANES; j++)                                           \
          acc[r][j] = __builtin_elementwise_fma(d, *(const VEC *)(uk + (long)c * filters + j * LANES), acc[r][j]); \
      }                                                                                            \
    }                                                                                              \
    for (int r = 0; r < R; r++)                                                                    \
      for (int j = 0; j < WINOGRAD_GROUP / LANES; j++)                                             \
        *(VEC *)(m + ((long)k * 16 + r) * WINOGRAD_GROUP + j * LANES) = acc[r][j];                 \
  }

#define WINOGRAD_POOLED(VEC, IVEC, LANES, R)                                                       \
  float *v = work, *m = work + 16L * poolW * cin;                                                  \
  const long pooledRow = (long)poolW * filters;                                                    \
  for (int th = 0; th < poolH; th++) {                                                             \
    /* V = Bᵀ d B for the row's tiles. */                                                          \
    for (int tw = 0; tw < poolW; tw++)                                                             \
      for (int c = 0; c < cin; c += LANES) {                                                       \
        VEC d[4][4], V[16];                                                                        \
        for (int i = 0; i < 4; i++)                                                                \
          for (int j = 0; j < 4; j++)                                                              \
            d[i][j] = *(const VEC *)(x + ((long)(2 * th + i) * width + 2 * tw + j) * cin + c);     \
        WINOGRAD3_INPUT(VEC, d, V)                                                                 \
        for (int k = 0; k < 16; k++) *(VEC *)(v + ((long)k * poolW + tw) * cin + c) = V[k];        \
      }                                                                                            \
    for (int f0 = 0; f0 < filters; f0 += WINOGRAD_GROUP)                                           \
      for (int tile = 0; tile < poolW;) {                                                          \
        const int block = poolW - tile >= R ? R : 1;                                               \
        if (block == R) { WINOGRAD_PRODUCTS(VEC, LANES, R) }                                       \
        else { WINOGRAD_PRODUCTS(VEC, LANES, 1) }                                                  \
        /* Y = Aᵀ M A; bias, ReLU, then the window's first maximum. */                             \
        for (int r = 0; r < block; r++)                                                            \
          for (int j = 0; j < WINOGRAD_GROUP; j += LANES) {                                        \
            VEC q[16], yy[2][2];                                                                   \
            for (int k = 0; k < 16; k++) q[k] = *(const VEC *)(m + ((long)k * 16 + r) * WINOGRAD_GROUP + j); \
            WINOGRAD3_OUTPUT(VEC, q, yy)                                                           \
            const VEC b = *(const VEC *)(bias + f0 + j);                                           \
            VEC y[4];                                                                              \
            for (int i = 0; i < 2; i++) {                                                          \
              y[2 * i] = yy[i][0] + b;                                                             \
              y[2 * i + 1] = yy[i][1] + b;                                                         \
            }                                                                                      \
            if (relu)                                                                              \
              for (int i = 0; i < 4; i++) y[i] = __builtin_elementwise_max(y[i], (VEC){0});        \
            VEC best;                                                                              \
            IVEC index;                                                                            \
            FIRST_MAXIMUM_OF_2X2(VEC, IVEC, y, best, index)                                        \
            const long o = th * pooledRow + (long)(tile + r) * filters + f0 + j;                   \
            *(VEC *)(pooled + o) = best;                                                           \
            *(IVEC *)(positions + o) = index;                                                      \
          }                                                                                        \
        tile += block;                                                                             \
      }                                                                                            \
  }

#define WINOGRAD_ARGS const float *x, const float *u, const float *bias, float *pooled, int *positions, int width, \
                      int cin, int filters, int poolH, int poolW, int relu, float *work
__attribute__((target(WIDE_TARGET))) static void winograd_avx512(WINOGRAD_ARGS) { WINOGRAD_POOLED(v16, i16v, 16, 9) }
__attribute__((target("avx2,fma"))) static void winograd_avx2(WINOGRAD_ARGS) { WINOGRAD_POOLED(v8, i8v, 8, 2) }
static void winograd_sse(WINOGRAD_ARGS) { WINOGRAD_POOLED(f4v, i4v, 4, 1) }

void fb_conv_winograd_pooled(WINOGRAD_ARGS) {
  const int l = level();
  (l == 2 ? winograd_avx512 : l == 1 ? winograd_avx2 : winograd_sse)(x, u, bias, pooled, positions, width, cin, filters,
                                                                     poolH, poolW, relu, work);
}

/* Winograd's F(2x2, 2x2) for a 2x2 convolution of stride 1 (model_4's): each 2x2 block of
   outputs from its 3x3 input tile, in 9 multiply-adds per channel and filter instead of 16.
   In one dimension, y0 = d0 g0 + d1 g1 and y1 = d1 g0 + d2 g1 come from three products,
   m0 = (d0 − d1) g0, m1 = d1 (g0 + g1), m2 = (d2 − d1) g1, as y0 = m0 + m1, y1 = m1 + m2:
   Bᵀ = [1 −1 0; 0 1 0; 0 −1 1], G = [1 0; 1 1; 0 1], Aᵀ = [1 1 0; 0 1 1]. The transforms only
   add, so the outputs differ from the direct sums by rounding alone. Every output is made by
   the same operations in the same order on every instruction set, so the bits agree. */

int fb_winograd2_supported(int cin, int filters) {
  return level() > 0 && cin % 16 == 0 && filters % 64 == 0;
}

/* Rows of tiles are taken together, at least 36 tiles, so that the blocks of 6 tiles mostly
   come whole (model_4: 3 rows of 14 = 7 blocks); a block of 3 has half the accumulators and
   runs at about half the speed. */
static int winograd2_rows_together(int tiles) { return tiles >= 36 ? 1 : (36 + tiles - 1) / tiles; }

/* 2 (F(2x2, 2x2)) or 3 (F(3x3, 2x2), below): whichever takes fewer multiply-adds for outH x
   outW outputs, (tile + 1)² per tile, the partial tiles at the edges counted whole. */
int fb_winograd2_tile(int outH, int outW) {
  const long two = 9L * ((outH + 1) / 2) * ((outW + 1) / 2), three = 16L * ((outH + 2) / 3) * ((outW + 2) / 3);
  return three < two ? 3 : 2;
}

/* The tiles transformed together: whole rows of tiles of an output outW wide, at least 36. */
static long winograd_span(int tile, int outW) {
  const long tiles = (outW + tile - 1) / tile;
  return winograd2_rows_together((int)tiles) * tiles;
}

/* WINOGRAD_TILES' work (below) for tiles of `tile` x `tile` outputs and `products` products: V,
   M and the nonzero bits for the rows of tiles taken together. */
static long winograd_tiles_work_count(int products, int tile, int cin, int filters, int outW) {
  const long span = winograd_span(tile, outW);
  return products * span * (cin + filters) + span;
}

long fb_winograd2_work_count(int cin, int filters, int outW, int tile) {
  return winograd_tiles_work_count((tile + 1) * (tile + 1), tile, cin, filters, outW);
}

/* G g Gᵀ for F(2x2, 2x2), G = [1 0; 1 1; 0 1]: g[2][2] → U[9]. The kernel's transform, and in
   the kernel gradient dy's 2x2 tile's. */
#define WINOGRAD2_FILTER(TYPE, g, U)                                                               \
  {                                                                                                \
    const TYPE t_[3][2] = {{g[0][0], g[0][1]}, {g[0][0] + g[1][0], g[0][1] + g[1][1]}, {g[1][0], g[1][1]}}; \
    for (int i = 0; i < 3; i++) {                                                                  \
      U[i * 3 + 0] = t_[i][0];                                                                     \
      U[i * 3 + 1] = t_[i][0] + t_[i][1];                                                          \
      U[i * 3 + 2] = t_[i][1];                                                                     \
    }                                                                                              \
  }

/* Winograd's F(3x3, 2x2) for 2x2 kernels: 3x3 outputs from each 4x4 input tile in 16
   multiply-adds per channel and filter (1.8 per output instead of F(2x2, 2x2)'s 2.25; model_4's
   27x27 outputs are 9x9 such tiles, without F(2x2, 2x2)'s 14x14 tiles' overhang). In one
   dimension, with Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1] (WINOGRAD3_INPUT, above),
   m0 = (d0 − d2) g0, m1 = (d1 + d2) (g0 + g1)/2, m2 = (d2 − d1) (g0 − g1)/2 and
   m3 = (d1 − d3) (−g1) give y0 = d0 g0 + d1 g1 = m0 + m1 + m2, y1 = m1 − m2 and
   y2 = m1 + m2 + m3: G = [1 0; ½ ½; ½ −½; 0 −1], Aᵀ = [1 1 1 0; 0 1 −1 0; 0 1 1 1]. Halving
   is exact, so again the outputs differ from the direct sums by rounding alone. */

/* G g Gᵀ: g[2][2] → U[16]. */
#define WINOGRAD2_TILE3_FILTER(TYPE, g, U)                                                         \
  {                                                                                                \
    TYPE t_[4][2];                                                                                 \
    for (int j = 0; j < 2; j++) {                                                                  \
      t_[0][j] = g[0][j];                                                                          \
      t_[1][j] = 0.5f * (g[0][j] + g[1][j]);                                                       \
      t_[2][j] = 0.5f * (g[0][j] - g[1][j]);                                                       \
      t_[3][j] = -g[1][j];                                                                         \
    }                                                                                              \
    for (int i = 0; i < 4; i++) {                                                                  \
      U[i * 4 + 0] = t_[i][0];                                                                     \
      U[i * 4 + 1] = 0.5f * (t_[i][0] + t_[i][1]);                                                 \
      U[i * 4 + 2] = 0.5f * (t_[i][0] - t_[i][1]);                                                 \
      U[i * 4 + 3] = -t_[i][1];                                                                    \
    }                                                                                              \
  }

/* U[k][c][f] = (G g Gᵀ)[k] from w [2][2][cin][filters]: k < 9 for tile 2, k < 16 for tile 3
   (F(3x3, 2x2)'s G, below). */
void fb_winograd2_kernel(const float *w, float *u, int cin, int filters, int tile) {
  const long cf = (long)cin * filters;
  for (long e = 0; e < cf; e++) {
    const float g[2][2] = {{w[e], w[cf + e]}, {w[2 * cf + e], w[3 * cf + e]}};
    float t[16];
    if (tile == 3) {
      WINOGRAD2_TILE3_FILTER(float, g, t)
      for (int k = 0; k < 16; k++) u[k * cf + e] = t[k];
    } else {
      WINOGRAD2_FILTER(float, g, t)
      for (int k = 0; k < 9; k++) u[k * cf + e] = t[k];
    }
  }
}

/* out[r][0..NV·LANES) (rows `filters` apart) = start + Σ_i a[r·blockStep + i·step] · b[i][…)
   (rows `filters` apart) for i < length and RR rows, held in registers: start is 0, or with
   ACCUMULATE out's own values. One fused multiply-add per product, in order of i. */
#define BROADCAST_PRODUCTS(VEC, LANES, NV, RR, a, blockStep, step, length, b, out, ACCUMULATE)     \
  {                                                                                                \
    VEC acc[RR][NV];                                                                               \
    for (int r = 0; r < RR; r++)                                                                   \
      for (int j = 0; j < NV; j++)                                                                 \
        acc[r][j] = ACCUMULATE ? *(const VEC *)((out) + (long)r * filters + j * LANES) : (VEC){0};  \
    for (long i = 0; i < (length); i++) {                                                          \
      VEC bv[NV];                                                                                  \
      for (int j = 0; j < NV; j++) bv[j] = *(const VEC *)((b) + i * filters + j * LANES);          \
      for (int r = 0; r < RR; r++) {                                                               \
        const VEC s = (a)[(long)r * (blockStep) + i * (step)] - (VEC){0};                          \
        for (int j = 0; j < NV; j++) acc[r][j] = __builtin_elementwise_fma(s, bv[j], acc[r][j]);   \
      }                                                                                            \
    }                                                                                              \
    for (int r = 0; r < RR; r++)                                                                   \
      for (int j = 0; j < NV; j++) *(VEC *)((out) + (long)r * filters + j * LANES) = acc[r][j];    \
  }

/* M[k][t0 + r][f0 + 0..NV·LANES) = Σ_c V[k][t0 + r][c] · U[k][c][f0 + …) for RR tiles. */
#define WINOGRAD2_PRODUCTS(VEC, LANES, NV, RR, t0)                                                 \
  BROADCAST_PRODUCTS(VEC, LANES, NV, RR, vk + (long)(t0) * cin, cin, 1, cin, uk + f0, mk + (long)(t0) * filters + f0, 0)

/* Bᵀ d B for F(2x2, 2x2): d[3][3] → V[9]. */
#define WINOGRAD2_INPUT(VEC, d, V)                                                                 \
  {                                                                                                \
    VEC t_[3][3];                                                                                  \
    for (int j = 0; j < 3; j++) {                                                                  \
      t_[0][j] = d[0][j] - d[1][j];                                                                \
      t_[1][j] = d[1][j];                                                                          \
      t_[2][j] = d[2][j] - d[1][j];                                                                \
    }                                                                                              \
    for (int i = 0; i < 3; i++) {                                                                  \
      V[i * 3 + 0] = t_[i][0] - t_[i][1];                                                          \
      V[i * 3 + 1] = t_[i][1];                                                                     \
      V[i * 3 + 2] = t_[i][2] - t_[i][1];                                                          \
    }                                                                                              \
  }

/* Aᵀ M A for F(2x2, 2x2): q[9] → the 2x2 outputs y (before the bias). */
#define WINOGRAD2_OUTPUT(VEC, q, y)                                                                \
  {                                                                                                \
    VEC s_[2][3];                                                                                  \
    for (int j = 0; j < 3; j++) {                                                                  \
      s_[0][j] = q[j] + q[3 + j];                                                                  \
      s_[1][j] = q[3 + j] + q[6 + j];                                                              \
    }                                                                                              \
    for (int i = 0; i < 2; i++)                                                                    \
      for (int j = 0; j < 2; j++) y[i][j] = s_[i][j] + s_[i][j + 1];                               \
  }

/* Aᵀ M A for F(3x3, 2x2): q[16] → y[3][3]. */
#define WINOGRAD2_TILE3_OUTPUT(VEC, q, y)                                                          \
  {                                                                                                \
    VEC s_[3][4];                                                                                  \
    for (int col = 0; col < 4; col++) {                                                            \
      const VEC middle = q[4 + col] + q[8 + col];                                                  \
      s_[0][col] = q[col] + middle;                                                                \
      s_[1][col] = q[4 + col] - q[8 + col];                                                        \
      s_[2][col] = middle + q[12 + col];                                                           \
    }                                                                                              \
    for (int i = 0; i < 3; i++) {                                                                  \
      const VEC middle = s_[i][1] + s_[i][2];                                                      \
      y[i][0] = s_[i][0] + middle;                                                                 \
      y[i][1] = s_[i][1] - s_[i][2];                                                               \
      y[i][2] = middle + s_[i][3];                                                                 \
    }                                                                                              \
  }

/* A valid convolution of stride 1 of x (inH x inW x cin) into y (outH x outW x filters) by
   Winograd's F(S x S, T−S+1 x T−S+1), bias and ReLU applied, a few rows of tiles at a time:
   V = INPUT (T x T input tiles S apart; input past the image's last row or column reads as 0)
   for their tiles, the T·T products over the channels in blocks of R tiles (then R/2, the last
   of which may overlap), and Y = OUTPUT (S x S outputs; those past the last row or column are
   dropped).
   An output whose window (K x K input pixels, K = T − S + 1) is zero in every channel is the
   bias exactly, as the direct sum makes it: the transforms of F(2x2, 2x2) keep such an output
   exactly 0, but those of F(3x3, 2x2) and F(2x2, 3x3) leave the rounding of their tile's
   other inputs, ±1e-8 or so, and ReLU lets +1e-8 through where Keras' zero stops the gradient
   (model_4 at its first step, biases 0 over Fashion-MNIST's black background: its convolution
   biases' first update was 10-20% off Keras'). Each tile's pixels that are nonzero in some
   channel are kept as bits (`nonzero`, after M in `work`). */
#define WINOGRAD_TILES(VEC, LANES, NV, R, T, S, INPUT, OUTPUT)                                     \
  const int tiles = (outW + (S) - 1) / (S), tileRows = (outH + (S) - 1) / (S);                     \
  const int together = winograd2_rows_together(tiles);                                            \
  float *v = work, *m = work + (long)(T) * (T) * together * tiles * cin;                           \
  unsigned *nonzero = (unsigned *)(m + (long)(T) * (T) * together * tiles * filters);              \
  for (long n = first; n < first + count; n++) {                                                   \
    const float *image = x + n * (long)inH * inW * cin;                                            \
    float *out = y + n * (long)outH * outW * filters;                                              \
    for (int th0 = 0; th0 < tileRows; th0 += together) {                                           \
      const int rows = tileRows - th0 < together ? tileRows - th0 : together, span = rows * tiles;  \
      for (int g = 0; g < span; g++)                                                               \
        for (int c = 0; c < cin; c += LANES) {                                                     \
          const int th = th0 + g / tiles, tw = g % tiles;                                          \
          VEC d[T][T], V[(T) * (T)];                                                               \
          for (int i = 0; i < (T); i++)                                                            \
            for (int j = 0; j < (T); j++) {                                                        \
              const int ih = (S) * th + i, iw = (S) * tw + j;                                      \
              d[i][j] = ih < inH && iw < inW ? *(const VEC *)(image + ((long)ih * inW + iw) * cin + c) : (VEC){0}; \
            }                                                                                      \
          unsigned bits = c == 0 ? 0 : nonzero[g];                                                 \
          for (int i = 0; i < (T); i++)                                                            \
            for (int j = 0; j < (T); j++)                                                          \
              bits |= (unsigned)(__builtin_reduce_or(d[i][j] != (VEC){0}) != 0) << (i * (T) + j);  \
          nonzero[g] = bits;                                                                       \
          INPUT(VEC, d, V)                                                                         \
          for (int k = 0; k < (T) * (T); k++) *(VEC *)(v + ((long)k * span + g) * cin + c) = V[k];  \
        }                                                                                          \
      /* Per product and group of filters, all the tiles: that group's U (cin x NV vectors)    \
         stays in L1 while the blocks of tiles go by. */                                           \
      for (int k = 0; k < (T) * (T); k++)                                                          \
      for (int f0 = 0; f0 < filters; f0 += NV * LANES) {                                           \
        const float *vk = v + (long)k * span * cin, *uk = u + (long)k * cin * filters;             \
        float *mk = m + (long)k * span * filters;                                                  \
        FOR_BLOCKS(R, span, WINOGRAD2_PRODUCTS, VEC, LANES, NV)                                    \
      }                                                                                            \
      for (int g = 0; g < span; g++) {                                                             \
        const int th = th0 + g / tiles, tw = g % tiles;                                            \
        int live[S][S];                                                                            \
        for (int i = 0; i < (S); i++)                                                              \
          for (int j = 0; j < (S); j++) {                                                          \
            unsigned window = 0;                                                                   \
            for (int a = 0; a < (T) - (S) + 1; a++)                                                \
              for (int b = 0; b < (T) - (S) + 1; b++) window |= 1u << ((i + a) * (T) + j + b);     \
            live[i][j] = (nonzero[g] & window) != 0;                                               \
          }                                                                                        \
        for (int f = 0; f < filters; f += LANES) {                                                 \
          VEC q[(T) * (T)], yy[S][S];                                                              \
          for (int k = 0; k < (T) * (T); k++) q[k] = *(const VEC *)(m + ((long)k * span + g) * filters + f); \
          OUTPUT(VEC, q, yy)                                                                       \
          const VEC b = *(const VEC *)(bias + f);                                                  \
          for (int i = 0; i < (S) && (S) * th + i < outH; i++)                                     \
            for (int j = 0; j < (S) && (S) * tw + j < outW; j++) {                                 \
              VEC o = live[i][j] ? yy[i][j] + b : b;                                               \
              if (relu) o = __builtin_elementwise_max(o, (VEC){0});                                \
              *(VEC *)(out + ((long)((S) * th + i) * outW + (S) * tw + j) * filters + f) = o;      \
            }                                                                                      \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
  }
#define WINOGRAD2(VEC, LANES, NV, R) WINOGRAD_TILES(VEC, LANES, NV, R, 3, 2, WINOGRAD2_INPUT, WINOGRAD2_OUTPUT)

#define WINOGRAD2_ARGS const float *x, const float *u, const float *bias, float *y, long first, long count, int inH, \
                       int inW, int cin, int outH, int outW, int filters, int relu, float *work
#define WINOGRAD2_TILE3(VEC, LANES, NV, R) WINOGRAD_TILES(VEC, LANES, NV, R, 4, 3, WINOGRAD3_INPUT, WINOGRAD2_TILE3_OUTPUT)
__attribute__((target(WIDE_TARGET))) static void winograd2_avx512(WINOGRAD2_ARGS) { WINOGRAD2(v16, 16, 4, 6) }
__attribute__((target("avx2,fma"))) static void winograd2_avx2(WINOGRAD2_ARGS) { WINOGRAD2(v8, 8, 2, 6) }
__attribute__((target(WIDE_TARGET))) static void winograd2_tile3_avx512(WINOGRAD2_ARGS) { WINOGRAD2_TILE3(v16, 16, 4, 6) }
__attribute__((target("avx2,fma"))) static void winograd2_tile3_avx2(WINOGRAD2_ARGS) { WINOGRAD2_TILE3(v8, 8, 2, 6) }

int fb_conv_winograd2(WINOGRAD2_ARGS, int tile) {
  if (!fb_winograd2_supported(cin, filters) || (tile != 2 && tile != 3)) return 0;
  const int wide = level() == 2;
  (tile == 3 ? (wide ? winograd2_tile3_avx512 : winograd2_tile3_avx2) : (wide ? winograd2_avx512 : winograd2_avx2))(
      x, u, bias, y, first, count, inH, inW, cin, outH, outW, filters, relu, work);
  return 1;
}

/* The kernel gradient by the same F(2x2, 2x2). dw[a][b] = Σ over dy's 2x2 tiles of
   Σ_ij x[2th + i + a][2tw + j + b] · dy[2th + i][2tw + j] has the forward's form with dy's tile
   as the "kernel" and dw as the 2x2 "output": per tile, V = Bᵀ d B from x's 3x3 tile (as in the
   forward) and U = G e Gᵀ from dy's tile e (dy past its last row or column reads as 0), and
   M[k] = Σ_tiles V[k]ᵀ U[k] (cin x filters, accumulated over all the chunk's tiles), then once
   at the end dw += Aᵀ M A. 9 multiply-adds per tile, channel and filter instead of 16. */

/* M[k][c0 + 0..RC)[f0 + …) += Σ_tiles V[k][tile][c] · U[k][tile][f]; RC channels x NV vectors of
   filters in registers while the span's tiles go by. Exact blocks: M is accumulated in memory,
   so a block computed twice would count twice. */
#define WINOGRAD2_GRADIENT_PRODUCTS(VEC, LANES, NV, RC, c0)                                        \
  BROADCAST_PRODUCTS(VEC, LANES, NV, RC, vk + (c0), 1, cin, span, uk + f0, mk + (long)(c0) * filters + f0, 1)

/* Rows of dy's tiles go together as in the forward (at least 36 tiles): M's blocks are loaded
   and stored once per 36 or more tiles' multiply-adds, and a span's V and U for one product
   (36 tiles x 128 channels, x 128 filters: 36 KB) stay near L1. cin is a multiple of 16, so
   what blocks of 6 channels leave is 0, 2 or 4. */
#define WINOGRAD2_GRADIENT(VEC, LANES, NV, T, S, INPUT, FILTER, OUTPUT)                            \
  const int tiles = (outW + (S) - 1) / (S), tileRows = (outH + (S) - 1) / (S);                     \
  const int together = winograd2_rows_together(tiles);                                             \
  float *m = work, *v = m + (long)(T) * (T) * cin * filters, *u = v + (long)(T) * (T) * together * tiles * cin; \
  memset(m, 0, sizeof(float) * (T) * (T) * cin * filters);                                         \
  for (long n = first; n < first + count; n++) {                                                   \
    const float *image = x + n * (long)inH * inW * cin, *grad = dy + n * (long)outH * outW * filters; \
    for (int th0 = 0; th0 < tileRows; th0 += together) {                                           \
      const int rows = tileRows - th0 < together ? tileRows - th0 : together, span = rows * tiles;  \
      for (int g = 0; g < span; g++) {                                                             \
        const int th = th0 + g / tiles, tw = g % tiles;                                            \
        for (int c = 0; c < cin; c += LANES) {                                                     \
          VEC d[T][T], V[(T) * (T)];                                                               \
          for (int i = 0; i < (T); i++)                                                            \
            for (int j = 0; j < (T); j++) {                                                        \
              const int ih = (S) * th + i, iw = (S) * tw + j;                                      \
              d[i][j] = ih < inH && iw < inW ? *(const VEC *)(image + ((long)ih * inW + iw) * cin + c) : (VEC){0}; \
            }                                                                                      \
          INPUT(VEC, d, V)                                                                         \
          for (int k = 0; k < (T) * (T); k++) *(VEC *)(v + ((long)k * span + g) * cin + c) = V[k];  \
        }                                                                                          \
        for (int f = 0; f < filters; f += LANES) {                                                 \
          VEC e[S][S], U[(T) * (T)];                                                               \
          for (int i = 0; i < (S); i++)                                                            \
            for (int j = 0; j < (S); j++) {                                                        \
              const int oh = (S) * th + i, ow = (S) * tw + j;                                      \
              e[i][j] = oh < outH && ow < outW ? *(const VEC *)(grad + ((long)oh * outW + ow) * filters + f) : (VEC){0}; \
            }                                                                                      \
          FILTER(VEC, e, U)                                                                        \
          for (int k = 0; k < (T) * (T); k++) *(VEC *)(u + ((long)k * span + g) * filters + f) = U[k]; \
        }                                                                                          \
      }                                                                                            \
      /* Per product and group of filters: that group's U (span x NV vectors) stays in L1     \
         while the blocks of channels go by. */                                                    \
      for (int k = 0; k < (T) * (T); k++)                                                          \
      for (int f0 = 0; f0 < filters; f0 += NV * LANES) {                                           \
        const float *vk = v + (long)k * span * cin, *uk = u + (long)k * span * filters;            \
        float *mk = m + (long)k * cin * filters;                                                   \
        int c0 = 0;                                                                                \
        for (; c0 + 6 <= cin; c0 += 6) WINOGRAD2_GRADIENT_PRODUCTS(VEC, LANES, NV, 6, c0)         \
        if (cin - c0 == 4) WINOGRAD2_GRADIENT_PRODUCTS(VEC, LANES, NV, 4, c0)                     \
        else if (cin - c0 == 2) WINOGRAD2_GRADIENT_PRODUCTS(VEC, LANES, NV, 2, c0)                \
      }                                                                                            \
    }                                                                                              \
  }                                                                                                \
  const long cf = (long)cin * filters;                                                             \
  for (long e = 0; e < cf; e += LANES) {                                                           \
    VEC q[(T) * (T)], y[2][2];                                                                     \
    for (int k = 0; k < (T) * (T); k++) q[k] = *(const VEC *)(m + k * cf + e);                     \
    OUTPUT(VEC, q, y)                                                                              \
    for (int a = 0; a < 2; a++)                                                                    \
      for (int b = 0; b < 2; b++) {                                                                \
        VEC *out = (VEC *)(dw + (a * 2 + b) * cf + e);                                             \
        *out = *out + y[a][b];                                                                     \
      }                                                                                            \
  }

/* Tile 3: dy's 3x3 tiles and x's 4x4 tiles (3 apart): dw[a][b] = Σ_ij x[i + a][j + b] · e[i][j]
   over a tile is F(2x2, 3x3) with e as the kernel, V = Bᵀ x B, U = G e Gᵀ and dw += Aᵀ M A
   (WINOGRAD3_*): 16 multiply-adds per 9 of dy's values instead of 9 per 4. */
long fb_winograd2_gradient_work_count(int cin, int filters, int outW, int tile) {
  const long products = (tile + 1) * (tile + 1);
  return products * cin * filters + products * winograd_span(tile, outW) * (cin + filters);
}

#define WINOGRAD2_GRADIENT_ARGS const float *x, const float *dy, float *dw, long first, long count, int inH, int inW, \
                                int cin, int outH, int outW, int filters, float *work
__attribute__((target(WIDE_TARGET))) static void winograd2_gradient_avx512(WINOGRAD2_GRADIENT_ARGS) {
  WINOGRAD2_GRADIENT(v16, 16, 4, 3, 2, WINOGRAD2_INPUT, WINOGRAD2_FILTER, WINOGRAD2_OUTPUT)
}
__attribute__((target("avx2,fma"))) static void winograd2_gradient_avx2(WINOGRAD2_GRADIENT_ARGS) {
  WINOGRAD2_GRADIENT(v8, 8, 2, 3, 2, WINOGRAD2_INPUT, WINOGRAD2_FILTER, WINOGRAD2_OUTPUT)
}
__attribute__((target(WIDE_TARGET))) static void winograd2_tile3_gradient_avx512(WINOGRAD2_GRADIENT_ARGS) {
  WINOGRAD2_GRADIENT(v16, 16, 4, 4, 3, WINOGRAD3_INPUT, WINOGRAD3_FILTER, WINOGRAD3_OUTPUT)
}
__attribute__((target("avx2,fma"))) static void winograd2_tile3_gradient_avx2(WINOGRAD2_GRADIENT_ARGS) {
  WINOGRAD2_GRADIENT(v8, 8, 2, 4, 3, WINOGRAD3_INPUT, WINOGRAD3_FILTER, WINOGRAD3_OUTPUT)
}

int fb_conv_winograd2_weight_gradient(WINOGRAD2_GRADIENT_ARGS, int tile) {
  if (!fb_winograd2_supported(cin, filters) || (tile != 2 && tile != 3)) return 0;
  const int wide = level() == 2;
  (tile == 3 ? (wide ? winograd2_tile3_gradient_avx512 : winograd2_tile3_gradient_avx2)
             : (wide ? winograd2_gradient_avx512 : winograd2_gradient_avx2))(x, dy, dw, first, count, inH, inW, cin, outH,
                                                                              outW, filters, work);
  return 1;
}

/* Winograd's F(2x2, 3x3) for a 3x3 convolution of stride 1 with no pooling after it (the
   autoencoder's transposed convolutions are such convolutions of their bordered inputs, in
   the forward and in the input gradient): WINOGRAD_TILES with 4x4 input tiles, 16 products and
   the transforms of the pooled form above (U from fb_winograd_kernel). 16 multiply-adds per
   2x2 outputs, channel and filter instead of 36. */
#define WINOGRAD3(VEC, LANES, NV, R) WINOGRAD_TILES(VEC, LANES, NV, R, 4, 2, WINOGRAD3_INPUT, WINOGRAD3_OUTPUT)

long fb_winograd3_work_count(int cin, int filters, int outW) {
  return winograd_tiles_work_count(16, 2, cin, filters, outW);
}

#define WINOGRAD3_ARGS WINOGRAD2_ARGS
__attribute__((target(WIDE_TARGET))) static void winograd3_avx512(WINOGRAD3_ARGS) { WINOGRAD3(v16, 16, 4, 6) }
__attribute__((target("avx2,fma"))) static void winograd3_avx2(WINOGRAD3_ARGS) { WINOGRAD3(v8, 8, 2, 6) }

int fb_conv_winograd3(WINOGRAD3_ARGS) {
  if (!fb_winograd2_supported(cin, filters)) return 0;
  (level() == 2 ? winograd3_avx512 : winograd3_avx2)(x, u, bias, y, first, count, inH, inW, cin, outH, outW, filters, relu, work);
  return 1;
}
