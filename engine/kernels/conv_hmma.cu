// Implicit-GEMM convolution on the tensor cores: FP16 inputs and weights, FP32 accumulation
// (mma.sync m16n8k16, sm_80 and later). Needs groups = 1 and cin, pixel strides and slice
// offsets that are multiples of 8, so each 16-byte piece of a patch row is one tap's
// contiguous channels (the builder checks). A and B tiles stream into shared memory through
// a STAGES-deep cp.async pipeline (zero-filled outside the image and past K), XOR-swizzled so
// the ldmatrix reads that feed the MMAs hit 8 distinct bank groups.
// Split-K (grid z > 1) writes FP32 partial sums; conv_splitk_reduce applies the epilogue.

__device__ __forceinline__ u32 smem_u32(const void* p) {
    u32 a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

// 16 bytes global -> shared; `bytes` = 0 writes zeros and reads nothing.
__device__ __forceinline__ void cp_async16(u32 dst, const void* src, int bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(u32* r, u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

__device__ __forceinline__ void mma16816(float* c, const u32* a, const u32* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Bias, activation, residual and the FP16 store of a BM x BN tile held in shared memory (row
// stride `cs` floats), 8 channels per step; `p.vec8` says 16-byte accesses are aligned.
__device__ __noinline__ void conv_epilogue_tile(const ConvParams& p, const float* ct, int cs, int bm,
                                                int bn, int m0, int n0, int M, int N) {
    const half_t* res = (const half_t*)p.res;
    half_t* y = (half_t*)p.y;
    for (int i = threadIdx.x; i < bm * bn / 8; i += blockDim.x) {
        const int r = i / (bn / 8), c = (i - r * (bn / 8)) * 8;
        const int m = m0 + r, n = n0 + c;
        if (m >= M || n >= N) continue;
        const float* src = ct + r * cs + c;
        if (p.vec8 && n + 8 <= N) {
            float v[8];
            const float4 a = *(const float4*)src, b = *(const float4*)(src + 4);
            v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
            v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
            for (int j = 0; j < 8; ++j) v[j] = activate(v[j] + p.bias[n + j], p.act);
            if (res) {
                const uint4 rv = *(const uint4*)(res + (i64)m * p.res_stride + n);
                const u32 rw[4] = {rv.x, rv.y, rv.z, rv.w};
                for (int j = 0; j < 8; ++j)
                    v[j] = activate(v[j] + h2f((half_t)(rw[j / 2] >> (16 * (j & 1)))), p.post_act);
            }
            u32 o[4];
            for (int j = 0; j < 4; ++j) o[j] = (u32)f2h(v[2 * j]) | ((u32)f2h(v[2 * j + 1]) << 16);
            *(uint4*)(y + (i64)m * p.out_stride + n) = make_uint4(o[0], o[1], o[2], o[3]);
        } else {
            for (int j = 0; j < 8 && n + j < N; ++j) conv_store<half_t>(p, m, n + j, src[j]);
        }
    }
}

// A tile row of BK halves is BK / 8 16-byte chunks. Chunk c of row r is stored at
// c ^ ((r / 2) % 4) for BK = 32 (64-byte rows: rows r and r + 2 share banks) and at c ^ (r % 8)
// for BK = 64, so the 8 rows one ldmatrix reads land in 8 different bank groups.
template <int BK>
__device__ __forceinline__ int swz(int r, int c) {
    if (BK == 32) return r * 32 + ((c ^ ((r >> 1) & 3)) << 3);
    return r * 64 + ((c ^ (r & 7)) << 3);
}

template <int BM, int BN, int BK, int WM, int WN, int STAGES>
__device__ __forceinline__ void conv_hmma(const ConvParams& p) {
    constexpr int NT = WM * WN * 32;
    constexpr int CPR = BK / 8;  // 16-byte chunks per tile row
    constexpr int WTM = BM / WM, WTN = BN / WN;
    constexpr int MI = WTM / 16, NI = WTN / 8;
    constexpr int A_CH = BM * CPR / NT, B_CH = BN * CPR / NT;
    static_assert(A_CH * NT == BM * CPR && B_CH * NT == BN * CPR, "tile loads must divide evenly");
    static_assert(NI % 2 == 0, "B fragments load in pairs");
    extern __shared__ __align__(128) half_t smem[];
    half_t* As = smem;
    half_t* Bs = smem + STAGES * BM * BK;
    const half_t* x = (const half_t*)p.x;
    const half_t* w = (const half_t*)p.w;
    const int M = p.out_h * p.out_w, N = p.cout, K = p.kh * p.kw * p.cin;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int kbeg = blockIdx.z * p.k_per_split;
    const int kend = min(K, kbeg + p.k_per_split);
    const int KT = (kend - kbeg + BK - 1) / BK;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / WN, wn = warp % WN;
    const int up_h = p.in_h * p.up, up_w = p.in_w * p.up;

    int a_iy[A_CH], a_ix[A_CH];
    bool a_ok[A_CH];
#pragma unroll
    for (int i = 0; i < A_CH; ++i) {
        const int m = m0 + (tid + i * NT) / CPR;
        a_ok[i] = m < M;
        const int oy = m / p.out_w, ox = m - oy * p.out_w;
        a_iy[i] = oy * p.stride - p.pad;
        a_ix[i] = ox * p.stride - p.pad;
    }

    // NT is a multiple of CPR, so a thread's chunks all sit at k-chunk (tid % CPR) of their
    // rows: one tap decomposition per stage serves every chunk it loads.
    const int my_cc = tid % CPR;
    auto load_stage = [&](int stage, int kt) {
        const int k = kbeg + kt * BK + my_cc * 8;
        half_t* as = As + stage * BM * BK;
        half_t* bs = Bs + stage * BN * BK;
        const bool k_ok = k < kend;
        const int tap = k / p.cin, ci = k - tap * p.cin;
        const int ky = tap / p.kw, kx = tap - ky * p.kw;
#pragma unroll
        for (int i = 0; i < A_CH; ++i) {
            const int r = (tid + i * NT) / CPR;
            const half_t* src = x;
            int bytes = 0;
            const int iy = a_iy[i] + ky, ix = a_ix[i] + kx;
            if (a_ok[i] && k_ok && iy >= 0 && iy < up_h && ix >= 0 && ix < up_w) {
                src = x + ((i64)(iy / p.up) * p.in_w + ix / p.up) * p.in_stride + ci;
                bytes = 16;
            }
            cp_async16(smem_u32(as + swz<BK>(r, my_cc)), src, bytes);
        }
#pragma unroll
        for (int i = 0; i < B_CH; ++i) {
            const int r = (tid + i * NT) / CPR;
            const int n = n0 + r;
            const bool ok = n < N && k_ok;
            cp_async16(smem_u32(bs + swz<BK>(r, my_cc)), ok ? w + (i64)n * K + k : w, ok ? 16 : 0);
        }
    };

    float acc[MI][NI][4];
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < KT) load_stage(s, s);
        cp_async_commit();
    }
    for (int kt = 0; kt < KT; ++kt) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        const int next = kt + STAGES - 1;
        if (next < KT) load_stage(next % STAGES, next);
        cp_async_commit();
        const half_t* as = As + (kt % STAGES) * BM * BK;
        const half_t* bs = Bs + (kt % STAGES) * BN * BK;
#pragma unroll
        for (int ks = 0; ks < BK / 16; ++ks) {
            u32 a[MI][4], b[NI][2];
#pragma unroll
            for (int mi = 0; mi < MI; ++mi) {
                const int r = wm * WTM + mi * 16 + (lane & 15);
                ldmatrix_x4(a[mi], smem_u32(as + swz<BK>(r, ks * 2 + (lane >> 4))));
            }
#pragma unroll
            for (int ni = 0; ni < NI; ni += 2) {
                const int r = wn * WTN + ni * 8 + (lane & 7) + ((lane >> 4) << 3);
                u32 t[4];
                ldmatrix_x4(t, smem_u32(bs + swz<BK>(r, ks * 2 + ((lane >> 3) & 1))));
                b[ni][0] = t[0];
                b[ni][1] = t[1];
                b[ni + 1][0] = t[2];
                b[ni + 1][1] = t[3];
            }
#pragma unroll
            for (int mi = 0; mi < MI; ++mi)
#pragma unroll
                for (int ni = 0; ni < NI; ++ni) mma16816(acc[mi][ni], a[mi], b[ni]);
        }
    }
    cp_async_wait<0>();

    if (p.splits > 1) {
        float* part = p.partial + (i64)blockIdx.z * M * N;
#pragma unroll
        for (int mi = 0; mi < MI; ++mi)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int m = m0 + wm * WTM + mi * 16 + (lane >> 2) + h * 8;
#pragma unroll
                for (int ni = 0; ni < NI; ++ni) {
                    const int n = n0 + wn * WTN + ni * 8 + (lane & 3) * 2;
                    if (m < M && n < N) part[(i64)m * N + n] = acc[mi][ni][h * 2];
                    if (m < M && n + 1 < N) part[(i64)m * N + n + 1] = acc[mi][ni][h * 2 + 1];
                }
            }
        return;
    }
    // The accumulator tile goes through shared memory (rows padded by 4 floats: the float2
    // writes of a warp hit 32 different banks), so the epilogue runs once per 8 channels with
    // 16-byte loads and stores, in a loop small enough not to be unrolled per fragment.
    constexpr int CS = BN + 4;
    __syncthreads();
    float* ct = (float*)smem;
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int r = wm * WTM + mi * 16 + (lane >> 2) + h * 8;
#pragma unroll
            for (int ni = 0; ni < NI; ++ni) {
                const int c = wn * WTN + ni * 8 + (lane & 3) * 2;
                *(float2*)(ct + r * CS + c) = make_float2(acc[mi][ni][h * 2], acc[mi][ni][h * 2 + 1]);
            }
        }
    __syncthreads();
    conv_epilogue_tile(p, ct, CS, BM, BN, m0, n0, M, N);
}

