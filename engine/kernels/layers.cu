// The layers around the convolutions, one thread per output element (pixel p, channel c),
// each tensor read and written through its pixel stride. T is the plan's float type.

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

// Every layer kernel takes this one struct (mirrored by `LayerParams` in launch.rs), so the
// host launches them all the same way. In an INT8 plan any activation may be int8: each
// operand's type comes at run time (ldx / stx in common.cuh).
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
    float x_scale, b_scale;        // int8 operands: their scales; 0: the float type
    float y_inv;                   // an int8 output: 1 / its scale; 0: the float type
};

// Darknet maxpool: `pad_before` rows/columns of padding that never win.
template <typename T>
__device__ __forceinline__ void maxpool(const LayerParams& q) {
    int p, c;
    if (!element(q.s, p, c)) return;
    const int oy = p / q.out_w, ox = p - oy * q.out_w;
    float best = -3.402823466e38f;
    for (int ky = 0; ky < q.size; ++ky) {
        const int iy = oy * q.stride - q.pad_before + ky;
        if (iy < 0 || iy >= q.in_h) continue;
        for (int kx = 0; kx < q.size; ++kx) {
            const int ix = ox * q.stride - q.pad_before + kx;
            if (ix < 0 || ix >= q.in_w) continue;
            best = fmaxf(best, ldx<T>(q.x, ((i64)iy * q.in_w + ix) * q.s.x_stride + c, q.x_scale));
        }
    }
    stx<T>(q.y, (i64)p * q.s.y_stride + c, best, q.y_inv);
}

// Nearest neighbour; `size` is the factor. Float to float copies exactly; int8 requantizes.
template <typename T>
__device__ __forceinline__ void upsample(const LayerParams& q) {
    int p, c;
    if (!element(q.s, p, c)) return;
    const int oy = p / q.out_w, ox = p - oy * q.out_w;
    const i64 src = ((i64)(oy / q.size) * q.in_w + ox / q.size) * q.s.x_stride + c;
    stx<T>(q.y, (i64)p * q.s.y_stride + c, ldx<T>(q.x, src, q.x_scale), q.y_inv);
}

// Batch norm that was not folded into a conv: x * mul + add per channel, rounded twice as on
// the CPU.
template <typename T>
__device__ __forceinline__ void scale_shift(const LayerParams& q) {
    int p, c;
    if (!element(q.s, p, c)) return;
    const float v = ldx<T>(q.x, (i64)p * q.s.x_stride + c, q.x_scale);
    stx<T>(q.y, (i64)p * q.s.y_stride + c, __fadd_rn(__fmul_rn(v, q.mul[c]), q.add[c]), q.y_inv);
}

template <typename T>
__device__ __forceinline__ void activation(const LayerParams& q) {
    int p, c;
    if (!element(q.s, p, c)) return;
    const float v = ldx<T>(q.x, (i64)p * q.s.x_stride + c, q.x_scale);
    stx<T>(q.y, (i64)p * q.s.y_stride + c, activate(v, q.act), q.y_inv);
}

// act(x + b); b has its own pixel stride.
template <typename T>
__device__ __forceinline__ void add(const LayerParams& q) {
    int p, c;
    if (!element(q.s, p, c)) return;
    const float v = __fadd_rn(ldx<T>(q.x, (i64)p * q.s.x_stride + c, q.x_scale),
                              ldx<T>(q.b, (i64)p * q.b_stride + c, q.b_scale));
    stx<T>(q.y, (i64)p * q.s.y_stride + c, activate(v, q.act), q.y_inv);
}

// A concat input or channel slice that could not be placed in its output's storage
// (requantized where the two buffers' int8 scales differ).
template <typename T>
__device__ __forceinline__ void copy_channels(const LayerParams& q) {
    int p, c;
    if (!element(q.s, p, c)) return;
    const float v = ldx<T>(q.x, (i64)p * q.s.x_stride + c, q.x_scale);
    stx<T>(q.y, (i64)p * q.s.y_stride + c, v, q.y_inv);
}

// A kernel entry per layer and float type: wait for the previous kernel, then the layer.
#define LAYER(NAME, S, T)                                                                      \
    extern "C" __global__ void NAME##_##S(LayerParams q) {                                     \
        wait_for_previous_kernel();                                                            \
        NAME<T>(q);                                                                            \
    }
#define LAYERS(S, T)                                                                           \
    LAYER(maxpool, S, T)                                                                       \
    LAYER(upsample, S, T)                                                                      \
    LAYER(scale_shift, S, T)                                                                   \
    LAYER(activation, S, T)                                                                    \
    LAYER(add, S, T)                                                                           \
    LAYER(copy_channels, S, T)

LAYERS(f32, float)
LAYERS(f16, half_t)

// The plan's FP32 input binding into the network's first tensor (channels from `size` on are
// padding: zeros), and heads (float type or, were one int8, dequantized) back to FP32.
extern "C" __global__ void convert_f32_f16(LayerParams q) {
    wait_for_previous_kernel();
    int p, c;
    if (!element(q.s, p, c)) return;
    const float v = c < q.size ? ((const float*)q.x)[(i64)p * q.s.x_stride + c] : 0.0f;
    ((half_t*)q.y)[(i64)p * q.s.y_stride + c] = f2h(v);
}
extern "C" __global__ void convert_f16_f32(LayerParams q) {
    wait_for_previous_kernel();
    int p, c;
    if (!element(q.s, p, c)) return;
    ((float*)q.y)[(i64)p * q.s.y_stride + c] = ldx<half_t>(q.x, (i64)p * q.s.x_stride + c, q.x_scale);
}
