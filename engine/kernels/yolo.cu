// YOLO head decode on the GPU: Darknet [yolo] semantics (as engine/src/yolo/decode.rs), a
// thread per (cell, anchor), candidates above the confidence threshold compacted with an
// atomic counter into a fixed-capacity buffer. Only the used part of that buffer then
// crosses to the host (yolo_publish into mapped pinned memory), for NMS there.

struct Candidate {
    float x1, y1, x2, y2, score;
    int cls;
};

// The header is `CANDIDATE_HEADER` bytes in engine/src/backend/cuda/launch.rs.
struct CandidateList {
    int count;     // candidates found; more than `capacity` means some were dropped
    int capacity;
    int pad[2];
    Candidate items[1];
};

struct HeadParams {
    int h, w, c, stride;
    int classes, anchors;
    float scale_x_y, net_w, net_h;
    float anchor_wh[2 * 9];
};

template <typename T>
__device__ __forceinline__ void yolo_decode(const T* head, HeadParams hp, const float* threshold,
                                            CandidateList* list) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= hp.h * hp.w * hp.anchors) return;
    const int cell = i / hp.anchors, a = i - cell * hp.anchors;
    const T* p = head + (i64)cell * hp.stride + a * (hp.classes + 5);
    const float thr = *threshold;
    const float obj = sigmoidf(ldf(p + 4));
    if (obj < thr) return;
    const float cy = (float)(cell / hp.w), cx = (float)(cell % hp.w);
    const float s = hp.scale_x_y;
    const float x = (cx + sigmoidf(ldf(p)) * s - (s - 1.0f) / 2.0f) / (float)hp.w * hp.net_w;
    const float y = (cy + sigmoidf(ldf(p + 1)) * s - (s - 1.0f) / 2.0f) / (float)hp.h * hp.net_h;
    const float bw = expf(fminf(ldf(p + 2), 20.0f)) * hp.anchor_wh[2 * a];
    const float bh = expf(fminf(ldf(p + 3), 20.0f)) * hp.anchor_wh[2 * a + 1];
    for (int k = 0; k < hp.classes; ++k) {
        const float score = obj * sigmoidf(ldf(p + 5 + k));
        if (score < thr) continue;
        const int slot = atomicAdd(&list->count, 1);
        if (slot >= list->capacity) continue;
        Candidate c;
        c.x1 = x - bw / 2.0f;
        c.y1 = y - bh / 2.0f;
        c.x2 = x + bw / 2.0f;
        c.y2 = y + bh / 2.0f;
        c.score = score;
        c.cls = k;
        list->items[slot] = c;
    }
}

// Every yolo kernel takes this one struct (mirrored by `YoloArgs` in launch.rs).
struct YoloArgs {
    const void* head;
    const float* threshold;  // device-side, so a new threshold needs no new CUDA graph
    CandidateList* list;
    CandidateList* host;     // mapped pinned memory
    HeadParams hp;
};

extern "C" __global__ void yolo_reset(YoloArgs a) {
    wait_for_previous_kernel();
    a.list->count = 0;
}
extern "C" __global__ void yolo_decode_f32(YoloArgs a) {
    wait_for_previous_kernel();
    yolo_decode((const float*)a.head, a.hp, a.threshold, a.list);
}
extern "C" __global__ void yolo_decode_f16(YoloArgs a) {
    wait_for_previous_kernel();
    yolo_decode((const half_t*)a.head, a.hp, a.threshold, a.list);
}

// One block: the count and the used candidates to the host-visible copy.
extern "C" __global__ void yolo_publish(YoloArgs a) {
    wait_for_previous_kernel();
    const int n = min(a.list->count, a.list->capacity);
    if (threadIdx.x == 0) {
        a.host->count = a.list->count;
        a.host->capacity = a.list->capacity;
    }
    for (int i = threadIdx.x; i < n; i += blockDim.x) a.host->items[i] = a.list->items[i];
}
