// What one dependent step of a network costs on this GPU, however the steps are scheduled.
// Every step is the same toy layer: each of G CTAs (one per SM) reads its own slice and its two
// neighbours' slices of what the step before wrote (the halo a 3x3 conv reads), adds, and writes
// its slice for the next step. Five schedules of N such steps:
//   graph          N kernels captured in one CUDA graph, each waiting for the whole previous
//                  kernel (our engine's launches without programmatic dependent launch);
//   graph+pdl      the same with programmatic dependent launch: each kernel waits with
//                  griddepcontrol.wait and lets the next be scheduled after its layer, as our
//                  tensor-core convs do after their main loop;
//   graph+pdl-at-start  the same, letting the next kernel be scheduled at its start;
//   barrier        one persistent kernel, a grid-wide barrier between steps (a persistent
//                  schedule that keeps one synchronization per layer);
//   dataflow       one persistent kernel, each CTA waiting only for the two neighbours it reads
//                  (a tile-level dataflow schedule: a step starts where its inputs are ready).
// The cost per step is the slope between two chain lengths, so launch costs drop out. Each
// schedule's final buffer is compared, word for word, with the host's replay of the same steps.
//
//   nvcc -O3 -gencode=arch=compute_90a,code=sm_90a -o step_floor tools/reference/step_floor.cu
//   ./step_floor [slice_bytes ...]     (multiples of 16; default: 1024 16384)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(x)                                                                                 \
    do {                                                                                         \
        cudaError_t e_ = (x);                                                                    \
        if (e_ != cudaSuccess) {                                                                 \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
            std::exit(1);                                                                        \
        }                                                                                        \
    } while (0)

constexpr int THREADS = 128;

// The layer: out[b] = in[b-1] + in[b] + in[b+1] + 1, word by word, on slices of `words` uint4.
// Every schedule reads through L2 alike (ld.global.cg), so that they differ only in how they
// order the steps. Each thread issues the loads of CHUNK words before its first store, so that
// a step costs about one L2 round trip rather than one per word.
constexpr int CHUNK = 8;
__device__ __forceinline__ void layer(const uint4* __restrict__ in, uint4* __restrict__ out, int words, int b, int g) {
    const uint4* src[3] = {in + (size_t)((b + g - 1) % g) * words, in + (size_t)b * words,
                           in + (size_t)((b + 1) % g) * words};
    for (int base = 0; base < words; base += CHUNK * THREADS) {
        uint4 v[3][CHUNK];
#pragma unroll
        for (int k = 0; k < 3; ++k)
#pragma unroll
            for (int j = 0; j < CHUNK; ++j) {
                const int i = base + j * THREADS + threadIdx.x;
                v[k][j] = i < words ? __ldcg(src[k] + i) : make_uint4(0, 0, 0, 0);
            }
#pragma unroll
        for (int j = 0; j < CHUNK; ++j) {
            const int i = base + j * THREADS + threadIdx.x;
            if (i < words)
                out[(size_t)b * words + i] =
                    make_uint4(v[0][j].x + v[1][j].x + v[2][j].x + 1, v[0][j].y + v[1][j].y + v[2][j].y + 1,
                               v[0][j].z + v[1][j].z + v[2][j].z + 1, v[0][j].w + v[1][j].w + v[2][j].w + 1);
        }
    }
}

enum Trigger { NO_PDL, TRIGGER_AFTER_LAYER, TRIGGER_AT_START };

__global__ void __launch_bounds__(THREADS) step_kernel(const uint4* in, uint4* out, int words, int trigger) {
    if (trigger == TRIGGER_AT_START) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
    if (trigger != NO_PDL) asm volatile("griddepcontrol.wait;" ::: "memory");
    layer(in, out, words, blockIdx.x, gridDim.x);
    if (trigger == TRIGGER_AFTER_LAYER) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
    unsigned v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

// counters[0]: the grid barrier's arrivals; counters[1 + b]: the steps CTA b has finished.
__global__ void __launch_bounds__(THREADS) persistent_kernel(uint4* buf0, uint4* buf1, int words, int steps,
                                                             unsigned* counters, int dataflow) {
    const int b = blockIdx.x, g = gridDim.x;
    for (int s = 0; s < steps; ++s) {
        if (s > 0) {
            if (dataflow) {
                // Two threads watch the two neighbours at once; this CTA's own step is done.
                if (threadIdx.x < 2) {
                    const int nb = (b + (threadIdx.x ? 1 : g - 1)) % g;
                    while (load_acquire(counters + 1 + nb) < (unsigned)s) {
                    }
                }
            } else if (threadIdx.x == 0) {
                while (load_acquire(counters) < (unsigned)(s * g)) {
                }
            }
            __syncthreads();
        }
        layer(s % 2 ? buf1 : buf0, s % 2 ? buf0 : buf1, words, b, g);
        __syncthreads();
        // The release is cumulative: it publishes the whole CTA's stores, ordered before it by
        // the barrier (the pattern of CUTLASS's semaphores).
        if (threadIdx.x == 0)
            asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(dataflow ? counters + 1 + b : counters)
                         : "memory");
    }
}