#define CONV_HMMA(BM, BN, BK, WM, WN, STAGES)                                              \
    extern "C" __global__ void __launch_bounds__(WM * WN * 32)                          \
        conv_hmma_##BM##x##BN##x##BK##_w##WM##x##WN##_s##STAGES(ConvParams p) {          \
        conv_hmma<BM, BN, BK, WM, WN, STAGES>(p);                                        \
    }

// engine/src/backend/cuda/tactics.rs lists them.
CONV_HMMA(128, 128, 32, 2, 2, 3)
CONV_HMMA(128, 128, 32, 2, 4, 3)
CONV_HMMA(128, 64, 32, 2, 2, 3)
CONV_HMMA(64, 128, 32, 2, 2, 3)
CONV_HMMA(64, 64, 32, 2, 2, 4)
CONV_HMMA(32, 64, 32, 1, 2, 4)
CONV_HMMA(128, 128, 64, 2, 4, 3)
CONV_HMMA(128, 64, 64, 2, 2, 4)
CONV_HMMA(64, 128, 64, 2, 2, 4)
CONV_HMMA(64, 64, 64, 2, 2, 4)
CONV_HMMA(64, 64, 64, 2, 2, 3)

// Split-K: sums the partial products and applies the epilogue. One thread per output.
template <typename T>
__device__ __forceinline__ void splitk_reduce(const ConvParams& p) {
    const int M = p.out_h * p.out_w, N = p.cout;
    const i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (i64)M * N) return;
    float s = 0.0f;
    for (int z = 0; z < p.splits; ++z) s += p.partial[(i64)z * M * N + i];
    conv_store<T>(p, (int)(i / N), (int)(i % N), s);
}

extern "C" __global__ void conv_splitk_reduce_f16(ConvParams p) { splitk_reduce<half_t>(p); }
