// Shared by every kernel file. NVRTC compiles the files as one unit, this one first
// (engine/src/backend/cuda/kernels.rs), with no toolkit header: half precision goes through
// PTX conversions on 16-bit integers, so a JetPack's or a pip wheel's NVRTC alone builds them.

typedef unsigned short half_t;
typedef signed char s8_t;
typedef unsigned int u32;
typedef long long i64;

__device__ __forceinline__ float h2f(half_t h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ half_t f2h(float f) {
    half_t h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

__device__ __forceinline__ float ldf(const float* p) { return *p; }
__device__ __forceinline__ float ldf(const half_t* p) { return h2f(*p); }
// Through the read-only path: for weights, which no kernel writes, so they may be read before
// wait_for_previous_kernel (the kernel tests check that only such loads come before it).
__device__ __forceinline__ float ldf_ro(const float* p) { return __ldg(p); }
__device__ __forceinline__ float ldf_ro(const half_t* p) { return h2f(__ldg(p)); }
__device__ __forceinline__ void stf(float* p, float v) { *p = v; }
__device__ __forceinline__ void stf(half_t* p, float v) { *p = f2h(v); }

// Programmatic dependent launch (sm_90+, see `Launch::record` in
// engine/src/backend/cuda/launch.rs): a kernel of the frame may be scheduled before the one
// ahead of it ends, so each kernel calls wait_for_previous_kernel before it reads or writes any
// activation, counter or output. It returns once the previous kernel has finished and its
// writes are visible; every kernel waiting, each one is ordered after all earlier ones.
// start_next_kernel lets the next kernel be scheduled before this one ends (otherwise that
// happens as this one's CTAs exit). Only the tensor-core convs call it, once their main loop
// is done: called at the start of every kernel, it made YOLOv3 FP16 7% and FP32 26% slower on
// an H200 (the next kernel's waiting CTAs took SMs the running one needed); after the main
// loop it gains INT8 2-5% and moves FP16 by -3..+4% with the tiles tuned (scripts/gpu-ab.sh,
// docs/PERFORMANCE.md).
// Launched without the attribute, or built for an older GPU, both do nothing.
__device__ __forceinline__ void wait_for_previous_kernel() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void start_next_kernel() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// INT8 storage, the rules of engine/src/quant.rs, which the CPU backend reproduces bit for bit:
// a read is q * scale, a store clamp(round_half_even(v * inv_scale), -127, 127). Products and
// sums that must round like the CPU's use the _rn intrinsics: NVRTC would otherwise contract
// a * b + c into one fused multiply-add, which Rust never does.
__device__ __forceinline__ float dequantize(s8_t q, float scale) { return __fmul_rn((float)q, scale); }
__device__ __forceinline__ s8_t quantize(float v, float inv_scale) {
    int q;
    // Round half to even; NaN becomes 0 and infinities saturate, as Rust's `as i8` does.
    asm("cvt.rni.s32.f32 %0, %1;" : "=r"(q) : "f"(__fmul_rn(v, inv_scale)));
    return (s8_t)max(-127, min(127, q));
}

// An activation whose type is known at run time: int8 with `scale` (non-zero), or the plan's
// float type T (scale 0). Stores take the reciprocal of the scale.
template <typename T>
__device__ __forceinline__ float ldx(const void* p, i64 i, float scale) {
    return scale != 0.0f ? dequantize(((const s8_t*)p)[i], scale) : ldf((const T*)p + i);
}
template <typename T>
__device__ __forceinline__ void stx(void* p, i64 i, float v, float inv_scale) {
    if (inv_scale != 0.0f) {
        ((s8_t*)p)[i] = quantize(v, inv_scale);
    } else {
        stf((T*)p + i, v);
    }
}

// The order of edge_engine::graph::Activation.
enum { ACT_LINEAR = 0, ACT_LEAKY = 1, ACT_RELU = 2, ACT_LOGISTIC = 3, ACT_MISH = 4, ACT_SWISH = 5 };

__device__ __forceinline__ float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

// The smooth activations, called out of line: inlined into every epilogue they made each conv
// kernel's code several kilobytes longer, code that every CTA fetches once, at its end.
__device__ __noinline__ float activate_smooth(float x, int act) {
    switch (act) {
    case ACT_LOGISTIC: return sigmoidf(x);
    case ACT_MISH: return x * tanhf(x > 20.0f ? x : log1pf(expf(x)));
    case ACT_SWISH: return x * sigmoidf(x);
    default: return x;
    }
}

__device__ __forceinline__ float activate(float x, int act) {
    switch (act) {
    case ACT_LINEAR: return x;
    case ACT_LEAKY: return x > 0.0f ? x : 0.1f * x;
    case ACT_RELU: return fmaxf(x, 0.0f);
    default: return activate_smooth(x, act);
    }
}

// The piecewise-linear activations (linear, leaky, ReLU) as max(x, slope * x), slope 1 or 0.1,
// or max(x, 0): bit for bit what activate gives (signed zeros and NaN included), with no branch
// per value. `act` is one per launch.
struct LinearAct {
    float slope;
    bool relu;
};
__device__ __forceinline__ LinearAct linear_act(int act) { return {act == ACT_LEAKY ? 0.1f : 1.0f, act == ACT_RELU}; }
__device__ __forceinline__ float apply(LinearAct a, float x) { return a.relu ? fmaxf(x, 0.0f) : fmaxf(x, a.slope * x); }

// One convolution launch; mirrored by `ConvParams` in engine/src/backend/cuda/launch.rs.
// Tensors are NHWC with a pixel stride (a concat slice is a window of a wider tensor).
// Weights are [filters][kh][kw][cin / groups]; K = kh * kw * cin / groups. An INT8 conv reads
// int8 inputs and weights; its output and residual may be int8 or the plan's float type.
struct ConvParams {
    const void* x;
    const void* w;
    const float* bias;
    const float* wmul;  // INT8 convs: s_x * s_w[n], the int32 sum's scale per filter; else null
    const void* res;    // residual added after `act`, or null
    void* y;
    void* partial;      // split-K partial sums [tile][split][tile's values] (float; int32 for INT8)
    int* counters;      // split-K: per output tile, how many of its CTAs are done (zero between launches)
    float res_scale;    // an int8 residual's scale; 0: the float type
    float y_inv;        // an int8 output's 1 / scale; 0: the float type
    int in_h, in_w, cin, in_stride;
    int out_h, out_w, cout, out_stride, res_stride;
    int kh, kw, stride, pad;
    int groups, act, post_act;
    int splits, k_per_split;
    int vec8;           // output and residual strides and offsets are multiples of 8
};

// The CPU backend's conv epilogue: act(acc * wmul + bias) (INT8: `acc` is the exact int32 sum
// converted to float; float convs have no wmul), then post_act(. + residual), then the store.
__device__ __forceinline__ float conv_act(const ConvParams& p, float acc, float wmul, float bias) {
    return activate(__fadd_rn(p.wmul ? __fmul_rn(acc, wmul) : acc, bias), p.act);
}
__device__ __forceinline__ float conv_act(const ConvParams& p, int n, float acc) {
    return conv_act(p, acc, p.wmul ? p.wmul[n] : 0.0f, p.bias[n]);
}
__device__ __forceinline__ float conv_residual(const ConvParams& p, float v, float r) {
    return activate(__fadd_rn(v, r), p.post_act);
}

template <typename T>
__device__ __forceinline__ void conv_store(const ConvParams& p, int m, int n, float acc) {
    float v = conv_act(p, n, acc);
    if (p.res) v = conv_residual(p, v, ldx<T>(p.res, (i64)m * p.res_stride + n, p.res_scale));
    stx<T>(p.y, (i64)m * p.out_stride + n, v, p.y_inv);
}
