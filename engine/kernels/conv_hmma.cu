// Implicit-GEMM convolution on the tensor cores, for two element types T:
// - half_t: FP16 inputs and weights, FP32 accumulators (mma.sync m16n8k16, sm_80+);
// - s8_t: INT8 inputs and weights, int32 accumulators (mma.sync m16n8k32 on sm_80+; SM80 =
//   false: the same tile as four m8n8k16 and synchronous loads, for sm_75..sm_79).
// Needs groups = 1, and cin, pixel strides and slice offsets that are multiples of one 16-byte
// chunk (8 halves or 16 int8), so each chunk of a patch row is one tap's contiguous channels
// (the builder checks). A and B tiles (rows of BK elements: 64, 128 or, for wgmma, 256 bytes,
// tile_offset) stream into shared memory through a STAGES-deep cp.async pipeline (zero-filled
// outside the image and past K), XOR-swizzled so the ldmatrix reads that feed the MMAs hit 8
// distinct bank groups. The two element types share every byte of that: the m16n8k16 f16 A/B
// fragments and the m16n8k32 s8 ones hold the same bytes of a tile row in the same registers
// (PTX ISA, "Matrix Fragments").
// Split-K (grid z > 1) sums partial products (FP32, or exact int32 for INT8) in the kernel:
// see splitk_sum. WG (sm_90a): the same loads into the same tile layout, multiplied by
// warpgroups with wgmma, which reads both operands from shared memory (see wgmma_64x64).

__host__ __device__ constexpr int cmax(int a, int b) { return a > b ? a : b; }

template <typename T> struct MmaAcc;
template <> struct MmaAcc<half_t> { typedef float type; };
template <> struct MmaAcc<s8_t> { typedef int type; };

__device__ __forceinline__ u32 smem_u32(const void* p) {
    u32 a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

// 16 bytes global -> shared; `bytes` = 0 writes zeros and reads nothing. ASYNC: cp.async
// (sm_80+), completed by cp_async_wait; else a load and a store, complete on return.
template <bool ASYNC>
__device__ __forceinline__ void copy16(u32 dst, const void* src, int bytes) {
    if constexpr (ASYNC) {
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(bytes));
    } else {
        uint4 v = make_uint4(0, 0, 0, 0);
        // Read-only path: nothing writes a conv's operands while it runs (and weights load
        // before wait_for_previous_kernel).
        if (bytes) v = __ldg((const uint4*)src);
        asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(dst), "r"(v.x), "r"(v.y),
                     "r"(v.z), "r"(v.w));
    }
}
// 8 bytes global -> shared (cp.async.cg takes 16 only): as copy16, never zero-filled.
template <bool ASYNC>
__device__ __forceinline__ void copy8(u32 dst, const void* src) {
    if constexpr (ASYNC) {
        asm volatile("cp.async.ca.shared.global [%0], [%1], 8;" ::"r"(dst), "l"(src));
    } else {
        const uint2 v = __ldg((const uint2*)src);
        asm volatile("st.shared.v2.u32 [%0], {%1, %2};" ::"r"(dst), "r"(v.x), "r"(v.y));
    }
}
template <bool ASYNC>
__device__ __forceinline__ void cp_async_commit() {
    if constexpr (ASYNC) asm volatile("cp.async.commit_group;");
}
template <bool ASYNC, int N>
__device__ __forceinline__ void cp_async_wait() {
    if constexpr (ASYNC) asm volatile("cp.async.wait_group %0;" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(u32* r, u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

// One 16 x 8 output tile over 32 bytes of K: c += a * b.
template <bool SM80>
__device__ __forceinline__ void mma_tile(float* c, const u32* a, const u32* b) {
    static_assert(SM80, "the FP16 kernel needs sm_80");
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ void mma8816(int* c, u32 a, u32 b) {
    asm volatile("mma.sync.aligned.m8n8k16.row.col.s32.s8.s8.s32 {%0,%1}, {%2}, {%3}, {%0,%1};"
                 : "+r"(c[0]), "+r"(c[1])
                 : "r"(a), "r"(b));
}

template <bool SM80>
__device__ __forceinline__ void mma_tile(int* c, const u32* a, const u32* b) {
    if constexpr (SM80) {
        asm volatile(
            "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
            "{%8,%9}, {%0,%1,%2,%3};"
            : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    } else {
        // m8n8k16 fragments: A row g, bytes 4t..4t+3 of 16; B the same of column g; C row g,
        // columns 2t, 2t+1. a[0] / a[1] are rows g / g + 8 of the first 16 bytes of K, a[2] /
        // a[3] of the next 16, b[0] / b[1] the two halves of B: rows g take (a0, b0) + (a2, b1)
        // into c[0..1], rows g + 8 (a1, b0) + (a3, b1) into c[2..3].
        mma8816(c, a[0], b[0]);
        mma8816(c, a[2], b[1]);
        mma8816(c + 2, a[1], b[0]);
        mma8816(c + 2, a[3], b[1]);
    }
}

// One k16 (FP16) or k32 (INT8) step of a warp's MI x NI mma.sync fragments, given its A
// fragments: the B fragments in pairs by ldmatrix, from the shared-memory address b_at(r, h) of
// B row r (of the warp's tile) at the step's half h of K, then the multiplications.
template <bool SM80, int MI, int NI, typename Acc, typename BAt>
__device__ __forceinline__ void mma_step(Acc* acc, const u32 (&a)[MI][4], BAt b_at) {
    const int lane = threadIdx.x & 31;
    u32 b[NI][2];
#pragma unroll
    for (int ni = 0; ni < NI; ni += 2) {
        u32 t[4];
        ldmatrix_x4(t, b_at(ni * 8 + (lane & 7) + ((lane >> 4) << 3), (lane >> 3) & 1));
        b[ni][0] = t[0];
        b[ni][1] = t[1];
        b[ni + 1][0] = t[2];
        b[ni + 1][1] = t[3];
    }
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) mma_tile<SM80>(acc + (mi * NI + ni) * 4, a[mi], b[ni]);
}

// A warp's accumulators in the 16 x 8 fragment layout of mma.sync (FM x FN fragments, from
// row frow and column fcol of the tile) into the float tile ct of row stride CS: int32 sums
// convert as the CPU's `as f32` does (round to nearest even).
template <int FM, int FN, int CS, typename Acc>
__device__ __forceinline__ void fragments_to_tile(float* ct, const Acc* acc, int frow, int fcol) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int mi = 0; mi < FM; ++mi)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int r = frow + mi * 16 + (lane >> 2) + h * 8;
#pragma unroll
            for (int ni = 0; ni < FN; ++ni) {
                const int c = fcol + ni * 8 + (lane & 3) * 2;
                const Acc* f = acc + (mi * FN + ni) * 4 + h * 2;
                *(float2*)(ct + r * CS + c) = make_float2((float)f[0], (float)f[1]);
            }
        }
}

// wgmma (sm_90a): a warpgroup's 64 x 64 tile over 32 bytes of K, c += a * b, both operands
// in shared memory as the tiles of 128-byte rows that the loads write (tile_offset; swz<128>
// is the hardware's 128-byte swizzle: chunk c of row r at c ^ (r % 8) within 1024-byte groups of 8
// rows, from a 1024-byte aligned base). A descriptor holds the start address (>> 4), the
// stride between groups of 8 rows (1024 bytes) and the swizzle mode (1: 128 bytes); the next
// 32 bytes of K start 32 bytes further. Accumulators: thread `lane` of warp w of the
// warpgroup holds rows 16w + lane / 4 (+ 8) and columns 8i + 2 (lane % 4) (+ 1) of block
// i = 0..7 as c[4i..4i+3], the mma.sync m16n8 layout repeated.
// The descriptor of address `addr` is wg_desc(wg_desc_lo(addr)); that of addr + off (a multiple
// of 16) is wg_desc(wg_desc_lo(addr) + off / 16), since a CTA's shared memory (< 256 KiB) never
// carries out of the 14-bit address field: the main loop adds offsets to one low word.
__device__ __forceinline__ u32 wg_desc_lo(u32 addr) { return ((addr & 0x3FFFF) >> 4) | (1u << 16); }
__device__ __forceinline__ unsigned long long wg_desc(u32 lo) {
    return (unsigned long long)lo | ((1024ull >> 4) << 32) | (1ull << 62);
}
#define WG_D8(C, i) C(c[i]), C(c[i + 1]), C(c[i + 2]), C(c[i + 3]), C(c[i + 4]), C(c[i + 5]), C(c[i + 6]), C(c[i + 7])
#define WG_D32(C) WG_D8(C, 0), WG_D8(C, 8), WG_D8(C, 16), WG_D8(C, 24)
#define WG_REGS                                                                                \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "   \
    "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
// FP16 -> f32 accumulators (operands neither negated nor transposed), INT8 -> int32; the last
// operand before those is scale-d = 1 (add to the accumulators).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define WGMMA_64X64(T, C, TYPES, ARGS)                                                         \
    __device__ __forceinline__ void wgmma_64x64(T* c, unsigned long long a, unsigned long long b) { \
        asm volatile("wgmma.mma_async.sync.aligned.m64n64" TYPES " " WG_REGS ", %32, %33, " ARGS ";" \
                     : WG_D32(C)                                                               \
                     : "l"(a), "l"(b));                                                        \
    }
#else
#define WGMMA_64X64(T, C, TYPES, ARGS) \
    __device__ __forceinline__ void wgmma_64x64(T*, unsigned long long, unsigned long long) {}
#endif
WGMMA_64X64(float, "+f", "k16.f32.f16.f16", "1, 1, 1, 0, 0")
WGMMA_64X64(int, "+r", "k32.s32.s8.s8", "1")
// The accumulators change behind the compiler's back until wgmma_wait: these empty statements
// keep their reads and writes on the right side of the wgmma instructions.
template <int N>
__device__ __forceinline__ void wg_fence_operands(float* c) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+f"(c[i])::"memory");
}
template <int N>
__device__ __forceinline__ void wg_fence_operands(int* c) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+r"(c[i])::"memory");
}
__device__ __forceinline__ void wgmma_begin() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
#endif
}
// Until at most N committed groups of this warp are still running.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
#endif
}
// The cp.async writes of this thread, made visible to wgmma's reads (the async proxy); the
// barrier after it does so for the whole CTA.
__device__ __forceinline__ void fence_async_shared() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
#endif
}

