// Camera pixels to the network input on the GPU: the same bilinear letterbox taps (computed
// once on the host, as the CPU converter does), BT.601 limited-range YUV to RGB and
// normalization, one thread per input pixel, writing the plan's activation type.

// Mirrored by engine/src/backend/cuda/preprocess.rs.
enum { RAW_RGB24 = 0, RAW_BGR24 = 1, RAW_GREY = 2, RAW_YUYV = 3, RAW_UYVY = 4, RAW_NV12 = 5 };

struct Tap {
    int lo, hi;  // lo < 0: letterbox bar
    float w;
};

struct PreParams {
    int format, width, height, stride;
    int net_w, net_h, out_stride;
    int out_channels;  // past the 3 colours: zeros (an FP16 plan pads its input to 8)
    float scale[3], offset[3], pad;
};

__device__ __forceinline__ float clamp255(float v) { return fminf(fmaxf(v, 0.0f), 255.0f); }

__device__ __forceinline__ void yuv_rgb(unsigned char yy, unsigned char u, unsigned char v, float* rgb) {
    const float c = ((float)yy - 16.0f) * (255.0f / 219.0f);
    const float d = ((float)u - 128.0f) * (255.0f / 224.0f);
    const float e = ((float)v - 128.0f) * (255.0f / 224.0f);
    rgb[0] = clamp255(c + 1.402f * e);
    rgb[1] = clamp255(c - 0.344136f * d - 0.714136f * e);
    rgb[2] = clamp255(c + 1.772f * d);
}

__device__ __forceinline__ void pixel(const unsigned char* d, const PreParams& q, int x, int y, float* rgb) {
    const i64 s = q.stride;
    switch (q.format) {
    case RAW_RGB24: {
        const unsigned char* o = d + y * s + x * 3;
        rgb[0] = o[0]; rgb[1] = o[1]; rgb[2] = o[2];
        break;
    }
    case RAW_BGR24: {
        const unsigned char* o = d + y * s + x * 3;
        rgb[0] = o[2]; rgb[1] = o[1]; rgb[2] = o[0];
        break;
    }
    case RAW_GREY:
        rgb[0] = rgb[1] = rgb[2] = d[y * s + x];
        break;
    case RAW_YUYV: {
        const i64 o = y * s + (x & ~1) * 2;
        yuv_rgb(d[y * s + x * 2], d[o + 1], d[o + 3], rgb);
        break;
    }
    case RAW_UYVY: {
        const i64 o = y * s + (x & ~1) * 2;
        yuv_rgb(d[y * s + x * 2 + 1], d[o], d[o + 2], rgb);
        break;
    }
    default: {  // NV12
        const i64 o = s * q.height + (y / 2) * s + (x & ~1);
        yuv_rgb(d[y * s + x], d[o], d[o + 1], rgb);
        break;
    }
    }
}

template <typename T>
__device__ __forceinline__ void preprocess(const unsigned char* src, const Tap* rows, const Tap* cols,
                                           PreParams q, T* out) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= q.net_w * q.net_h) return;
    const int y = i / q.net_w, x = i - y * q.net_w;
    T* px = out + (i64)i * q.out_stride;
    const Tap ty = rows[y], tx = cols[x];
    for (int k = 3; k < q.out_channels; ++k) stf(px + k, 0.0f);
    if (ty.lo < 0 || tx.lo < 0) {
        for (int k = 0; k < 3; ++k) stf(px + k, q.pad);
        return;
    }
    float a[3], b[3], c[3], d[3];
    pixel(src, q, tx.lo, ty.lo, a);
    pixel(src, q, tx.hi, ty.lo, b);
    pixel(src, q, tx.lo, ty.hi, c);
    pixel(src, q, tx.hi, ty.hi, d);
    for (int k = 0; k < 3; ++k) {
        const float top = a[k] + (b[k] - a[k]) * tx.w;
        const float bottom = c[k] + (d[k] - c[k]) * tx.w;
        stf(px + k, (top + (bottom - top) * ty.w) * q.scale[k] + q.offset[k]);
    }
}

struct PreArgs {
    const unsigned char* src;
    const Tap* rows;
    const Tap* cols;
    void* out;
    PreParams q;
};

extern "C" __global__ void preprocess_f32(PreArgs a) {
    wait_for_previous_kernel();
    preprocess(a.src, a.rows, a.cols, a.q, (float*)a.out);
}
extern "C" __global__ void preprocess_f16(PreArgs a) {
    wait_for_previous_kernel();
    preprocess(a.src, a.rows, a.cols, a.q, (half_t*)a.out);
}
