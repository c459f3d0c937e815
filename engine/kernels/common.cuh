// Shared by every kernel file. NVRTC compiles the files as one unit, this one first
// (engine/src/backend/cuda/kernels.rs), with no toolkit header: half precision goes through
// PTX conversions on 16-bit integers, so a JetPack's or a pip wheel's NVRTC alone builds them.

typedef unsigned short half_t;
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
__device__ __forceinline__ void stf(float* p, float v) { *p = v; }
__device__ __forceinline__ void stf(half_t* p, float v) { *p = f2h(v); }

// The order of edge_engine::graph::Activation.
enum { ACT_LINEAR = 0, ACT_LEAKY = 1, ACT_RELU = 2, ACT_LOGISTIC = 3, ACT_MISH = 4, ACT_SWISH = 5 };

__device__ __forceinline__ float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

__device__ __forceinline__ float activate(float x, int act) {
    switch (act) {
    case ACT_LEAKY: return x > 0.0f ? x : 0.1f * x;
    case ACT_RELU: return fmaxf(x, 0.0f);
    case ACT_LOGISTIC: return sigmoidf(x);
    case ACT_MISH: return x * tanhf(x > 20.0f ? x : log1pf(expf(x)));
    case ACT_SWISH: return x * sigmoidf(x);
    default: return x;
    }
}

// One convolution launch; mirrored by `ConvParams` in engine/src/backend/cuda/launch.rs.
// Tensors are NHWC with a pixel stride (a concat slice is a window of a wider tensor).
// Weights are [filters][kh][kw][cin / groups]; K = kh * kw * cin / groups.
struct ConvParams {
    const void* x;
    const void* w;
    const float* bias;
    const void* res;    // residual added after `act`, or null
    void* y;
    float* partial;     // split-K partial sums [splits][M][cout], or null
    int in_h, in_w, cin, in_stride;
    int out_h, out_w, cout, out_stride, res_stride;
    int kh, kw, stride, pad;
    int up;             // the input is read nearest-upsampled by this factor (1: plain)
    int groups, act, post_act;
    int splits, k_per_split;
    int vec8;           // output and residual strides and offsets are multiples of 8
};

// act(acc + bias), then post_act(. + residual): the CPU backend's conv epilogue.
template <typename T>
__device__ __forceinline__ void conv_store(const ConvParams& p, int m, int n, float acc) {
    float v = activate(acc + p.bias[n], p.act);
    if (p.res) {
        v = activate(v + ldf((const T*)p.res + (i64)m * p.res_stride + n), p.post_act);
    }
    stf((T*)p.y + (i64)m * p.out_stride + n, v);
}
