#ifndef FASHIONBENCH_CKERNELS_H
#define FASHIONBENCH_CKERNELS_H

/* Direct convolution for a first layer's few input channels (valid padding), fused with the
   bias and ReLU: y[n, oh, ow, :] = act(bias + sum over (kh, kw, c) of
   x[n, oh*sH + kh, ow*sW + kw, c] * w[kh, kw, c, :]), NHWC, kernel (kh, kw, cin, filters).
   Samples [first, first + count) of the batch. Returns 1 when done, 0 when this CPU or shape
   is not covered (see fb_conv_direct_supported): the caller then uses im2col + GEMM. */
int fb_conv_direct_forward(const float *x, const float *w, const float *bias, float *y,
                           long first, long count, int inH, int inW, int cin, int outH, int outW,
                           int filters, int kH, int kW, int sH, int sW, int relu);

/* The kernel gradient of that convolution over samples [first, first + count), added into
   dw (kh, kw, cin, filters): dw += sum over pixels of patch(x) outer dy, where dy is dLoss/dy
   after the activation's derivative. Same coverage and return value as the forward. */
int fb_conv_direct_weight_gradient(const float *x, const float *dy, float *dw,
                                   long first, long count, int inH, int inW, int cin, int outH, int outW,
                                   int filters, int kH, int kW, int sH, int sW);

/* fb_conv_direct_weight_gradient (32, 64 or 128 filters) for a convolution whose output a
   max pooling of tiles (pkH x pkW windows as many apart, valid) reduced to poolH x poolW: dy
   is the pooling's backward, rebuilt one output row at a time in `row` (outW x filters floats,
   the caller's) from its gradient gp, output p (with relu, only where p > 0) and maxima's
   window positions pos (fb_maxpool_forward with `positions`). Returns 0 for other shapes. */
int fb_conv_direct_weight_gradient_pooled(const float *x, const float *gp, const float *p, const int *pos, float *row,
                                          float *dw, long first, long count, int inH, int inW, int cin, int outH, int outW,
                                          int kH, int kW, int sH, int sW, int poolH, int poolW, int pkH, int pkW, int relu,
                                          int filters);

/* Whether fb_conv_direct_forward covers `filters` output channels of a kernel kW wide over
   cin input channels on this CPU (AVX2 or AVX-512): 32, 64 or 128 filters, or 1 to 4 filters
   when kW*cin is a multiple of 32. */
int fb_conv_direct_supported(int filters, int kW, int cin);

/* Caps the instruction set the kernels use: 2 AVX-512, 1 AVX2, 0 none (the convolutions
   then leave the work to the caller's GEMM path; pooling and the row sums use SSE); never
   above what this CPU has. Returns the level now in force. For tests, which run
   the AVX2 code on AVX-512 machines too. */
int fb_kernels_cap_level(int level);
/* The level in force now (the CPU's best, under the cap). */
int fb_kernels_level(void);

/* One RMSprop step (Keras 3, not centered, no momentum) on n parameters:
   v = rho*v + (1-rho)*g*g ; w = w - lr*g / sqrt(v + eps). w, v and g must not overlap. */
void fb_rmsprop_update(float *w, float *v, const float *g, long n, float lr, float rho, float oneMinusRho, float eps);

/* One Adam step (Keras 3) on n parameters, alpha = lr*sqrt(1-beta2^t)/(1-beta1^t) given:
   m = m + (g-m)*(1-beta1) ; v = v + (g*g-v)*(1-beta2) ; w = w - m*alpha / (sqrt(v) + eps).
   w, m, v and g must not overlap. */
void fb_adam_update(float *w, float *m, float *v, const float *g, long n, float alpha, float oneMinusBeta1,
                    float oneMinusBeta2, float eps);

/* ReLU's backward fused with the bias gradient, rows [0, rows) of width values:
   dy = y > 0 ? dy : 0, in place; partial[j] += dy[r, j] row after row (the order of the plain
   loop). y, dy and partial must not overlap. */
void fb_relu_backward_bias(const float *y, float *dy, long rows, long width, float *partial);

/* LeakyReLU over n values: y = x > 0 ? x : x*a; backward dy = y > 0 ? dy : dy*a, in place. */
void fb_leaky_relu_forward(const float *x, float *y, long n, float a);
void fb_leaky_relu_backward(const float *y, float *dy, long n, float a);

/* The bias gradient of a layer whose gradient arrives already masked: partial[j] +=
   dy[r, j] for rows [0, rows), row after row. dy and partial must not overlap. */
void fb_add_rows(const float *dy, long rows, long width, float *partial);

/* Max pooling, NHWC, samples [first, first + count): y[n, oh, ow, c] = the maximum of the
   window rows [oh*sH - padTop, + kH) x columns [ow*sW - padLeft, + kW), clipped to the image;
   arg = the index within the sample's image of the first maximum in window order (rows, then
   columns), as TensorFlow; with `positions`, instead that maximum's row << 16 | column within
   the clipped window (what fb_conv_pooled_backward reads). */