// 8 consecutive channels of an activation of run-time type (see ldx / stx) with 16-byte
// (float type) or 8-byte (int8) accesses; `i` is a multiple of 8.
__device__ __forceinline__ void load8(const void* p, i64 i, float scale, float* v) {
    if (scale != 0.0f) {
        const uint2 q = *(const uint2*)((const s8_t*)p + i);
        for (int j = 0; j < 8; ++j) v[j] = dequantize((s8_t)((j < 4 ? q.x : q.y) >> (8 * (j & 3))), scale);
    } else {
        const uint4 h = *(const uint4*)((const half_t*)p + i);
        const u32 w[4] = {h.x, h.y, h.z, h.w};
        for (int j = 0; j < 8; ++j) v[j] = h2f((half_t)(w[j / 2] >> (16 * (j & 1))));
    }
}
__device__ __forceinline__ void store8(void* p, i64 i, const float* v, float inv_scale) {
    if (inv_scale != 0.0f) {
        u32 q[2] = {0, 0};
        for (int j = 0; j < 8; ++j) q[j / 4] |= (u32)(unsigned char)quantize(v[j], inv_scale) << (8 * (j & 3));
        *(uint2*)((s8_t*)p + i) = make_uint2(q[0], q[1]);
    } else {
        u32 o[4];
        for (int j = 0; j < 4; ++j) o[j] = (u32)f2h(v[2 * j]) | ((u32)f2h(v[2 * j + 1]) << 16);
        *(uint4*)((half_t*)p + i) = make_uint4(o[0], o[1], o[2], o[3]);
    }
}

// 8 floats from 16-byte aligned memory (shared or global).
__device__ __forceinline__ void load8f(const float* p, float* v) {
    const float4 a = *(const float4*)p, b = *(const float4*)(p + 4);
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
    v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}

