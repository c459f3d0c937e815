// Implicit-GEMM convolution on the CUDA cores: FP32 arithmetic (no TF32), the FP32 plan's
// tactics, and the FP16 plan's for convs the tensor-core kernel cannot take (3-channel
// inputs, groups); and INT8 dot products (dp4a) for the INT8 convs the tensor-core kernel
// cannot take and GPUs without INT8 tensor cores. GEMM view: M = output pixels, N = filters of one group (grid z), K = taps x
// input channels. Each thread owns a TM x TN block of outputs; tiles of A (patches) and B
// (weights) go through shared memory BK columns at a time.

// The epilogue as a call: inlined into every (i, j) of every tile shape it would multiply the
// code (and NVRTC's compile time) for no measurable gain on this fallback path.
__device__ __noinline__ void conv_store_call(const ConvParams& p, int m, int n, float v, float*) {
    conv_store<float>(p, m, n, v);
}
__device__ __noinline__ void conv_store_call(const ConvParams& p, int m, int n, float v, half_t*) {
    conv_store<half_t>(p, m, n, v);
}

template <typename T, int BM, int BN, int TM, int TN>
__device__ __forceinline__ void conv_simt(const ConvParams& p) {
    constexpr int NT = (BM / TM) * (BN / TN);
    constexpr int BK = 16;
    __shared__ float As[BK][BM];
    __shared__ __align__(16) float Bs[BK][BN];
    const T* x = (const T*)p.x;
    const T* w = (const T*)p.w;
    const int g = blockIdx.z;
    const int cin_g = p.cin / p.groups, cout_g = p.cout / p.groups;
    const int K = p.kh * p.kw * cin_g;
    const int M = p.out_h * p.out_w;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int tid = threadIdx.x;
    const int tx = tid % (BN / TN), ty = tid / (BN / TN);
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += BK) {
        for (int e = tid; e < BM * BK; e += NT) {
            const int kk = e % BK, mm = e / BK;
            const int m = m0 + mm, k = k0 + kk;
            float v = 0.0f;
            if (m < M && k < K) {
                const int tap = k / cin_g, ci = k - tap * cin_g;
                const int ky = tap / p.kw, kx = tap - ky * p.kw;
                const int oy = m / p.out_w, ox = m - oy * p.out_w;
                const int iy = oy * p.stride - p.pad + ky, ix = ox * p.stride - p.pad + kx;
                if (iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w) {
                    const i64 pix = (i64)iy * p.in_w + ix;
                    v = ldf(x + pix * p.in_stride + g * cin_g + ci);
                }
            }
            As[kk][mm] = v;
        }
        for (int e = tid; e < BN * BK; e += NT) {
            const int kk = e % BK, nn = e / BK;
            const int n = n0 + nn, k = k0 + kk;
            Bs[kk][nn] = (n < cout_g && k < K) ? ldf(w + (i64)(g * cout_g + n) * K + k) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) a[i] = As[kk][ty * TM + i];
#pragma unroll
            for (int j = 0; j < TN; ++j) b[j] = Bs[kk][tx * TN + j];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int m = m0 + ty * TM + i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            const int n = n0 + tx * TN + j;
            if (n < cout_g) conv_store_call(p, m, g * cout_g + n, acc[i][j], (T*)nullptr);
        }
    }
}

#define CONV_SIMT(NAME, T, BM, BN, TM, TN)                                            \
    extern "C" __global__ void __launch_bounds__((BM / TM) * (BN / TN)) NAME(ConvParams p) { \
        wait_for_previous_kernel();                                                   \
        conv_simt<T, BM, BN, TM, TN>(p);                                              \
    }

// Names: conv_simt_<dtype>_<BM>x<BN>; engine/src/backend/cuda/tactics.rs lists them.
CONV_SIMT(conv_simt_f32_32x32, float, 32, 32, 2, 2)
CONV_SIMT(conv_simt_f32_64x64, float, 64, 64, 4, 4)
CONV_SIMT(conv_simt_f32_128x64, float, 128, 64, 8, 4)
CONV_SIMT(conv_simt_f32_128x128, float, 128, 128, 8, 8)
CONV_SIMT(conv_simt_f16_32x32, half_t, 32, 32, 2, 2)
CONV_SIMT(conv_simt_f16_64x64, half_t, 64, 64, 4, 4)
CONV_SIMT(conv_simt_f16_128x64, half_t, 128, 64, 8, 4)

