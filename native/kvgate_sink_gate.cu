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
#include <math_constants.h>

#include <cstdint>

namespace {

constexpr int THREADS = 128;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

// DIM values of one projection row as floats: 16-byte loads where the row allows them (VEC: the host checked that the
// base pointers are 16-byte aligned; every row then is, as DIM * sizeof(T) is a multiple of 16), else one by one.
template <typename T, int DIM, bool VEC>
__device__ __forceinline__ void load_row(const T* __restrict__ p, float (&dst)[DIM]) {
    if constexpr (VEC && (DIM * sizeof(T)) % 16 == 0) {
        constexpr int PER = 16 / sizeof(T);
        const uint4* v = reinterpret_cast<const uint4*>(p);
#pragma unroll
        for (int c = 0; c < DIM / PER; ++c) {
            uint4 u = __ldg(v + c);
            const T* e = reinterpret_cast<const T*>(&u);
#pragma unroll
            for (int i = 0; i < PER; ++i) dst[c * PER + i] = to_float(e[i]);
        }
    } else {
#pragma unroll
        for (int i = 0; i < DIM; ++i) dst[i] = to_float(p[i]);
    }
}

// One block: 128 tokens of one (layer, KV head); grid (ceil(T / 128), H, n). The block's parameters (sink keys
// d x S, q bias G x d, both norms, G biases) go to shared memory first, so that every thread reads them from there
// (broadcast: the same address across the warp) instead of each thread fetching ~1 KB of keys through the cache, which
// bound session 11's one-thread-per-(token, head) layout (4.7 ms of a 32K prefill's 28 layers, BENCHMARKS.md session 12).
// SINKS: the sink count when it is 16 (the accumulators stay in registers), 0 for any other count (a loop over them).
//
// qp [n, T, H*G*DIM] and kp [n, T, H*DIM] (the projections, rows (h, g, i) and (h, i)); q_bias [n, H*G*DIM];
// q_norm/k_norm [n, DIM]; sink_keys [n, H, DIM, S] (transposed: a column per sink key); bias [n, H*G];
// out [n, H, T] float32.
template <typename T, int DIM, int SINKS, bool VEC>
__global__ void __launch_bounds__(THREADS) sink_gate_kernel(
        const T* __restrict__ qp, const T* __restrict__ kp, const float* __restrict__ q_bias,
        const float* __restrict__ q_norm, const float* __restrict__ k_norm, const float* __restrict__ sink_keys,
        const float* __restrict__ bias, float* __restrict__ out, long long t, int h, int g, int s, float eps) {
    extern __shared__ float4 shared4[];
    float* keys = reinterpret_cast<float*>(shared4);  // [DIM][s]
    float* qb = keys + DIM * s;                       // [g][DIM]
    float* qn = qb + g * DIM;                         // [DIM]
    float* kn = qn + DIM;                             // [DIM]
    float* b = kn + DIM;                              // [g]
    const int head = blockIdx.y, layer = blockIdx.z;
    const float scale = rsqrtf(static_cast<float>(DIM));
    {
        const float* src = sink_keys + (static_cast<long long>(layer) * h + head) * DIM * s;
        for (int i = threadIdx.x; i < DIM * s; i += THREADS) keys[i] = src[i] * scale;  // 1/sqrt(d) folded in
        const float* bsrc = q_bias + (static_cast<long long>(layer) * h + head) * g * DIM;
        for (int i = threadIdx.x; i < g * DIM; i += THREADS) qb[i] = bsrc[i];
        for (int i = threadIdx.x; i < DIM; i += THREADS) {
            qn[i] = q_norm[layer * DIM + i];
            kn[i] = k_norm[layer * DIM + i] * scale;  // k_norm and 1/sqrt(d) only ever multiply q·k
        }
        for (int i = threadIdx.x; i < g; i += THREADS) b[i] = bias[(static_cast<long long>(layer) * h + head) * g + i];
    }
    __syncthreads();
    const long long token = static_cast<long long>(blockIdx.x) * THREADS + threadIdx.x;
    if (token >= t) return;
    const long long row = static_cast<long long>(layer) * t + token;

    float k[DIM];
    load_row<T, DIM, VEC>(kp + (row * h + head) * DIM, k);
    float ss = 0.f;
#pragma unroll
    for (int i = 0; i < DIM; ++i) ss += k[i] * k[i];
    const float k_inv = rsqrtf(ss / DIM + eps);
#pragma unroll
    for (int i = 0; i < DIM; ++i) k[i] *= k_inv * kn[i];

    float mean = 0.f;
    for (int gg = 0; gg < g; ++gg) {
        float q[DIM];
        load_row<T, DIM, VEC>(qp + (row * h * g + head * g + gg) * DIM, q);
        ss = 0.f;
#pragma unroll
        for (int i = 0; i < DIM; ++i) {
            q[i] += qb[gg * DIM + i];
            ss += q[i] * q[i];
        }
        const float q_inv = rsqrtf(ss / DIM + eps);
        float l = b[gg];
#pragma unroll
        for (int i = 0; i < DIM; ++i) {
            q[i] *= q_inv * qn[i];
            l += q[i] * k[i];
        }
        float lse;
        if constexpr (SINKS > 0) {
            // the S sink logits accumulated key row by key row: d x S multiply-adds from shared memory
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
            float m = -CUDART_INF_F, sum = 0.f;
            for (int j = 0; j < s; ++j) {
                float v = 0.f;
#pragma unroll
                for (int i = 0; i < DIM; ++i) v += q[i] * keys[i * s + j];
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
    out[(static_cast<long long>(layer) * h + head) * t + token] = mean / g;
}

template <typename T, int DIM, bool VEC>
cudaError_t by_sinks(const T* qp, const T* kp, const float* q_bias, const float* q_norm, const float* k_norm,
                     const float* sink_keys, const float* bias, float* out, int n, long long t, int h, int g, int s,
                     float eps, cudaStream_t stream) {
    const long long blocks_x = (t + THREADS - 1) / THREADS;
    if (blocks_x > 0x7fffffffLL || h > 65535 || n > 65535) return cudaErrorInvalidValue;
    const dim3 grid(static_cast<unsigned>(blocks_x), static_cast<unsigned>(h), static_cast<unsigned>(n));
    const size_t shared = sizeof(float) * (static_cast<size_t>(DIM) * s + static_cast<size_t>(g) * DIM + 2 * DIM + g);
    if (shared > 48 * 1024) return cudaErrorInvalidValue;
    if (s == 16)
        sink_gate_kernel<T, DIM, 16, VEC><<<grid, THREADS, shared, stream>>>(qp, kp, q_bias, q_norm, k_norm, sink_keys, bias, out, t, h, g, s, eps);
    else
        sink_gate_kernel<T, DIM, 0, VEC><<<grid, THREADS, shared, stream>>>(qp, kp, q_bias, q_norm, k_norm, sink_keys, bias, out, t, h, g, s, eps);
    return cudaGetLastError();
}

template <typename T>
cudaError_t by_dim(const void* qp_, const void* kp_, const float* q_bias, const float* q_norm, const float* k_norm,
                   const float* sink_keys, const float* bias, float* out, int n, long long t, int h, int g, int d, int s,
                   float eps, cudaStream_t stream) {
    if (static_cast<long long>(n) * t * h == 0) return cudaSuccess;
    const T* qp = static_cast<const T*>(qp_);
    const T* kp = static_cast<const T*>(kp_);
    const bool vec = reinterpret_cast<uintptr_t>(qp) % 16 == 0 && reinterpret_cast<uintptr_t>(kp) % 16 == 0;
#define KVGATE_DIM(N) case N: return vec \
        ? by_sinks<T, N, true>(qp, kp, q_bias, q_norm, k_norm, sink_keys, bias, out, n, t, h, g, s, eps, stream) \
        : by_sinks<T, N, false>(qp, kp, q_bias, q_norm, k_norm, sink_keys, bias, out, n, t, h, g, s, eps, stream);
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
    switch (dtype) {
        case 0: return by_dim<float>(qp, kp, q_bias, q_norm, k_norm, sink_keys, bias, out, n, t, h, g, d, s, eps, stream);
        case 1: return by_dim<__half>(qp, kp, q_bias, q_norm, k_norm, sink_keys, bias, out, n, t, h, g, d, s, eps, stream);
        case 2: return by_dim<__nv_bfloat16>(qp, kp, q_bias, q_norm, k_norm, sink_keys, bias, out, n, t, h, g, d, s, eps, stream);
        default: return cudaErrorInvalidValue;
    }
}

}  // extern "C"