// Whether the epilogue's 8-channel groups are whole and aligned (its fast path): `p.vec8` says
// 8-channel accesses of output and residual are aligned.
__device__ __forceinline__ bool epilogue_by8(const ConvParams& p, int n, int N) { return p.vec8 && n + 8 <= N; }

// The bias (and INT8 multipliers) of the tile's BN filters, asked into L1 before the main loop
// by the threads whose epilogue reads them (conv_epilogue_tile's mapping): they are weights,
// safe to read before wait_for_previous_kernel, and otherwise the epilogue, at the end of the
// chain of kernels, waits once per conv for their trip from L2 or DRAM. The main loop's
// cp.async.cg loads bypass L1 and leave them there.
template <int BN>
__device__ __forceinline__ void prefetch_epilogue(const ConvParams& p, int n0, int N) {
    const int n = n0 + threadIdx.x * 8;
    if (threadIdx.x >= BN / 8 || n >= N) return;
    asm volatile("prefetch.global.L1 [%0];" ::"l"(p.bias + n));
    if (p.wmul) asm volatile("prefetch.global.L1 [%0];" ::"l"(p.wmul + n));
}

// The residual rows of a BM x BN tile, into shared memory `rs` (BM x BN elements of the
// residual's type) by cp.async, issued with the first stage's loads: the epilogue then waits
// for none of them (one latency for the tile, in the shadow of the main loop, not one per row
// in the epilogue). Each 8-channel group is loaded by the thread whose epilogue reads it
// (conv_epilogue_tile's mapping), so its own cp.async wait makes it visible. The residual of a
// conv was made by an earlier kernel: it is read after wait_for_previous_kernel all the same.
template <bool SM80, int BM, int BN, int NT>
__device__ __forceinline__ void prefetch_residual(const ConvParams& p, unsigned char* rs, int m0, int n0,
                                                  int M, int N) {
    constexpr int GROUPS = BN / 8, ROWS = NT / GROUPS;
    const int c = (threadIdx.x % GROUPS) * 8, n = n0 + c;
    if (!epilogue_by8(p, n, N)) return;
    const bool q = p.res_scale != 0.0f;
#pragma unroll 1
    for (int r = threadIdx.x / GROUPS; r < BM && m0 + r < M; r += ROWS) {
        const i64 i = (i64)(m0 + r) * p.res_stride + n;
        if (q) {
            copy8<SM80>(smem_u32(rs + r * BN + c), (const s8_t*)p.res + i);
        } else {
            copy16<SM80>(smem_u32(rs + (r * BN + c) * 2), (const half_t*)p.res + i, 16);
        }
    }
}