void fb_maxpool_forward(const float *x, float *y, int *arg, long first, long count, int inH, int inW, int c,
                        int outH, int outW, int kH, int kW, int sH, int sW, int padTop, int padLeft, int positions);

/* Its backward for windows that tile the input (valid padding, strides = pool size): each
   window's argmax cell gets dy, every other cell 0, including the cells no window covers.
   With maskPositive, a window whose maximum y is not > 0 sends 0 (ReLU's derivative). */
void fb_maxpool_backward_tiles(const float *dy, const float *y, const int *arg, float *dx, long first, long count,
                               int inH, int inW, int c, int outH, int outW, int kH, int kW, int maskPositive);

/* The backward of a convolution (relu or linear; kernel w [kH, kW, cin, filters], input x
   [inH, inW, cin], strides sH, sW, padding padTop, padLeft) whose output a max pooling (pooled
   size poolH x poolW, windows pkH x pkW, psH, psW apart from -pPadTop, -pPadLeft) reduced,
   straight from the pooling's gradient gp, output p and window positions pos
   (fb_maxpool_forward with `positions`), samples [first, first + count). A pooled value's
   gradient reaches only its window's maximum, which is this layer's output there, so each
   gradient is a sum over pooled values rather than over every output pixel, and the dense
   gradient is never written. With relu, values whose maximum p is not > 0 send nothing
   (ReLU's derivative). Adds into dwt [filters, kH, kW, cin] (the kernel gradient, transposed)
   and db [filters]; when dx is not null, writes dx [inH, inW, cin] (whole samples), which
   needs wt, the kernel transposed the same way. `work` holds
   fb_conv_pooled_work_count(filters, poolW) ints, the caller's own for each concurrent call.
   Deterministic for given chunks, and the same bits on every instruction set. */
long fb_conv_pooled_work_count(int filters, int poolW);
void fb_conv_pooled_backward(const float *x, const float *wt, const float *gp, const float *p, const int *pos,
                             float *dwt, float *db, float *dx, long first, long count,
                             int inH, int inW, int cin, int filters, int kH, int kW, int sH, int sW, int padTop, int padLeft,
                             int poolH, int poolW, int pkH, int pkW, int psH, int psW, int pPadTop, int pPadLeft, int relu,
                             int *work);

/* Batch normalization, rows [0, rows) of c channels, row after row, the operations of the
   Swift loops they replace in their order (no fused multiply-adds), vectorised over channels.
   x is first mapped by a LeakyReLU the normalization absorbs: x' = x > 0 ? x : x*slope
   (slope 1 when there is none: x' is then x).
   fb_bn_sums: s[j] += x', q[j] += x'*x', in double.
   fb_bn_gradient_sums: s[j] += dy, q[j] += dy * (double)((x' - mean[j]) * inverseStd[j]).
   fb_bn_apply: y = x'*k[j] + b[j].
   fb_bn_input_gradient: d = a[j]*(g - m[j] - (x' - mean[j])*h[j]); g = x' > 0 ? d : d*slope, in place.
   No array may overlap another. */
void fb_bn_sums(const float *x, long rows, long c, double *s, double *q, float slope);
void fb_bn_gradient_sums(const float *dy, const float *x, const float *mean, const float *inverseStd, long rows, long c,
                         double *s, double *q, float slope);
void fb_bn_apply(const float *x, float *y, long rows, long c, const float *k, const float *b, float slope);
void fb_bn_input_gradient(float *g, const float *x, long rows, long c, const float *a, const float *m, const float *mean,
                          const float *h, float slope);

/* Data-parallel gradient reduction over [first, first + count): out = out*weights[0], then for
   each other replica r in order out = out + weights[r]*others[r-1] (float32, no fused
   multiply-adds), block by block in L1 instead of one pass per replica over memory. No array
   may overlap another. */
void fb_weighted_sum(float *out, const float *const *others, const float *weights, int replicas, long first, long count);

/* Dense layers with 16 units over K inputs (narrow) or 16 inputs to J units (wide); row-major
   x (rows x K), w (K x 16) or (16 x J). Each works on a range of the long side, so threads can
   split it.
   fb_narrow_forward: y[m][:] += sum over k in [k0, k1) of x[m][k] w[k][:] (y: rows x 16).
   fb_narrow_weight_gradient: dw[k][:] = sum over m of x[m][k] dy[m][:], k in [k0, k1).
   fb_narrow_input_gradient: dx[m][k] = sum over n of dy[m][n] w[k][n], k in [k0, k1).
   fb_wide_forward: y[m][j] = b[j] + sum over n of z[m][n] w[n][j], j in [j0, j1).
   fb_wide_weight_gradient: dw[n][j] = sum over m of z[m][n] dy[m][j], j in [j0, j1).
   fb_wide_input_gradient: dz[m][n] += sum over j in [j0, j1) of dy[m][j] w[n][j]; work: rows x 256
   floats of scratch. */
