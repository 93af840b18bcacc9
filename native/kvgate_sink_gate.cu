// kvgate's sink-gate scores: everything of Fast KVzip's sink-attention gate (ALGORITHM.md §2) after its two
// projections, for n gated layers at once, in one kernel:
//
//   q[h,g] = rmsnorm(qp[h,g] + b_q[h,g]) * q_norm      k[h] = rmsnorm(kp[h]) * k_norm
//   l[h,g] = q[h,g]·k[h] / sqrt(d) + b[h,g]            ls[h,g,s] = q[h,g]·K_s[h,s] / sqrt(d)
//   score[h] = mean_g sigmoid(l[h,g] - logsumexp_s ls[h,g,s])
//
// Why: torch's ops take ~17 elementwise passes over [layers, T, H, G, d] float32 values for this, and as many
// launches; on an H100 they made a 0.6B model's sink-gated prefill 1.10-1.18x the ungated one (BENCHMARKS.md,
// session 10). Here one thread per (layer, token, KV head) reads its projections once (in their own dtype), keeps the
// d-value vectors in registers and writes one float; a block's threads share one (layer, head), whose parameters they
// read from shared memory.
//
// Plain CUDA with a C entry point (no torch headers: nvcc only compiles this file); native/kvgate_cuda_graph.cpp wraps
// it as the operator kvgate::sink_gate_scores.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cmath>

#include <cstdint>