// INT8 (groups = 1, sm_61+): int8 patches and weights, four consecutive k per 32-bit word, exact
// int32 sums. A word is one aligned load when its four k are four channels of one tap (cin and
// the pixel stride multiples of 4), else four byte loads (a call: the rare path stays out of
// the unrolled tile loads); K is zero-padded to whole words.
__device__ __noinline__ int patch_bytes(const ConvParams& p, const s8_t* x, int oy, int ox, int k, int K) {
    u32 v = 0;
    for (int b = 0; b < 4 && k + b < K; ++b) {
        const int tap = (k + b) / p.cin, ci = k + b - tap * p.cin;
        const int ky = tap / p.kw, kx = tap - ky * p.kw;
        const int iy = oy * p.stride - p.pad + ky, ix = ox * p.stride - p.pad + kx;
        if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) continue;
        v |= (u32)(unsigned char)x[((i64)iy * p.in_w + ix) * p.in_stride + ci] << (8 * b);
    }
    return (int)v;
}
__device__ __noinline__ int weight_bytes(const s8_t* row, int k, int K) {
    u32 v = 0;
    for (int b = 0; b < 4 && k + b < K; ++b) v |= (u32)(unsigned char)row[k + b] << (8 * b);
    return (int)v;
}

__device__ __forceinline__ int dp4a(int a, int b, int c) {
    int d;
    asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

template <int BM, int BN, int TM, int TN>
__device__ __forceinline__ void conv_dp4a(const ConvParams& p) {
    constexpr int NT = (BM / TM) * (BN / TN);
    constexpr int BW = 8;  // words of K per tile step
    __shared__ int As[BW][BM];
    __shared__ int Bs[BW][BN];
    const s8_t* x = (const s8_t*)p.x;
    const s8_t* w = (const s8_t*)p.w;
    const int K = p.kh * p.kw * p.cin;
    const int M = p.out_h * p.out_w, N = p.cout;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int tid = threadIdx.x;
    const int tx = tid % (BN / TN), ty = tid / (BN / TN);
    const bool x_words = p.cin % 4 == 0 && p.in_stride % 4 == 0 && ((unsigned long long)x & 3) == 0;
    const bool w_words = K % 4 == 0 && ((unsigned long long)w & 3) == 0;
    int acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0;

    for (int k0 = 0; k0 < K; k0 += BW * 4) {
        for (int e = tid; e < BM * BW; e += NT) {
            const int kw = e % BW, mm = e / BW;
            const int m = m0 + mm, k = k0 + kw * 4;
            int v = 0;
            if (m < M && k < K) {
                const int oy = m / p.out_w, ox = m - oy * p.out_w;
                if (x_words) {
                    const int tap = k / p.cin, ci = k - tap * p.cin;
                    const int ky = tap / p.kw, kx = tap - ky * p.kw;
                    const int iy = oy * p.stride - p.pad + ky, ix = ox * p.stride - p.pad + kx;
                    if (iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w)
                        v = *(const int*)(x + ((i64)iy * p.in_w + ix) * p.in_stride + ci);
                } else {
                    v = patch_bytes(p, x, oy, ox, k, K);
                }
            }
            As[kw][mm] = v;
        }
        for (int e = tid; e < BN * BW; e += NT) {
            const int kw = e % BW, nn = e / BW;
            const int n = n0 + nn, k = k0 + kw * 4;
            int v = 0;
            if (n < N && k < K) {
                const s8_t* row = w + (i64)n * K;
                v = w_words ? *(const int*)(row + k) : weight_bytes(row, k, K);
            }
            Bs[kw][nn] = v;
        }
        __syncthreads();
#pragma unroll
        for (int kw = 0; kw < BW; ++kw) {
            int a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) a[i] = As[kw][ty * TM + i];
#pragma unroll
            for (int j = 0; j < TN; ++j) b[j] = Bs[kw][tx * TN + j];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = dp4a(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int m = m0 + ty * TM + i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            const int n = n0 + tx * TN + j;
            if (n < N) conv_store_call(p, m, n, (float)acc[i][j], (half_t*)nullptr);
        }
    }
}

#define CONV_DP4A(BM, BN, TM, TN)                                                              \
    extern "C" __global__ void __launch_bounds__((BM / TM) * (BN / TN))                        \
        conv_dp4a_##BM##x##BN(ConvParams p) {                                                  \
        wait_for_previous_kernel();                                                            \
        conv_dp4a<BM, BN, TM, TN>(p);                                                          \
    }

