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
// d-value vectors in registers and writes one float.
//
// Plain CUDA with a C entry point (no torch headers: nvcc only compiles this file); native/kvgate_cuda_graph.cpp wraps
// it as the operator kvgate::sink_gate_scores.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math_constants.h>

namespace {

constexpr int THREADS = 256;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

// qp [n, T, H*G*DIM] and kp [n, T, H*DIM] (the projections, rows (h, g, i) and (h, i)); q_bias [n, H*G*DIM];
// q_norm/k_norm [n, DIM]; sink_keys [n, H, DIM, S] (transposed: a column per sink key); bias [n, H*G];
// out [n, H, T] float32.
template <typename T, int DIM>
__global__ void __launch_bounds__(THREADS) sink_gate_kernel(
        const T* __restrict__ qp, const T* __restrict__ kp, const float* __restrict__ q_bias,
        const float* __restrict__ q_norm, const float* __restrict__ k_norm, const float* __restrict__ sink_keys,
        const float* __restrict__ bias, float* __restrict__ out, int n, long long t, int h, int g, int s, float eps) {
    const long long idx = static_cast<long long>(blockIdx.x) * THREADS + threadIdx.x;
    if (idx >= static_cast<long long>(n) * t * h) return;
    const int head = static_cast<int>(idx % h);
    const long long row = idx / h;                    // layer * T + token
    const int layer = static_cast<int>(row / t);
    const long long token = row - layer * t;
    const float scale = rsqrtf(static_cast<float>(DIM));

    // k, with k_norm and 1/sqrt(d) folded in (both only ever multiply q·k)
    float k[DIM];
    const T* kr = kp + (row * h + head) * DIM;
    float ss = 0.f;
#pragma unroll
    for (int i = 0; i < DIM; ++i) {
        k[i] = to_float(kr[i]);
        ss += k[i] * k[i];
    }
    const float k_inv = rsqrtf(ss / DIM + eps);
#pragma unroll
    for (int i = 0; i < DIM; ++i) k[i] *= k_inv * __ldg(k_norm + layer * DIM + i) * scale;

    const float* keys = sink_keys + (static_cast<long long>(layer) * h + head) * DIM * s;
    float mean = 0.f;
    for (int gg = 0; gg < g; ++gg) {
        const int hg = head * g + gg;
        const T* qr = qp + (row * h * g + hg) * DIM;
        const float* qb = q_bias + (static_cast<long long>(layer) * h * g + hg) * DIM;
        float q[DIM];
        ss = 0.f;
#pragma unroll
        for (int i = 0; i < DIM; ++i) {
            q[i] = to_float(qr[i]) + __ldg(qb + i);
            ss += q[i] * q[i];
        }
        const float q_inv = rsqrtf(ss / DIM + eps);
        float l = __ldg(bias + static_cast<long long>(layer) * h * g + hg);
#pragma unroll
        for (int i = 0; i < DIM; ++i) {
            q[i] *= q_inv * __ldg(q_norm + layer * DIM + i);
            l += q[i] * k[i];
        }
        // logsumexp over the sink logits, online (one pass over the S keys)
        float m = -CUDART_INF_F, sum = 0.f;
        for (int j = 0; j < s; ++j) {
            float v = 0.f;
#pragma unroll
            for (int i = 0; i < DIM; ++i) v += q[i] * __ldg(keys + i * s + j);
            v *= scale;
            if (v > m) {
                sum = sum * expf(m - v) + 1.f;
                m = v;
            } else {
                sum += expf(v - m);
            }
        }
        mean += 1.f / (1.f + expf(m + logf(sum) - l));
    }
    out[(static_cast<long long>(layer) * h + head) * t + token] = mean / g;
}

template <typename T>
cudaError_t by_dim(const void* qp, const void* kp, const float* q_bias, const float* q_norm, const float* k_norm,
                   const float* sink_keys, const float* bias, float* out, int n, long long t, int h, int g, int d, int s,
                   float eps, cudaStream_t stream) {
    const long long threads = static_cast<long long>(n) * t * h;
    if (threads == 0) return cudaSuccess;
    const unsigned blocks = static_cast<unsigned>((threads + THREADS - 1) / THREADS);
#define KVGATE_DIM(N) case N: sink_gate_kernel<T, N><<<blocks, THREADS, 0, stream>>>( \
        static_cast<const T*>(qp), static_cast<const T*>(kp), q_bias, q_norm, k_norm, sink_keys, bias, out, n, t, h, g, s, eps); break;
    switch (d) {
        KVGATE_DIM(8) KVGATE_DIM(16) KVGATE_DIM(32) KVGATE_DIM(64)
        default: return cudaErrorInvalidValue;
    }
#undef KVGATE_DIM
    return cudaGetLastError();
}

}  // namespace

extern "C" {

/**
 * dtype of qp/kp: 0 float32, 1 float16, 2 bfloat16. Shapes as sink_gate_kernel's; every tensor contiguous. d in {8, 16,
 * 32, 64} (cudaErrorInvalidValue otherwise), any G and S.
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