namespace {

constexpr int THREADS = 128;

// The kernel's two phases are __host__ __device__ functions, so that tools/check_sink_gate_host.sh can run this very
// code on the CPU against a float64 reference, block by block (no GPU needed to check the indexing and the math).
#ifdef __CUDA_ARCH__
#define KVGATE_LDG(p) __ldg(p)
#else
#define KVGATE_LDG(p) (*(p))
#endif

__host__ __device__ __forceinline__ float to_float(float v) { return v; }
__host__ __device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__host__ __device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

// DIM values of one projection row as floats: 16-byte loads where the row allows them (VEC: the host checked that the
// base pointers are 16-byte aligned; every row then is, as DIM * sizeof(T) is a multiple of 16), else one by one.
template <typename T, int DIM, bool VEC>
__host__ __device__ __forceinline__ void load_row(const T* __restrict__ p, float (&dst)[DIM]) {
    if constexpr (VEC && (DIM * sizeof(T)) % 16 == 0) {
        constexpr int PER = 16 / sizeof(T);
        const uint4* v = reinterpret_cast<const uint4*>(p);
        union Lanes {  // read as 16 bytes, used as PER values (a union: no aliasing of a uint4 through a T*)
            uint4 raw;
            T value[PER];
        };
#pragma unroll
        for (int c = 0; c < DIM / PER; ++c) {
            Lanes lanes;
            lanes.raw = KVGATE_LDG(v + c);
#pragma unroll
            for (int i = 0; i < PER; ++i) dst[c * PER + i] = to_float(lanes.value[i]);
        }
    } else {
#pragma unroll
        for (int i = 0; i < DIM; ++i) dst[i] = to_float(p[i]);
    }
}

// The gate's parameters (float32) and the batch's shape.
struct GateParams {
    const float* q_bias;     // [n, H*G*DIM]
    const float* q_norm;     // [n, DIM]
    const float* k_norm;     // [n, DIM]
    const float* sink_keys;  // [n, H, DIM, S] (transposed: a column per sink key)
    const float* bias;       // [n, H*G]
    long long t;
    int h, g, s;
    float eps;
};

// Floats of shared memory one (layer, head) needs: keys DIM x S, q bias G x DIM, both norms, G biases.
__host__ __device__ inline int shared_floats(int dim, int g, int s) { return dim * s + g * dim + 2 * dim + g; }

// Phase 1: thread `tid` of `threads` copies its share of (layer, head)'s parameters into `shared` (keys and k_norm
// with 1/sqrt(d) folded in: it only ever multiplies q·k and q·K_s).
template <int DIM>
__host__ __device__ inline void stage_parameters(float* shared, const GateParams& p, int layer, int head, int tid, int threads) {
    float* keys = shared;              // [DIM][S]
    float* qb = keys + DIM * p.s;      // [G][DIM]
    float* qn = qb + p.g * DIM;        // [DIM]
    float* kn = qn + DIM;              // [DIM]
    float* b = kn + DIM;               // [G]
    const float scale = rsqrtf(static_cast<float>(DIM));
    const float* src = p.sink_keys + (static_cast<long long>(layer) * p.h + head) * DIM * p.s;
    for (int i = tid; i < DIM * p.s; i += threads) keys[i] = src[i] * scale;
    const float* bsrc = p.q_bias + (static_cast<long long>(layer) * p.h + head) * p.g * DIM;
    for (int i = tid; i < p.g * DIM; i += threads) qb[i] = bsrc[i];
    for (int i = tid; i < DIM; i += threads) {
        qn[i] = p.q_norm[layer * DIM + i];
        kn[i] = p.k_norm[layer * DIM + i] * scale;
    }
    for (int i = tid; i < p.g; i += threads) b[i] = p.bias[(static_cast<long long>(layer) * p.h + head) * p.g + i];
}

// Phase 2: the score of one token of (layer, head): q_row = its G query rows [G][DIM], k_row its key row [DIM].
// SINKS: the sink count when it is 16 (the accumulators stay in registers), 0 for any other count (a loop over them).
template <typename T, int DIM, int SINKS, bool VEC>
__host__ __device__ inline float token_score(const float* shared, const GateParams& p, const T* q_row, const T* k_row) {
    const float* keys = shared;
    const float* qb = keys + DIM * p.s;
    const float* qn = qb + p.g * DIM;
    const float* kn = qn + DIM;
    const float* b = kn + DIM;
    float k[DIM];
    load_row<T, DIM, VEC>(k_row, k);
    float ss = 0.f;
#pragma unroll
    for (int i = 0; i < DIM; ++i) ss += k[i] * k[i];
    const float k_inv = rsqrtf(ss / DIM + p.eps);
#pragma unroll
    for (int i = 0; i < DIM; ++i) k[i] *= k_inv * kn[i];

    float mean = 0.f;
    for (int gg = 0; gg < p.g; ++gg) {
        float q[DIM];
        load_row<T, DIM, VEC>(q_row + gg * DIM, q);
        ss = 0.f;
#pragma unroll
        for (int i = 0; i < DIM; ++i) {
            q[i] += qb[gg * DIM + i];
            ss += q[i] * q[i];
        }
        const float q_inv = rsqrtf(ss / DIM + p.eps);
        float l = b[gg];
#pragma unroll
        for (int i = 0; i < DIM; ++i) {
            q[i] *= q_inv * qn[i];
            l += q[i] * k[i];
        }
        float lse;
        if constexpr (SINKS > 0) {
            // the S sink logits accumulated key row by key row: DIM x S multiply-adds from shared memory (the same
            // address across the warp: a broadcast)
            float acc[SINKS];
#pragma unroll
            for (int j = 0; j < SINKS; ++j) acc[j] = 0.f;
#pragma unroll
            for (int i = 0; i < DIM; ++i) {
#pragma unroll
                for (int j = 0; j < SINKS; ++j) acc[j] += q[i] * keys[i * SINKS + j];
            }
            float m = acc[0];
#pragma unroll
            for (int j = 1; j < SINKS; ++j) m = fmaxf(m, acc[j]);
            float sum = 0.f;
#pragma unroll
            for (int j = 0; j < SINKS; ++j) sum += expf(acc[j] - m);
            lse = m + logf(sum);
        } else {
            // any sink count: online logsumexp, one sink key at a time
            float m = -HUGE_VALF, sum = 0.f;
            for (int j = 0; j < p.s; ++j) {
                float v = 0.f;
#pragma unroll
                for (int i = 0; i < DIM; ++i) v += q[i] * keys[i * p.s + j];
                if (v > m) {
                    sum = sum * expf(m - v) + 1.f;
                    m = v;
                } else {
                    sum += expf(v - m);
                }
            }
            lse = m + logf(sum);
        }
        mean += 1.f / (1.f + expf(lse - l));
    }
    return mean / p.g;
}

// Phase 2 for one thread: token `token` of (layer, head), from the batch's projections into out [n, H, T].
template <typename T, int DIM, int SINKS, bool VEC>
__host__ __device__ inline void score_token(const float* shared, const GateParams& p, const T* qp, const T* kp, float* out,
                                            int layer, int head, long long token) {
    const long long row = static_cast<long long>(layer) * p.t + token;
    out[(static_cast<long long>(layer) * p.h + head) * p.t + token] = token_score<T, DIM, SINKS, VEC>(
        shared, p, qp + (row * p.h * p.g + static_cast<long long>(head) * p.g) * DIM, kp + (row * p.h + head) * DIM);
}

// One block: THREADS tokens of one (layer, KV head); grid (ceil(T / THREADS), H, n). The block's parameters go to
// shared memory first, so that every thread reads them from there instead of each thread fetching ~1 KB of sink keys
// through the cache with its 8 neighbours on other heads, which bound session 11's layout (one thread per (layer,
// token, head), heads fastest: 4.7 ms of a 32K prefill's 28 gated layers, BENCHMARKS.md session 12).
//
// qp [n, T, H*G*DIM] and kp [n, T, H*DIM] (the projections, rows (h, g, i) and (h, i)); out [n, H, T] float32.
template <typename T, int DIM, int SINKS, bool VEC>
__global__ void __launch_bounds__(THREADS) sink_gate_kernel(const T* __restrict__ qp, const T* __restrict__ kp,
                                                            GateParams p, float* __restrict__ out) {
    extern __shared__ float4 shared4[];
    float* shared = reinterpret_cast<float*>(shared4);
    const int head = blockIdx.y, layer = blockIdx.z;
    stage_parameters<DIM>(shared, p, layer, head, threadIdx.x, THREADS);
    __syncthreads();
    const long long token = static_cast<long long>(blockIdx.x) * THREADS + threadIdx.x;
    if (token < p.t) score_token<T, DIM, SINKS, VEC>(shared, p, qp, kp, out, layer, head, token);
}

template <typename T, int DIM, bool VEC>
cudaError_t by_sinks(const T* qp, const T* kp, const GateParams& p, float* out, int n, cudaStream_t stream) {
    const long long blocks_x = (p.t + THREADS - 1) / THREADS;
    if (blocks_x > 0x7fffffffLL || p.h > 65535 || n > 65535) return cudaErrorInvalidValue;
    const dim3 grid(static_cast<unsigned>(blocks_x), static_cast<unsigned>(p.h), static_cast<unsigned>(n));
    const size_t shared = sizeof(float) * static_cast<size_t>(shared_floats(DIM, p.g, p.s));
    if (shared > 48 * 1024) return cudaErrorInvalidValue;
    if (p.s == 16)
        sink_gate_kernel<T, DIM, 16, VEC><<<grid, THREADS, shared, stream>>>(qp, kp, p, out);
    else
        sink_gate_kernel<T, DIM, 0, VEC><<<grid, THREADS, shared, stream>>>(qp, kp, p, out);
    return cudaGetLastError();
}

template <typename T>
cudaError_t by_dim(const void* qp_, const void* kp_, const GateParams& p, float* out, int n, int d, cudaStream_t stream) {
    if (static_cast<long long>(n) * p.t * p.h == 0) return cudaSuccess;
    const T* qp = static_cast<const T*>(qp_);
    const T* kp = static_cast<const T*>(kp_);
    const bool vec = reinterpret_cast<uintptr_t>(qp) % 16 == 0 && reinterpret_cast<uintptr_t>(kp) % 16 == 0;
#define KVGATE_DIM(N) case N: return vec ? by_sinks<T, N, true>(qp, kp, p, out, n, stream) \
                                         : by_sinks<T, N, false>(qp, kp, p, out, n, stream);
    switch (d) {
        KVGATE_DIM(8) KVGATE_DIM(16) KVGATE_DIM(32) KVGATE_DIM(64)
        default: return cudaErrorInvalidValue;
    }
#undef KVGATE_DIM
}

}  // namespace

extern "C" {

/**
 * dtype of qp/kp: 0 float32, 1 float16, 2 bfloat16. Shapes as sink_gate_kernel's; every tensor contiguous. d in {8, 16,
 * 32, 64}, any G and S whose parameters fit 48 KB of shared memory (d x S + G x d + 2d + G floats), else
 * cudaErrorInvalidValue.
 */
cudaError_t kvgate_sink_gate_scores(int dtype, const void* qp, const void* kp, const float* q_bias, const float* q_norm,
                                    const float* k_norm, const float* sink_keys, const float* bias, float* out, int n,
                                    long long t, int h, int g, int d, int s, float eps, cudaStream_t stream) {
    const GateParams p{q_bias, q_norm, k_norm, sink_keys, bias, t, h, g, s, eps};
    switch (dtype) {
        case 0: return by_dim<float>(qp, kp, p, out, n, d, stream);
        case 1: return by_dim<__half>(qp, kp, p, out, n, d, stream);
        case 2: return by_dim<__nv_bfloat16>(qp, kp, p, out, n, d, stream);
        default: return cudaErrorInvalidValue;
    }
}

}  // extern "C"