// The epilogue of a BM x BN tile held in shared memory as floats (row stride CS), 8 channels
// per step. A thread keeps one group of 8 channels for all its rows, so it loads their bias
// (and INT8 multipliers) once. The residual comes from `rs` where prefetch_residual put it
// there, else from global memory. The float type of both kernels' plans is FP16.
template <int BM, int BN, int NT, int CS>
__device__ __forceinline__ void conv_epilogue_tile(const ConvParams& p, const float* ct, const unsigned char* rs,
                                                   int m0, int n0, int M, int N) {
    constexpr int GROUPS = BN / 8, ROWS = NT / GROUPS;
    static_assert(NT % GROUPS == 0, "every thread keeps one channel group");
    const int c = (threadIdx.x % GROUPS) * 8, n = n0 + c;
    if (n >= N) return;
    if (!epilogue_by8(p, n, N)) {
#pragma unroll 1
        for (int r = threadIdx.x / GROUPS; r < BM && m0 + r < M; r += ROWS)
#pragma unroll 1
            for (int j = 0; j < 8 && n + j < N; ++j) conv_store<half_t>(p, m0 + r, n + j, ct[r * CS + c + j]);
        return;
    }
    // Float convs multiply by 1 (exact), so the piecewise-linear path has no test per value.
    float bias[8], wmul[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    load8f(p.bias + n, bias);
    if (p.wmul) load8f(p.wmul + n, wmul);
    // The smooth activations (rare) take the generic path, out of the way of the common one.
    const bool linear = p.act <= ACT_RELU && p.post_act <= ACT_RELU;
    const LinearAct act = linear_act(p.act), post = linear_act(p.post_act);
#pragma unroll 1
    for (int r = threadIdx.x / GROUPS; r < BM && m0 + r < M; r += ROWS) {
        const int m = m0 + r;
        float v[8], rv[8];
        load8f(ct + r * CS + c, v);
        if (p.res) {
            if (rs) {
                load8(rs, r * BN + c, p.res_scale, rv);
            } else {
                load8(p.res, (i64)m * p.res_stride + n, p.res_scale, rv);
            }
        }
        if (linear) {
            for (int j = 0; j < 8; ++j) v[j] = apply(act, __fadd_rn(__fmul_rn(v[j], wmul[j]), bias[j]));
            if (p.res)
                for (int j = 0; j < 8; ++j) v[j] = apply(post, __fadd_rn(v[j], rv[j]));
        } else {
            for (int j = 0; j < 8; ++j) v[j] = conv_act(p, v[j], wmul[j], bias[j]);
            if (p.res)
                for (int j = 0; j < 8; ++j) v[j] = conv_residual(p, v[j], rv[j]);
        }
        store8(p.y, (i64)m * p.out_stride + n, v, p.y_inv);
    }
}

// A tile row of RB bytes is RB / 16 chunks. Chunk c of row r is stored at c ^ ((r / 2) % 4)
// for 64-byte rows (rows r and r + 2 share banks) and at c ^ (r % 8) for 128-byte rows, so the
// 8 rows one ldmatrix reads land in 8 different bank groups. Returns a byte offset.
template <int RB>
__device__ __forceinline__ int swz(int r, int c) {
    static_assert(RB == 64 || RB == 128, "64- or 128-byte tile rows");
    if (RB == 64) return r * 64 + ((c ^ ((r >> 1) & 3)) << 4);
    return r * 128 + ((c ^ (r & 7)) << 4);
}

// A tile of R rows of RB bytes in shared memory, as a byte offset of chunk c of row r: up to
// 128 bytes, rows after rows (swz); 256-byte rows (wgmma INT8) as two tiles of 128-byte rows,
// K's second half after all R rows of its first, since wgmma's swizzle spans 128 bytes.
// Rows lie 128 bytes apart in either case (RS, below).
template <int RB, int R>
__device__ __forceinline__ int tile_offset(int r, int c) {
    if constexpr (RB <= 128) {
        return swz<RB>(r, c);
    } else {
        static_assert(RB == 256, "64-, 128- or 256-byte tile rows");
        return (c >> 3) * R * 128 + swz<128>(r, c & 7);
    }
}

// Partial sums cross CTAs through L2: stores and loads that bypass the (incoherent) L1.
__device__ __forceinline__ void st_cg4(float* p, const float* v) {
    asm volatile("st.global.cg.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(p), "f"(v[0]), "f"(v[1]),
                 "f"(v[2]), "f"(v[3])
                 : "memory");
}
__device__ __forceinline__ void st_cg4(int* p, const int* v) {
    asm volatile("st.global.cg.v4.s32 [%0], {%1, %2, %3, %4};" ::"l"(p), "r"(v[0]), "r"(v[1]),
                 "r"(v[2]), "r"(v[3])
                 : "memory");
}
__device__ __forceinline__ void ld_cg4(const float* p, float* v) {
    asm volatile("ld.global.cg.v4.f32 {%0, %1, %2, %3}, [%4];"
                 : "=f"(v[0]), "=f"(v[1]), "=f"(v[2]), "=f"(v[3])
                 : "l"(p)
                 : "memory");
}
__device__ __forceinline__ void ld_cg4(const int* p, int* v) {
    asm volatile("ld.global.cg.v4.s32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v[0]), "=r"(v[1]), "=r"(v[2]), "=r"(v[3])
                 : "l"(p)
                 : "memory");
}

// Split-K (grid z > 1) in the conv kernel itself: every CTA of an output tile stores its
// accumulators (J groups of 4 per thread, held by its first NT threads) as partial sums, and
// the last one to arrive, told by the tile's counter, sums all of them in z order, so the
// result does not depend on which CTA finished last, and goes on to the epilogue. Returns
// whether this CTA is that one. The counters start at zero (the workspace is zeroed when made)
// and the last CTA zeroes its own. Every thread of the CTA calls it (barriers).
template <typename Acc, int J, int NT>
__device__ __forceinline__ bool splitk_sum(const ConvParams& p, Acc* acc) {
    __shared__ int last;
    const int tile = blockIdx.y * gridDim.x + blockIdx.x;
    const bool holder = threadIdx.x < NT;
    Acc* part = (Acc*)p.partial + (i64)tile * p.splits * J * NT * 4;
    if (holder) {
#pragma unroll
        for (int j = 0; j < J; ++j) st_cg4(part + ((i64)(blockIdx.z * J + j) * NT + threadIdx.x) * 4, acc + 4 * j);
    }
    // Each thread's stores are visible device-wide before thread 0 counts this CTA in.
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(p.counters + tile, 1) == p.splits - 1;
    __syncthreads();
    if (!last) return false;
    if (!holder) return true;
    __threadfence();
    // Split z's loads all at once, one copy of the code (not one per group j); each value
    // still sums in z order.
#pragma unroll
    for (int i = 0; i < 4 * J; ++i) acc[i] = 0;
#pragma unroll 1
    for (int z = 0; z < p.splits; ++z) {
        Acc v[4 * J];
#pragma unroll
        for (int j = 0; j < J; ++j) ld_cg4(part + ((i64)(z * J + j) * NT + threadIdx.x) * 4, v + 4 * j);
#pragma unroll
        for (int i = 0; i < 4 * J; ++i) acc[i] += v[i];
    }
    if (threadIdx.x == 0) p.counters[tile] = 0;
    return true;
}

// K slices (KS > 1): the CTA's warpgroups split every stage's K KS ways and each slice holds
// its own accumulators for the whole tile; slices 1.. hand theirs to slice 0 through shared
// memory `red` (int32 sums stay exact), which adds them in slice order. Every thread calls it.
template <typename Acc, int ACC, int NT0, int KS>
__device__ __forceinline__ void slice_sum(Acc* acc, Acc* red) {
    const int slice = threadIdx.x / NT0, t = threadIdx.x % NT0;
    // Every stage's loads have landed and every warpgroup's wgmma has read them.
    __syncthreads();
    if (slice > 0) {
#pragma unroll
        for (int i = 0; i < ACC; ++i) red[((slice - 1) * ACC + i) * NT0 + t] = acc[i];
    }
    __syncthreads();
    if (slice == 0) {
#pragma unroll 1
        for (int s = 1; s < KS; ++s)
#pragma unroll
            for (int i = 0; i < ACC; ++i) acc[i] += red[((s - 1) * ACC + i) * NT0 + t];
    }
}

// WM x WN warps (WG: warpgroups of 4) share the BM x BN tile; KS slices of them (wgmma only)
// share each stage's K (slice_sum).
template <typename T, bool SM80, int BM, int BN, int BK, int WM, int WN, int STAGES, bool WG = false,
          int KS = 1>
__device__ __forceinline__ void conv_mma(const ConvParams& p) {
    typedef typename MmaAcc<T>::type Acc;
    constexpr int NT0 = WM * WN * (WG ? 128 : 32), NT = NT0 * KS;
    constexpr int EPC = 16 / sizeof(T);  // elements per 16-byte chunk
    constexpr int RB = BK * sizeof(T);   // bytes per tile row
    constexpr int CPR = RB / 16;         // chunks per tile row
    constexpr int WTM = BM / WM, WTN = BN / WN;
    constexpr int MI = WTM / 16, NI = WTN / 8;
    // Accumulators per thread: MI x NI fragments of 16 x 8 (4 each), or WTN / 64 wgmma tiles.
    constexpr int ACC = WG ? WTN / 64 * 32 : MI * NI * 4;
    constexpr int A_CH = BM * CPR / NT, B_CH = BN * CPR / NT;
    static_assert(A_CH * NT == BM * CPR && B_CH * NT == BN * CPR, "tile loads must divide evenly");
    static_assert(NI % 2 == 0, "B fragments load in pairs");
    static_assert(SM80 || STAGES == 2, "synchronous loads double-buffer");
    static_assert(WG ? SM80 && (RB == 128 || RB == 256) && WTM == 64 && WTN % 64 == 0 : RB <= 128,
                  "wgmma: 64 x 64n tiles of 128- or 256-byte rows; mma.sync: up to 128");
    static_assert(KS == 1 || (WG && (RB / 32) % KS == 0), "K slices: wgmma, whole 32-byte steps");
    constexpr int RS = RB < 128 ? RB : 128;  // bytes between rows (tile_offset)
    // wgmma's swizzle is one of addresses: the stages start on 1024-byte boundaries (the launch
    // asks 1 KiB more for it, Kernel::shared_bytes).
    extern __shared__ __align__(128) unsigned char smem_base[];
    unsigned char* smem = smem_base + (WG ? (1024 - (smem_u32(smem_base) & 1023)) & 1023 : 0);
    unsigned char* As = smem;
    unsigned char* Bs = smem + STAGES * BM * RB;
    const T* x = (const T*)p.x;
    const T* w = (const T*)p.w;
    const int M = p.out_h * p.out_w, N = p.cout, K = p.kh * p.kw * p.cin;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int kbeg = blockIdx.z * p.k_per_split;
    const int kend = min(K, kbeg + p.k_per_split);
    const int KT = (kend - kbeg + BK - 1) / BK;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / WN, wn = warp % WN;

    // NT is a multiple of CPR, so a thread's chunks all sit at k-chunk (tid % CPR) of rows
    // tid / CPR + i * NT / CPR: one k position, walked by BK per stage, serves every chunk it
    // loads, and the swizzle (period 8 rows) makes the chunks' shared offsets a fixed stride.
    constexpr int ROWS = NT / CPR;
    static_assert(ROWS % 8 == 0, "the swizzle repeats every 8 rows");
    const int my_cc = tid % CPR, row0 = tid / CPR;
    const u32 a_dst = smem_u32(As + tile_offset<RB, BM>(row0, my_cc));
    const u32 b_dst = smem_u32(Bs + tile_offset<RB, BN>(row0, my_cc));

    // Each A chunk's output pixel: its patch's top-left input pixel (a row above the image for
    // rows past M, so no tap is ever inside) and that pixel's address. A thread's pixels lie
    // ROWS apart, dy output rows and dx columns: one division serves them all.
    int a_iy[A_CH], a_ix[A_CH];
    const T* a_src[A_CH];
    const int dy = ROWS / p.out_w, dx = ROWS - dy * p.out_w;
    int oy = (m0 + row0) / p.out_w, ox = m0 + row0 - oy * p.out_w;
#pragma unroll
    for (int i = 0; i < A_CH; ++i) {
        const int m = m0 + row0 + i * ROWS;
        if (i > 0) {
            oy += dy;
            ox += dx;
            if (ox >= p.out_w) {
                ox -= p.out_w;
                ++oy;
            }
        }
        a_iy[i] = m < M ? oy * p.stride - p.pad : -(1 << 28);
        a_ix[i] = ox * p.stride - p.pad;
        a_src[i] = x + ((i64)a_iy[i] * p.in_w + a_ix[i]) * p.in_stride;
    }
    const T* b_src[B_CH];
#pragma unroll
    for (int i = 0; i < B_CH; ++i) {
        const int n = n0 + row0 + i * ROWS;
        b_src[i] = n < N ? w + (i64)n * K : nullptr;
    }

    // The k of this thread's chunk in the next stage to load, as tap (ky, kx) and channel ci,
    // and as an element offset from a patch's top-left pixel.
    int k = kbeg + my_cc * EPC, ci, kx, ky, koff;
    {
        const int tap = k / p.cin;
        ci = k - tap * p.cin;
        ky = tap / p.kw;
        kx = tap - ky * p.kw;
        koff = (ky * p.in_w + kx) * p.in_stride + ci;
    }
    // load_b: this thread's weight chunks at k = kb into `stage`; load_a: its input chunks at
    // the walk's k, which then moves on by BK.
    auto load_b = [&](int stage, int kb) {
        const bool k_ok = kb < kend;
#pragma unroll
        for (int i = 0; i < B_CH; ++i) {
            const bool in = k_ok && b_src[i];
            copy16<SM80>(b_dst + stage * BN * RB + i * ROWS * RS, in ? b_src[i] + kb : w, in ? 16 : 0);
        }
    };
    auto load_a = [&](int stage) {
        const bool k_ok = k < kend;
#pragma unroll
        for (int i = 0; i < A_CH; ++i) {
            const bool in = k_ok && (unsigned)(a_iy[i] + ky) < (unsigned)p.in_h &&
                            (unsigned)(a_ix[i] + kx) < (unsigned)p.in_w;
            copy16<SM80>(a_dst + stage * BM * RB + i * ROWS * RS, in ? a_src[i] + koff : x, in ? 16 : 0);
        }
        k += BK;
        ci += BK;
        koff += BK;
        while (ci >= p.cin) {
            ci -= p.cin;
            koff += p.in_stride - p.cin;
            if (++kx == p.kw) {
                kx = 0;
                ++ky;
                koff += (p.in_w - p.kw) * p.in_stride;
            }
        }
    };

    Acc acc[ACC];
#pragma unroll
    for (int i = 0; i < ACC; ++i) acc[i] = 0;

    // The weights of the first stages do not depend on the previous kernel: they load while it
    // ends, and join the first stage's group. These loops stay rolled, one copy of each load's
    // code: every CTA fetches the kernel's code, and shorter code made the whole frame faster
    // (docs/PERFORMANCE.md, "code size").
#pragma unroll 1
    for (int s = 0; s < STAGES - 1; ++s)
        if (s < KT) load_b(s, k + s * BK);
    prefetch_epilogue<BN>(p, n0, N);
    wait_for_previous_kernel();
    // Past the stages and what the epilogue puts in their place (Kernel::shared_bytes counts
    // this region only for convs with a residual). Split-K CTAs leave it: one of them will need it.
    constexpr int CS = BN + 4;
    constexpr int RES_AT = cmax(STAGES * (BM + BN) * RB, BM * CS * 4 + (KS - 1) * BM * BN * 4);
    unsigned char* const rs = p.res && p.splits == 1 ? smem + RES_AT : nullptr;
    if (rs) prefetch_residual<SM80, BM, BN, NT>(p, rs, m0, n0, M, N);
#pragma unroll 1
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < KT) load_a(s);
        cp_async_commit<SM80>();
    }
    // The stage after the ones in flight: stage kt + STAGES - 1 into the buffer stage kt - 1 used.
    auto load_next = [&](int kt) {
        const int next = kt + STAGES - 1;
        if (next < KT) {
            load_b(next % STAGES, k);
            load_a(next % STAGES);
        }
        cp_async_commit<SM80>();
    };
    // wgmma: this warpgroup's 64 rows of A and WTN rows of B in stage 0, from its slice's first
    // step ks0 of the stage's RB / 32, as descriptors' low words (wg_desc_lo).
    constexpr int STEPS = RB / 32 / KS;
    const int wg = warp / 4 % (WM * WN), ks0 = warp / 4 / (WM * WN) * STEPS;
    const u32 a_lo = wg_desc_lo(smem_u32(As) + wg / WN * 64 * RS + ks0 / 4 * BM * 128 + ks0 % 4 * 32);
    const u32 b_lo = wg_desc_lo(smem_u32(Bs) + wg % WN * WTN * RS + ks0 / 4 * BN * 128 + ks0 % 4 * 32);
    for (int kt = 0; kt < KT; ++kt) {
        cp_async_wait<SM80, STAGES - 2>();
        if constexpr (WG) fence_async_shared();
        // Makes stage kt visible (and, for mma.sync, every warp is done with stage kt - 1).
        __syncthreads();
        if constexpr (!WG) load_next(kt);
        const int st = kt % STAGES;
        const unsigned char* as = As + st * BM * RB;
        const unsigned char* bs = Bs + st * BN * RB;
        if constexpr (WG) {
            // 32 bytes of K at a time (the 128-byte tiles of tile_offset one after the other).
            // They multiply while the warps go on: only the previous stage's group is waited
            // for, and once every warpgroup has (the barrier), its buffer takes the next loads.
            // The tensor cores stay busy through the barriers and the load issue of the next
            // stage.
            const u32 sa = a_lo + st * (BM * RB / 16), sb = b_lo + st * (BN * RB / 16);
            wg_fence_operands<ACC>(acc);
            wgmma_begin();
#pragma unroll
            for (int ks = 0; ks < STEPS; ++ks) {
                const u32 ka = ks / 4 * BM * 128 + ks % 4 * 32, kb = ks / 4 * BN * 128 + ks % 4 * 32;
#pragma unroll
                for (int j = 0; j < WTN / 64; ++j)
                    wgmma_64x64(acc + 32 * j, wg_desc(sa + ka / 16), wg_desc(sb + (j * 64 * RS + kb) / 16));
            }
            wgmma_commit();
            wgmma_wait<1>();
            wg_fence_operands<ACC>(acc);
            __syncthreads();
            load_next(kt);
        } else {
#pragma unroll
            for (int ks = 0; ks < RB / 32; ++ks) {
                u32 a[MI][4];
#pragma unroll
                for (int mi = 0; mi < MI; ++mi) {
                    const int r = wm * WTM + mi * 16 + (lane & 15);
                    ldmatrix_x4(a[mi], smem_u32(as + swz<RB>(r, ks * 2 + (lane >> 4))));
                }
                mma_step<SM80, MI, NI>(acc, a, [&](int r, int h) {
                    return smem_u32(bs + swz<RB>(wn * WTN + r, ks * 2 + h));
                });
            }
        }
    }
    if constexpr (WG) {
        wgmma_wait<0>();
        wg_fence_operands<ACC>(acc);
    }
    cp_async_wait<SM80, 0>();
    start_next_kernel();

    // The accumulator tile goes through shared memory as floats (int32 sums convert exactly as
    // the CPU's `as f32` does: round to nearest even), rows padded by 4 floats so the float2
    // writes of a warp hit 32 different banks; the epilogue then runs once per 8 channels with
    // 16-byte loads and stores, in a loop small enough not to be unrolled per fragment. The
    // slices' sums lie after that tile (Kernel::shared_bytes counts both).
    if constexpr (KS > 1) slice_sum<Acc, ACC, NT0, KS>(acc, (Acc*)(smem + BM * CS * 4));
    if (p.splits > 1 && !splitk_sum<Acc, ACC / 4, NT0>(p, acc)) return;
    __syncthreads();
    float* ct = (float*)smem;
    // Both layouts are 16 x 8 fragments: MI x NI per warp, or per wgmma tile 8 of one warp's
    // 16 rows of the warpgroup's 64.
    constexpr int FM = WG ? 1 : MI, FN = WG ? WTN / 8 : NI;
    const int frow = WG ? warp / 4 / WN * 64 + warp % 4 * 16 : wm * WTM;
    const int fcol = WG ? warp / 4 % WN * WTN : wn * WTN;
    // Slice 0 holds the sums; all NT threads run the epilogue.
    if (tid < NT0) fragments_to_tile<FM, FN, CS>(ct, acc, frow, fcol);
    __syncthreads();
    conv_epilogue_tile<BM, BN, NT, CS>(p, ct, rs, m0, n0, M, N);
}