// Names: conv_dp4a_<BM>x<BN>; engine/src/backend/cuda/tactics.rs lists them. INT8 plans keep
// FP16 as their float type, so the output and residual are int8 or half.
CONV_DP4A(32, 32, 2, 2)
CONV_DP4A(64, 64, 4, 4)
CONV_DP4A(128, 64, 8, 4)

// Direct convolution for convs with a short K (the network's first conv: 3 input channels,
// K = 27), where a GEMM tile would be mostly padding: one thread computes 8 output channels of
// one pixel from weights staged in shared memory as floats ([k][cout], so a thread's 8 filters
// are two float4 reads). Needs groups = 1 and K * cout * 4 bytes of dynamic shared memory
// (the tactic's limits, engine/src/backend/cuda/tactics.rs).
template <typename T>
__device__ __forceinline__ void conv_direct(const ConvParams& p) {
    extern __shared__ __align__(16) float ws[];
    const T* x = (const T*)p.x;
    const T* w = (const T*)p.w;
    const int N = p.cout, K = p.kh * p.kw * p.cin, NG = (N + 7) / 8, NS = NG * 8;
    for (int i = threadIdx.x; i < K * NS; i += blockDim.x) {
        const int k = i / NS, n = i - k * NS;
        ws[i] = n < N ? ldf_ro(w + (i64)n * K + k) : 0.0f;
    }
    __syncthreads();
    // Weights are written once, before any frame: staging them may overlap the previous kernel.
    wait_for_previous_kernel();
    const i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    const int M = p.out_h * p.out_w;
    if (t >= (i64)M * NG) return;
    const int m = (int)(t / NG), n0 = (int)(t - (i64)m * NG) * 8;
    const int oy = m / p.out_w, ox = m - oy * p.out_w;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const float* wk = ws + n0;
    for (int ky = 0; ky < p.kh; ++ky) {
        const int iy = oy * p.stride - p.pad + ky;
        for (int kx = 0; kx < p.kw; ++kx, wk += p.cin * NS) {
            const int ix = ox * p.stride - p.pad + kx;
            if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) continue;
            const T* px = x + ((i64)iy * p.in_w + ix) * p.in_stride;
            for (int ci = 0; ci < p.cin; ++ci) {
                const float v = ldf(px + ci);
                const float4 a = *(const float4*)(wk + ci * NS), b = *(const float4*)(wk + ci * NS + 4);
                acc[0] = fmaf(v, a.x, acc[0]);
                acc[1] = fmaf(v, a.y, acc[1]);
                acc[2] = fmaf(v, a.z, acc[2]);
                acc[3] = fmaf(v, a.w, acc[3]);
                acc[4] = fmaf(v, b.x, acc[4]);
                acc[5] = fmaf(v, b.y, acc[5]);
                acc[6] = fmaf(v, b.z, acc[6]);
                acc[7] = fmaf(v, b.w, acc[7]);
            }
        }
    }
    for (int j = 0; j < 8 && n0 + j < N; ++j) conv_store<T>(p, m, n0 + j, acc[j]);
}

extern "C" __global__ void conv_direct_f32(ConvParams p) { conv_direct<float>(p); }
extern "C" __global__ void conv_direct_f16(ConvParams p) { conv_direct<half_t>(p); }