enum Schedule { GRAPH, GRAPH_PDL, GRAPH_PDL_AT_START, BARRIER, DATAFLOW };
const char* NAMES[] = {"graph", "graph+pdl", "graph+pdl-at-start", "barrier", "dataflow"};

struct Setup {
    int g, words;
    uint4 *seed, *buf0, *buf1;  // seed: the first step's input, copied into buf0 by each replay
    unsigned* counters;
};

// One CTA per SM; `attr`, when given, is the launch's one attribute.
cudaLaunchConfig_t config(const Setup& st, cudaStream_t stream, cudaLaunchAttribute* attr) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = st.g;
    cfg.blockDim = THREADS;
    cfg.stream = stream;
    cfg.attrs = attr;
    cfg.numAttrs = attr ? 1 : 0;
    return cfg;
}

cudaGraphExec_t capture(const Setup& st, Schedule sc, int steps, cudaStream_t stream) {
    cudaGraph_t graph;
    CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    CHECK(cudaMemcpyAsync(st.buf0, st.seed, (size_t)st.g * st.words * sizeof(uint4), cudaMemcpyDeviceToDevice,
                          stream));
    cudaLaunchAttribute attr;
    if (sc == BARRIER || sc == DATAFLOW) {
        CHECK(cudaMemsetAsync(st.counters, 0, (st.g + 1) * sizeof(unsigned), stream));
        // Cooperative: all G CTAs are resident at once (or the launch fails), so the spin waits
        // cannot deadlock.
        attr.id = cudaLaunchAttributeCooperative;
        attr.val.cooperative = 1;
        const cudaLaunchConfig_t cfg = config(st, stream, &attr);
        CHECK(cudaLaunchKernelEx(&cfg, persistent_kernel, st.buf0, st.buf1, st.words, steps, st.counters,
                                 sc == DATAFLOW ? 1 : 0));
    } else {
        attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr.val.programmaticStreamSerializationAllowed = 1;
        const int trigger = sc == GRAPH ? NO_PDL : sc == GRAPH_PDL ? TRIGGER_AFTER_LAYER : TRIGGER_AT_START;
        const cudaLaunchConfig_t cfg = config(st, stream, sc == GRAPH ? nullptr : &attr);
        for (int s = 0; s < steps; ++s) {
            const uint4* in = s % 2 ? st.buf1 : st.buf0;
            uint4* out = s % 2 ? st.buf0 : st.buf1;
            CHECK(cudaLaunchKernelEx(&cfg, step_kernel, in, out, st.words, trigger));
        }
    }
    CHECK(cudaStreamEndCapture(stream, &graph));
    cudaGraphExec_t exec;
    CHECK(cudaGraphInstantiate(&exec, graph, 0));
    CHECK(cudaGraphDestroy(graph));
    return exec;
}

// The host's replay of `steps` steps from `seed`, in 32-bit words.
std::vector<unsigned> expected(const std::vector<unsigned>& seed, int g, int steps) {
    const size_t slice = seed.size() / g;
    std::vector<unsigned> v = seed, w(seed.size());
    for (int s = 0; s < steps; ++s) {
        for (int b = 0; b < g; ++b) {
            const unsigned *lo = &v[(size_t)((b + g - 1) % g) * slice], *mid = &v[(size_t)b * slice],
                           *hi = &v[(size_t)((b + 1) % g) * slice];
            for (size_t i = 0; i < slice; ++i) w[(size_t)b * slice + i] = lo[i] + mid[i] + hi[i] + 1;
        }
        v.swap(w);
    }
    return v;
}