// A conv over pixels of one 16-byte chunk, 8 FP16 channels (the first conv, whose input the
// plan pads to 8), with at most 16 taps: the im2col tiles of conv_mma read every input pixel
// once per tap (9 times for 3x3) in 16-byte loads, with a bounds test each. Here a CTA takes BM
// pixels of one output row, loads the kh input rows under them into shared memory once (zeros
// outside the image) and its filters' weights once, and ldmatrix reads each tap's A fragment
// straight out of that patch: a lane's row address is its pixel's tap. 4 warps of BM / 4 pixels
// by BN filters, mma.sync m16n8k16, K in pairs of taps (an odd last tap pairs with a zero chunk).
template <int BM, int BN>
__device__ __forceinline__ void conv_patch(const ConvParams& p) {
    constexpr int NT = 128, WTM = BM / 4, MI = WTM / 16, NI = BN / 8, CS = BN + 4;
    static_assert(MI >= 1 && NI % 2 == 0, "16-row A fragments, B fragments in pairs");
    const int taps = p.kh * p.kw, KS = (taps + 1) / 2;
    // A filter's row of chunks, one per tap: an odd count, so the 8 rows an ldmatrix reads lie
    // in 8 different bank groups.
    const int WR = 2 * KS + 1;
    const int PW = (BM - 1) * p.stride + p.kw, patch = p.kh * PW;
    extern __shared__ __align__(16) unsigned char smem[];
    unsigned char* const ws = smem;
    unsigned char* const ps = smem + BN * WR * 16;  // kh rows of PW chunks, then a zero chunk
    const int row_tiles = (p.out_w + BM - 1) / BM;
    const int oy = blockIdx.x / row_tiles, ox0 = (blockIdx.x - oy * row_tiles) * BM;
    const int n0 = blockIdx.y * BN;
    const half_t* w = (const half_t*)p.w;
    const half_t* x = (const half_t*)p.x;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
#pragma unroll 1
    for (int i = tid; i < BN * WR; i += NT) {
        const int r = i / WR, t = i - r * WR;
        const bool in = n0 + r < p.cout && t < taps;
        copy16<true>(smem_u32(ws + i * 16), in ? w + ((i64)(n0 + r) * taps + t) * 8 : w, in ? 16 : 0);
    }
    prefetch_epilogue<BN>(p, n0, p.cout);
    wait_for_previous_kernel();
#pragma unroll 1
    for (int i = tid; i <= patch; i += NT) {
        const int ky = i / PW, j = i - ky * PW;
        const int iy = oy * p.stride - p.pad + ky, ix = ox0 * p.stride - p.pad + j;
        const bool in = i < patch && (unsigned)iy < (unsigned)p.in_h && (unsigned)ix < (unsigned)p.in_w;
        copy16<true>(smem_u32(ps + i * 16), in ? x + ((i64)iy * p.in_w + ix) * p.in_stride : x, in ? 16 : 0);
    }
    cp_async_commit<true>();
    cp_async_wait<true, 0>();
    __syncthreads();

    float acc[MI * NI * 4];
#pragma unroll
    for (int i = 0; i < MI * NI * 4; ++i) acc[i] = 0.0f;
#pragma unroll 1
    for (int ks = 0; ks < KS; ++ks) {
        // ldmatrix's A order: lanes 0-15 give rows 0-15 at the step's first 8 K (tap 2 ks),
        // lanes 16-31 the same rows at its second 8 (tap 2 ks + 1).
        const int t = 2 * ks + (lane >> 4), ky = t / p.kw, kx = t - ky * p.kw;
        u32 a[MI][4];
#pragma unroll
        for (int mi = 0; mi < MI; ++mi) {
            const int r = warp * WTM + mi * 16 + (lane & 15);
            const int chunk = t < taps ? ky * PW + r * p.stride + kx : patch;
            ldmatrix_x4(a[mi], smem_u32(ps + chunk * 16));
        }
        mma_step<true, MI, NI>(acc, a, [&](int r, int h) { return smem_u32(ws + (r * WR + 2 * ks + h) * 16); });
    }
    start_next_kernel();
    // Every warp is done with the patch and the weights: the accumulator tile takes their place.
    __syncthreads();
    float* ct = (float*)smem;
    fragments_to_tile<MI, NI, CS>(ct, acc, warp * WTM, 0);
    __syncthreads();
    // The tile's pixels are m0 .. m0 + BM - 1 of the row, those left of its end.
    const int m0 = oy * p.out_w + ox0;
    conv_epilogue_tile<BM, BN, NT, CS>(p, ct, nullptr, m0, n0, m0 + min(BM, p.out_w - ox0), p.cout);
}