void fb_narrow_forward(const float *x, const float *w, float *y, long rows, long K, long k0, long k1);
void fb_narrow_weight_gradient(const float *x, const float *dy, float *dw, long rows, long K, long k0, long k1);
void fb_narrow_input_gradient(const float *dy, const float *w, float *dx, long rows, long K, long k0, long k1);
void fb_wide_forward(const float *z, const float *w, const float *b, float *y, long rows, long J, long j0, long j1);
void fb_wide_weight_gradient(const float *z, const float *dy, float *dw, long rows, long J, long j0, long j1);
void fb_wide_input_gradient(const float *dy, const float *w, float *dz, long rows, long J, long j0, long j1, float *work);

/* Winograd's F(2x2, 3x3) for a 3x3 convolution (stride 1, valid on x, an already padded
   height x width x cin image, one sample) whose output a 2x2 max pooling of tiles reduces
   (poolH x poolW windows): writes the pooled output and the window positions as
   fb_maxpool_forward with `positions` ([poolH, poolW, filters] each), with bias and optional
   ReLU before the pooling; the convolution's output is never written. u is the kernel
   transformed by fb_winograd_kernel ([16][cin][filters] from w [3][3][cin][filters]).
   cin a multiple of 16, filters of 32; `work` holds fb_winograd_work_count(cin, poolW) floats. */
long fb_winograd_work_count(int cin, int poolW);
void fb_winograd_kernel(const float *w, float *u, int cin, int filters);
void fb_conv_winograd_pooled(const float *x, const float *u, const float *bias, float *pooled, int *positions, int width,
                             int cin, int filters, int poolH, int poolW, int relu, float *work);

/* Winograd for a valid 2x2 convolution of stride 1 of x (inH x inW x cin, already bordered for
   `same` padding) into y (outH x outW x filters), bias and ReLU applied: `tile` 2 is
   F(2x2, 2x2) (3x3 input tiles, 9 products), 3 is F(3x3, 2x2) (4x4 input tiles, 16 products);
   fb_winograd2_tile(outH, outW) picks the one with fewer multiply-adds. The kernel is
   transformed by fb_winograd2_kernel with the same tile ([9 or 16][cin][filters] from w
   [2][2][cin][filters]). Needs AVX2 or AVX-512, cin a multiple of 16 and filters a multiple of
   64 (fb_winograd2_supported); `work` holds fb_winograd2_work_count(cin, filters, outW, tile)
   floats. An output whose 2x2 window is zero in every channel is the bias exactly. Returns 0
   when unsupported. */
int fb_winograd2_supported(int cin, int filters);
int fb_winograd2_tile(int outH, int outW);
long fb_winograd2_work_count(int cin, int filters, int outW, int tile);
void fb_winograd2_kernel(const float *w, float *u, int cin, int filters, int tile);
int fb_conv_winograd2(const float *x, const float *u, const float *bias, float *y, long first, long count, int inH,
                      int inW, int cin, int outH, int outW, int filters, int relu, float *work, int tile);

/* The kernel gradient of that convolution by the same kind of transform (dy's tile x tile
   blocks): dw ([2][2][cin][filters]) += the gradient for samples first..first+count of x
   (inH x inW x cin, bordered as for the forward) and dy (outH x outW x filters). Same
   conditions (fb_winograd2_supported); `work` holds fb_winograd2_gradient_work_count(cin,
   filters, outW, tile) floats. Returns 0 when unsupported. */
long fb_winograd2_gradient_work_count(int cin, int filters, int outW, int tile);
int fb_conv_winograd2_weight_gradient(const float *x, const float *dy, float *dw, long first, long count, int inH, int inW,
                                      int cin, int outH, int outW, int filters, float *work, int tile);

/* Winograd's F(2x2, 3x3) without a pooling: a valid 3x3 convolution of stride 1 of x (inH x inW
   x cin, already bordered) into y (outH x outW x filters), bias and ReLU applied, with the kernel
   transformed by fb_winograd_kernel ([16][cin][filters]). The same conditions as
   fb_conv_winograd2 (fb_winograd2_supported); `work` holds fb_winograd3_work_count(cin,
   filters, outW) floats. An output whose 3x3 window is zero in every channel is the bias
   exactly. Returns 0 when unsupported. */
long fb_winograd3_work_count(int cin, int filters, int outW);
int fb_conv_winograd3(const float *x, const float *u, const float *bias, float *y, long first, long count, int inH,
                      int inW, int cin, int outH, int outW, int filters, int relu, float *work);

#endif