struct Timing {
    double median_us, p99_us;
};

Timing replay(const Setup& st, Schedule sc, int steps, cudaStream_t stream, int replays,
              const std::vector<unsigned>& want) {
    cudaGraphExec_t exec = capture(st, sc, steps, stream);
    cudaEvent_t a, b;
    CHECK(cudaEventCreate(&a));
    CHECK(cudaEventCreate(&b));
    std::vector<double> t;
    for (int i = 0; i < replays + 20; ++i) {
        CHECK(cudaEventRecord(a, stream));
        CHECK(cudaGraphLaunch(exec, stream));
        CHECK(cudaEventRecord(b, stream));
        CHECK(cudaEventSynchronize(b));
        float ms;
        CHECK(cudaEventElapsedTime(&ms, a, b));
        if (i >= 20) t.push_back(ms * 1e3);
    }
    std::vector<unsigned> got(want.size());
    CHECK(cudaMemcpy(got.data(), steps % 2 ? st.buf1 : st.buf0, got.size() * sizeof(unsigned),
                     cudaMemcpyDeviceToHost));
    const auto bad = std::mismatch(got.begin(), got.end(), want.begin());
    if (bad.first != got.end()) {
        std::fprintf(stderr, "%s, %d steps: word %zu is %u, expected %u\n", NAMES[sc], steps,
                     (size_t)(bad.first - got.begin()), *bad.first, *bad.second);
        std::exit(1);
    }
    CHECK(cudaEventDestroy(a));
    CHECK(cudaEventDestroy(b));
    CHECK(cudaGraphExecDestroy(exec));
    std::sort(t.begin(), t.end());
    return {t[t.size() / 2], t[(size_t)(0.99 * (t.size() - 1))]};
}

int main(int argc, char** argv) {
    std::vector<int> slices;
    for (int i = 1; i < argc; ++i) slices.push_back(std::atoi(argv[i]));
    if (slices.empty()) slices = {1024, 16384};
    cudaDeviceProp p;
    CHECK(cudaGetDeviceProperties(&p, 0));
    const int g = p.multiProcessorCount, lo = 77, hi = 154, replays = 300;
    std::printf("%s, %d SMs, %d CTAs of %d threads, chains of %d and %d steps, %d replays\n", p.name, g, g, THREADS,
                lo, hi, replays);
    cudaStream_t stream;
    CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    std::printf("| slice bytes per CTA | schedule | %d steps median / p99 us | %d steps | us per step |\n", lo, hi);
    std::printf("| --- | --- | --- | --- | --- |\n");
    for (int bytes : slices) {
        if (bytes < 16 || bytes % 16) {
            std::fprintf(stderr, "slice bytes must be a positive multiple of 16, got %d\n", bytes);
            return 64;
        }
        Setup st{g, bytes / 16, nullptr, nullptr, nullptr, nullptr};
        const size_t total = (size_t)g * bytes;
        std::vector<unsigned> seed(total / sizeof(unsigned));
        for (size_t i = 0; i < seed.size(); ++i) seed[i] = (unsigned)(i * 2654435761u);
        const std::vector<unsigned> want_lo = expected(seed, g, lo), want_hi = expected(seed, g, hi);
        CHECK(cudaMalloc(&st.seed, total));
        CHECK(cudaMalloc(&st.buf0, total));
        CHECK(cudaMalloc(&st.buf1, total));
        CHECK(cudaMalloc(&st.counters, (g + 1) * sizeof(unsigned)));
        CHECK(cudaMemcpy(st.seed, seed.data(), total, cudaMemcpyHostToDevice));
        for (Schedule sc : {GRAPH, GRAPH_PDL, GRAPH_PDL_AT_START, BARRIER, DATAFLOW}) {
            Timing a = replay(st, sc, lo, stream, replays, want_lo), b = replay(st, sc, hi, stream, replays, want_hi);
            std::printf("| %d | %s | %.1f / %.1f | %.1f / %.1f | %.2f |\n", bytes, NAMES[sc], a.median_us, a.p99_us,
                        b.median_us, b.p99_us, (b.median_us - a.median_us) / (hi - lo));
        }
        CHECK(cudaFree(st.seed));
        CHECK(cudaFree(st.buf0));
        CHECK(cudaFree(st.buf1));
        CHECK(cudaFree(st.counters));
    }
    return 0;
}