// Names: conv_patch_f16_<BM>x<BN>.
#define CONV_PATCH(BM, BN) \
    extern "C" __global__ void __launch_bounds__(128) conv_patch_f16_##BM##x##BN(ConvParams p) { conv_patch<BM, BN>(p); }

// Names: conv_<hmma|imma|imma75>_<BM>x<BN>x<BK>_w<WM>x<WN>_s<STAGES>, BK in elements;
// engine/src/backend/cuda/tactics.rs lists them.
#define CONV_MMA(NAME, T, SM80, BM, BN, BK, WM, WN, STAGES)                                    \
    extern "C" __global__ void __launch_bounds__(WM * WN * 32)                                \
        conv_##NAME##_##BM##x##BN##x##BK##_w##WM##x##WN##_s##STAGES(ConvParams p) {            \
        conv_mma<T, SM80, BM, BN, BK, WM, WN, STAGES>(p);                                      \
    }

// Names: conv_<wghmma|wgimma>_<BM>x<BN>x<BK>_g<WM>x<WN>_s<STAGES>, WM x WN warpgroups;
// ..._g<WM>x<WN>k<KS>_s<STAGES> with KS slices of them on K.
#define CONV_WGMMA(NAME, T, BM, BN, BK, WM, WN, STAGES)                                       \
    extern "C" __global__ void __launch_bounds__(WM * WN * 128)                               \
        conv_##NAME##_##BM##x##BN##x##BK##_g##WM##x##WN##_s##STAGES(ConvParams p) {            \
        conv_mma<T, true, BM, BN, BK, WM, WN, STAGES, true>(p);                                \
    }
