// The layers around the convolutions, one thread per output element (pixel p, channel c),
// each tensor read and written through its pixel stride. T is the plan's activation type.

struct Strided {
    int pixels, channels;
    int x_stride, y_stride;
};

__device__ __forceinline__ bool element(const Strided& s, int& p, int& c) {
    const i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (i64)s.pixels * s.channels) return false;
    p = (int)(i / s.channels);
    c = (int)(i - (i64)p * s.channels);
    return true;
}

// Darknet maxpool: `pad_before` rows/columns of padding that never win.
template <typename T>
__device__ __forceinline__ void maxpool(const T* x, T* y, Strided s, int in_h, int in_w, int out_w,
                                        int size, int stride, int pad_before) {
    int p, c;
    if (!element(s, p, c)) return;
    const int oy = p / out_w, ox = p - oy * out_w;
    float best = -3.402823466e38f;
    for (int ky = 0; ky < size; ++ky) {
        const int iy = oy * stride - pad_before + ky;
        if (iy < 0 || iy >= in_h) continue;
        for (int kx = 0; kx < size; ++kx) {
            const int ix = ox * stride - pad_before + kx;
            if (ix < 0 || ix >= in_w) continue;
            best = fmaxf(best, ldf(x + ((i64)iy * in_w + ix) * s.x_stride + c));
        }
    }
    stf(y + (i64)p * s.y_stride + c, best);
}

template <typename T>
__device__ __forceinline__ void upsample(const T* x, T* y, Strided s, int in_w, int out_w, int scale) {
    int p, c;
    if (!element(s, p, c)) return;
    const int oy = p / out_w, ox = p - oy * out_w;
    y[(i64)p * s.y_stride + c] = x[((i64)(oy / scale) * in_w + ox / scale) * s.x_stride + c];
}

// Batch norm that was not folded into a conv: x * mul + add per channel.
template <typename T>
__device__ __forceinline__ void scale_shift(const T* x, T* y, Strided s, const float* mul,
                                            const float* add) {
    int p, c;
    if (!element(s, p, c)) return;
    stf(y + (i64)p * s.y_stride + c, ldf(x + (i64)p * s.x_stride + c) * mul[c] + add[c]);
}

template <typename T>
__device__ __forceinline__ void activation(const T* x, T* y, Strided s, int act) {
    int p, c;
    if (!element(s, p, c)) return;
    stf(y + (i64)p * s.y_stride + c, activate(ldf(x + (i64)p * s.x_stride + c), act));
}

// act(a + b); b has its own pixel stride.
template <typename T>
__device__ __forceinline__ void add(const T* a, const T* b, T* y, Strided s, int b_stride, int act) {
    int p, c;
    if (!element(s, p, c)) return;
    const float v = ldf(a + (i64)p * s.x_stride + c) + ldf(b + (i64)p * b_stride + c);
    stf(y + (i64)p * s.y_stride + c, activate(v, act));
}

// A concat input or channel slice that could not be placed in its output's storage.
template <typename T>
__device__ __forceinline__ void copy_channels(const T* x, T* y, Strided s) {
    int p, c;
    if (!element(s, p, c)) return;
    y[(i64)p * s.y_stride + c] = x[(i64)p * s.x_stride + c];
}

// Every layer kernel takes this one struct (mirrored by `LayerParams` in launch.rs), so the
// host launches them all the same way.
struct LayerParams {
    const void* x;
    const void* b;      // add: the second operand
    void* y;
    const float* mul;   // scale_shift
    const float* add;
    Strided s;
    int b_stride, act;
    int in_h, in_w, out_w;
    int size, stride, pad_before;  // maxpool; `size` is the scale for upsample
};

#define LAYERS(S, T)                                                                           \
    extern "C" __global__ void maxpool_##S(LayerParams q) {                                    \
        maxpool((const T*)q.x, (T*)q.y, q.s, q.in_h, q.in_w, q.out_w, q.size, q.stride,        \
                q.pad_before);                                                                 \
    }                                                                                          \
    extern "C" __global__ void upsample_##S(LayerParams q) {                                   \
        upsample((const T*)q.x, (T*)q.y, q.s, q.in_w, q.out_w, q.size);                        \
    }                                                                                          \
    extern "C" __global__ void scale_shift_##S(LayerParams q) {                                \
        scale_shift((const T*)q.x, (T*)q.y, q.s, q.mul, q.add);                                \
    }                                                                                          \
    extern "C" __global__ void activation_##S(LayerParams q) {                                 \
        activation((const T*)q.x, (T*)q.y, q.s, q.act);                                        \
    }                                                                                          \
    extern "C" __global__ void add_##S(LayerParams q) {                                        \
        add((const T*)q.x, (const T*)q.b, (T*)q.y, q.s, q.b_stride, q.act);                    \
    }                                                                                          \
    extern "C" __global__ void copy_channels_##S(LayerParams q) {                              \
        copy_channels((const T*)q.x, (T*)q.y, q.s);                                            \
    }

LAYERS(f32, float)
LAYERS(f16, half_t)

// The plan's FP32 input binding into the network's first tensor (channels from `size` on are
// padding: zeros), and heads back to FP32.
extern "C" __global__ void convert_f32_f16(LayerParams q) {
    int p, c;
    if (!element(q.s, p, c)) return;
    const float v = c < q.size ? ((const float*)q.x)[(i64)p * q.s.x_stride + c] : 0.0f;
    ((half_t*)q.y)[(i64)p * q.s.y_stride + c] = f2h(v);
}
extern "C" __global__ void convert_f16_f32(LayerParams q) {
    int p, c;
    if (!element(q.s, p, c)) return;
    ((float*)q.y)[(i64)p * q.s.y_stride + c] = h2f(((const half_t*)q.x)[(i64)p * q.s.x_stride + c]);
}
