// What one dependent step of a network costs on this GPU, however the steps are scheduled.
// Every step is the same toy layer: each of G CTAs (one per SM) reads its own slice and its two
// neighbours' slices of what the step before wrote (the halo a 3x3 conv reads), adds, and writes
// its slice for the next step. Four schedules of N such steps:
//   graph      N kernels captured in one CUDA graph, each waiting for the whole previous kernel
//              (our engine's launches without programmatic dependent launch);
//   graph+pdl  the same with programmatic dependent launch: every kernel lets the next be
//              scheduled at its start and waits with griddepcontrol.wait (our engine's launches);
//   barrier    one persistent kernel, a grid-wide barrier between steps (a persistent schedule
//              that keeps one synchronization per layer);
//   dataflow   one persistent kernel, each CTA waiting only for the three CTAs it reads (a
//              tile-level dataflow schedule: a step can start where its inputs are ready).
// The cost per step is the slope between two chain lengths, so launch costs drop out. It bounds
// what any schedule with one dependent step per layer can save (docs/PERFORMANCE.md).
//
//   nvcc -O3 -gencode=arch=compute_90a,code=sm_90a -o step_floor tools/reference/step_floor.cu
//   ./step_floor [slice_bytes ...]     (default: 1024 16384)
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

// The layer: out[b] = in[b-1] + in[b] + in[b+1] (+1), slices of `words` uint4, read through L2
// (ld.global.cg) because a persistent kernel's L1 would keep the previous step's lines. Each
// thread issues the loads of CHUNK words before its first store, so that a step costs about one
// L2 round trip rather than one per word.
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
                out[(size_t)b * words + i] = make_uint4(v[0][j].x + v[1][j].x + v[2][j].x + 1, v[0][j].y + v[1][j].y + v[2][j].y,
                                                        v[0][j].z + v[1][j].z + v[2][j].z, v[0][j].w + v[1][j].w + v[2][j].w);
        }
    }
}

__global__ void __launch_bounds__(THREADS) step_kernel(const uint4* in, uint4* out, int words, int pdl) {
    if (pdl) {
        asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
        asm volatile("griddepcontrol.wait;" ::: "memory");
    }
    layer(in, out, words, blockIdx.x, gridDim.x);
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
                // Three threads watch the three producers at once.
                if (threadIdx.x < 3) {
                    const int nb = (b + g - 1 + threadIdx.x) % g;
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
        if (threadIdx.x == 0) {
            __threadfence();
            atomicAdd(dataflow ? counters + 1 + b : counters, 1u);
        }
    }
}

enum Schedule { GRAPH, GRAPH_PDL, BARRIER, DATAFLOW };
const char* NAMES[] = {"graph", "graph+pdl", "barrier", "dataflow"};

struct Setup {
    int g, words;
    uint4 *buf0, *buf1;
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
    CHECK(cudaMemsetAsync(st.buf0, 0, (size_t)st.g * st.words * sizeof(uint4), stream));
    cudaLaunchAttribute attr;
    if (sc == GRAPH || sc == GRAPH_PDL) {
        attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr.val.programmaticStreamSerializationAllowed = 1;
        const cudaLaunchConfig_t cfg = config(st, stream, sc == GRAPH_PDL ? &attr : nullptr);
        for (int s = 0; s < steps; ++s) {
            const uint4* in = s % 2 ? st.buf1 : st.buf0;
            uint4* out = s % 2 ? st.buf0 : st.buf1;
            CHECK(cudaLaunchKernelEx(&cfg, step_kernel, in, out, st.words, sc == GRAPH_PDL ? 1 : 0));
        }
    } else {
        CHECK(cudaMemsetAsync(st.counters, 0, (st.g + 1) * sizeof(unsigned), stream));
        // Cooperative: all G CTAs are resident at once, so the spin waits cannot deadlock.
        attr.id = cudaLaunchAttributeCooperative;
        attr.val.cooperative = 1;
        const cudaLaunchConfig_t cfg = config(st, stream, &attr);
        CHECK(cudaLaunchKernelEx(&cfg, persistent_kernel, st.buf0, st.buf1, st.words, steps, st.counters,
                                 sc == DATAFLOW ? 1 : 0));
    }
    CHECK(cudaStreamEndCapture(stream, &graph));
    cudaGraphExec_t exec;
    CHECK(cudaGraphInstantiate(&exec, graph, 0));
    CHECK(cudaGraphDestroy(graph));
    return exec;
}

// Every schedule must compute the same values: after `steps` steps each word x of every slice
// holds the number of paths, which the host recomputes.
unsigned expected_x(int g, int steps) {
    std::vector<unsigned> v(g, 0), w(g);
    for (int s = 0; s < steps; ++s) {
        for (int b = 0; b < g; ++b) w[b] = v[(b + g - 1) % g] + v[b] + v[(b + 1) % g] + 1;
        v.swap(w);
    }
    return v[0];
}

struct Timing {
    double median_us, p99_us;
};

Timing replay(const Setup& st, Schedule sc, int steps, cudaStream_t stream, int replays) {
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
    const uint4* last = steps % 2 ? st.buf1 : st.buf0;
    uint4 got;
    CHECK(cudaMemcpy(&got, last, sizeof got, cudaMemcpyDeviceToHost));
    if (got.x != expected_x(st.g, steps)) {
        std::fprintf(stderr, "%s, %d steps: wrong result %u, expected %u\n", NAMES[sc], steps, got.x,
                     expected_x(st.g, steps));
        std::exit(1);
    }
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
        Setup st{g, bytes / 16, nullptr, nullptr, nullptr};
        CHECK(cudaMalloc(&st.buf0, (size_t)g * bytes));
        CHECK(cudaMalloc(&st.buf1, (size_t)g * bytes));
        CHECK(cudaMalloc(&st.counters, (g + 1) * sizeof(unsigned)));
        for (Schedule sc : {GRAPH, GRAPH_PDL, BARRIER, DATAFLOW}) {
            Timing a = replay(st, sc, lo, stream, replays), b = replay(st, sc, hi, stream, replays);
            std::printf("| %d | %s | %.1f / %.1f | %.1f / %.1f | %.2f |\n", bytes, NAMES[sc], a.median_us, a.p99_us,
                        b.median_us, b.p99_us, (b.median_us - a.median_us) / (hi - lo));
        }
        CHECK(cudaFree(st.buf0));
        CHECK(cudaFree(st.buf1));
        CHECK(cudaFree(st.counters));
    }
    return 0;
}