#define CONV_WGMMA_SLICED(NAME, T, BM, BN, BK, WM, WN, KS, STAGES)                            \
    extern "C" __global__ void __launch_bounds__(WM * WN * KS * 128)                          \
        conv_##NAME##_##BM##x##BN##x##BK##_g##WM##x##WN##k##KS##_s##STAGES(ConvParams p) {     \
        conv_mma<T, true, BM, BN, BK, WM, WN, STAGES, true, KS>(p);                            \
    }

// wgmma needs sm_90a (the arch-specific Hopper target the builder compiles for on cc 9.0).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
CONV_WGMMA(wghmma, half_t, 64, 64, 64, 1, 1, 4)
CONV_WGMMA(wghmma, half_t, 64, 64, 64, 1, 1, 6)
CONV_WGMMA(wghmma, half_t, 64, 128, 64, 1, 1, 4)
CONV_WGMMA(wghmma, half_t, 64, 128, 64, 1, 2, 4)
CONV_WGMMA(wghmma, half_t, 128, 64, 64, 2, 1, 4)
CONV_WGMMA(wghmma, half_t, 128, 128, 64, 2, 1, 3)
CONV_WGMMA(wgimma, s8_t, 64, 64, 128, 1, 1, 4)
CONV_WGMMA(wgimma, s8_t, 64, 64, 128, 1, 1, 6)
CONV_WGMMA(wgimma, s8_t, 64, 128, 128, 1, 1, 4)
CONV_WGMMA(wgimma, s8_t, 64, 128, 128, 1, 2, 4)
CONV_WGMMA(wgimma, s8_t, 128, 64, 128, 2, 1, 4)
CONV_WGMMA(wgimma, s8_t, 128, 128, 128, 2, 1, 3)
CONV_WGMMA(wgimma, s8_t, 64, 64, 256, 1, 1, 3)
CONV_WGMMA(wgimma, s8_t, 64, 64, 256, 1, 1, 4)
CONV_WGMMA(wgimma, s8_t, 128, 64, 256, 2, 1, 3)
CONV_WGMMA_SLICED(wghmma, half_t, 64, 64, 64, 1, 1, 2, 4)
CONV_WGMMA_SLICED(wghmma, half_t, 64, 64, 128, 1, 1, 2, 3)
CONV_WGMMA_SLICED(wghmma, half_t, 64, 64, 128, 1, 1, 2, 4)
CONV_WGMMA_SLICED(wghmma, half_t, 64, 64, 128, 1, 1, 4, 4)
CONV_WGMMA_SLICED(wgimma, s8_t, 64, 64, 128, 1, 1, 2, 4)
CONV_WGMMA_SLICED(wgimma, s8_t, 64, 64, 256, 1, 1, 2, 3)
CONV_WGMMA_SLICED(wgimma, s8_t, 64, 64, 256, 1, 1, 2, 4)
CONV_WGMMA_SLICED(wgimma, s8_t, 64, 64, 256, 1, 1, 4, 4)
#endif

// cp.async and the m16n8k16 f16 / m16n8k32 s8 shapes need sm_80: an sm_75 build leaves them out.
#if __CUDA_ARCH__ >= 800
CONV_MMA(hmma, half_t, true, 128, 128, 32, 2, 2, 3)
CONV_MMA(hmma, half_t, true, 128, 128, 32, 2, 4, 3)
CONV_MMA(hmma, half_t, true, 128, 64, 32, 2, 2, 3)
CONV_MMA(hmma, half_t, true, 64, 128, 32, 2, 2, 3)
CONV_MMA(hmma, half_t, true, 64, 64, 32, 2, 2, 4)
CONV_MMA(hmma, half_t, true, 32, 64, 32, 1, 2, 4)
CONV_MMA(hmma, half_t, true, 128, 128, 64, 2, 4, 3)
CONV_MMA(hmma, half_t, true, 128, 64, 64, 2, 2, 4)
CONV_MMA(hmma, half_t, true, 64, 128, 64, 2, 2, 4)
CONV_MMA(hmma, half_t, true, 64, 64, 64, 2, 2, 4)
CONV_MMA(hmma, half_t, true, 64, 64, 64, 2, 2, 3)
CONV_MMA(hmma, half_t, true, 64, 64, 64, 2, 2, 6)
CONV_MMA(hmma, half_t, true, 64, 64, 64, 2, 4, 4)
CONV_MMA(hmma, half_t, true, 128, 64, 64, 4, 2, 4)
CONV_MMA(hmma, half_t, true, 64, 128, 64, 2, 4, 4)
CONV_MMA(hmma, half_t, true, 128, 32, 32, 4, 1, 3)
CONV_PATCH(128, 32)
CONV_PATCH(64, 32)

CONV_MMA(imma, s8_t, true, 128, 128, 64, 2, 4, 3)
CONV_MMA(imma, s8_t, true, 128, 64, 64, 2, 2, 3)
CONV_MMA(imma, s8_t, true, 64, 64, 64, 2, 2, 4)
CONV_MMA(imma, s8_t, true, 32, 64, 64, 1, 2, 4)
CONV_MMA(imma, s8_t, true, 128, 128, 128, 2, 4, 3)
CONV_MMA(imma, s8_t, true, 128, 64, 128, 2, 2, 4)
CONV_MMA(imma, s8_t, true, 64, 128, 128, 2, 2, 4)
CONV_MMA(imma, s8_t, true, 64, 64, 128, 2, 2, 4)
CONV_MMA(imma, s8_t, true, 64, 64, 128, 2, 2, 6)
CONV_MMA(imma, s8_t, true, 64, 64, 128, 2, 4, 4)
CONV_MMA(imma, s8_t, true, 128, 64, 128, 4, 2, 4)
CONV_MMA(imma, s8_t, true, 64, 128, 128, 2, 4, 4)
CONV_MMA(imma, s8_t, true, 128, 32, 64, 4, 1, 3)
#endif
// Turing's INT8 tensor cores (m8n8k16 and ldmatrix need sm_75; built for every later
// architecture too, so a newer GPU can run them in tests). Tiles whose FP32 epilogue tile fits
// Turing's 64 KiB of shared memory. Older GPUs (Pascal, Xavier's sm_72) run INT8 on dp4a.
#if __CUDA_ARCH__ >= 750
CONV_MMA(imma75, s8_t, false, 128, 64, 64, 2, 2, 2)
CONV_MMA(imma75, s8_t, false, 64, 64, 64, 2, 2, 2)
#endif
