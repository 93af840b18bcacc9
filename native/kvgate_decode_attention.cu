// kvgate's float32 decode attention: one new token's G query heads per KV head against that head's cached keys,
// split over the keys as in flash-decoding (one thread block per KV head and piece of keys, then one combine kernel).
//
// Why: float32 has no FlashAttention, and torch's ops (matmul -> softmax -> split matmul) read the float32 cache at
// ~1 TB/s of the H100's 3.35 (BENCHMARKS.md, session 6). This reads every key and value row once, coalesced (a warp
// per row: lane l holds elements [VEC*l, VEC*l + VEC)), several rows in flight per warp.
//
// Plain CUDA with a C entry point (no torch headers: nvcc only compiles this file); native/kvgate_cuda_graph.cpp wraps
// it as the operator kvgate::decode_attention. Lengths and segment starts are read on the device, so a captured CUDA
// graph stays valid while they change.
#include <cuda_runtime.h>
#include <math_constants.h>

namespace {

constexpr int WARPS = 4;      // per block
constexpr int UNROLL = 4;     // key rows a warp loads before using them
constexpr int MAX_CHUNK = 256;  // keys per block (one piece of the split) at most; fewer for short contexts
constexpr int MIN_CHUNK = WARPS * UNROLL * 2;

template <int VEC>
struct Row {
    float x[VEC];
};

template <int VEC>
__device__ __forceinline__ Row<VEC> load_row(const float* __restrict__ p) {
    Row<VEC> r;
    if constexpr (VEC == 4) {
        float4 f = __ldg(reinterpret_cast<const float4*>(p));
        r.x[0] = f.x; r.x[1] = f.y; r.x[2] = f.z; r.x[3] = f.w;
    } else if constexpr (VEC == 2) {
        float2 f = __ldg(reinterpret_cast<const float2*>(p));
        r.x[0] = f.x; r.x[1] = f.y;
    } else {
#pragma unroll
        for (int e = 0; e < VEC; ++e) r.x[e] = __ldg(p + e);
    }
    return r;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Block (split s, KV head h): keys [s*chunk, min((s+1)*chunk, len_h)) of head h. Writes the piece's unnormalised
// output part[h, s, g, :], its running max and sum ml[h, s, g, 0..1] (max -inf and sum 0 for an empty piece).
template <int VEC, int G>
__global__ void __launch_bounds__(WARPS * 32) split_kernel(
        const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
        const int* __restrict__ starts, long long head_rows, const int* __restrict__ lengths, int per_head_lengths,
        int splits, int chunk, float scale, float* __restrict__ part, float* __restrict__ ml) {
    constexpr int D = 32 * VEC;
    const int s = blockIdx.x, h = blockIdx.y, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int len = lengths[per_head_lengths ? h : 0];
    const long long start = starts != nullptr ? (long long) starts[h] : (long long) h * head_rows;
    const int first = s * chunk, last = min(first + chunk, len);

    float qr[G][VEC];
#pragma unroll
    for (int g = 0; g < G; ++g) {
        Row<VEC> r = load_row<VEC>(q + ((long long) h * G + g) * D + lane * VEC);
#pragma unroll
        for (int e = 0; e < VEC; ++e) qr[g][e] = r.x[e] * scale;
    }
    float m[G], l[G], acc[G][VEC];
#pragma unroll
    for (int g = 0; g < G; ++g) {
        m[g] = -CUDART_INF_F;
        l[g] = 0.f;
#pragma unroll
        for (int e = 0; e < VEC; ++e) acc[g][e] = 0.f;
    }

    for (int base = first + warp * UNROLL; base < last; base += WARPS * UNROLL) {
        Row<VEC> kr[UNROLL], vr[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            const int i = min(base + u, last - 1);  // past the end: a valid row, masked below
            kr[u] = load_row<VEC>(k + (start + i) * D + lane * VEC);
            vr[u] = load_row<VEC>(v + (start + i) * D + lane * VEC);
        }
#pragma unroll
        for (int g = 0; g < G; ++g) {
            float sc[UNROLL];
            float mx = m[g];
#pragma unroll
            for (int u = 0; u < UNROLL; ++u) {
                float dot = 0.f;
#pragma unroll
                for (int e = 0; e < VEC; ++e) dot = fmaf(qr[g][e], kr[u].x[e], dot);
                sc[u] = base + u < last ? warp_sum(dot) : -CUDART_INF_F;
                mx = fmaxf(mx, sc[u]);
            }
            const float keep = __expf(m[g] - mx);  // m[g] = -inf at first: 0
            l[g] *= keep;
#pragma unroll
            for (int e = 0; e < VEC; ++e) acc[g][e] *= keep;
#pragma unroll
            for (int u = 0; u < UNROLL; ++u) {
                const float p = __expf(sc[u] - mx);
                l[g] += p;
#pragma unroll
                for (int e = 0; e < VEC; ++e) acc[g][e] = fmaf(p, vr[u].x[e], acc[g][e]);
            }
            m[g] = mx;
        }
    }

    // the block's warps combined through shared memory
    __shared__ float sm[WARPS][G], sl[WARPS][G], sacc[WARPS][G][D];
#pragma unroll
    for (int g = 0; g < G; ++g) {
        if (lane == 0) {
            sm[warp][g] = m[g];
            sl[warp][g] = l[g];
        }
#pragma unroll
        for (int e = 0; e < VEC; ++e) sacc[warp][g][lane * VEC + e] = acc[g][e];
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < G * D; idx += WARPS * 32) {
        const int g = idx / D, e = idx % D;
        float mx = -CUDART_INF_F;
#pragma unroll
        for (int w = 0; w < WARPS; ++w) mx = fmaxf(mx, sm[w][g]);
        float sum = 0.f, o = 0.f;
        if (mx != -CUDART_INF_F) {
#pragma unroll
            for (int w = 0; w < WARPS; ++w) {
                const float f = __expf(sm[w][g] - mx);
                sum += sl[w][g] * f;
                o += sacc[w][g][e] * f;
            }
        }
        const long long row = ((long long) h * splits + s) * G + g;
        part[row * D + e] = o;
        if (e == 0) {
            ml[row * 2] = mx;
            ml[row * 2 + 1] = sum;
        }
    }
}

// Block (h, g), thread e: out[h, g, e] = sum_s part[h, s, g, e] * exp(m_s - M) / sum_s l_s * exp(m_s - M).
__global__ void combine_kernel(const float* __restrict__ part, const float* __restrict__ ml, int splits, int G, int D,
                               float* __restrict__ out) {
    const int hg = blockIdx.x, h = hg / G, g = hg % G;
    float mx = -CUDART_INF_F;
    for (int s = 0; s < splits; ++s) mx = fmaxf(mx, ml[(((long long) h * splits + s) * G + g) * 2]);
    for (int e = threadIdx.x; e < D; e += blockDim.x) {
        float sum = 0.f, o = 0.f;
        for (int s = 0; s < splits; ++s) {
            const long long row = ((long long) h * splits + s) * G + g;
            const float ms = ml[row * 2];
            if (ms == -CUDART_INF_F) continue;
            const float f = __expf(ms - mx);
            sum += ml[row * 2 + 1] * f;
            o += part[row * D + e] * f;
        }
        out[(long long) hg * D + e] = o / sum;
    }
}

template <int VEC, int G>
cudaError_t launch(const float* q, const float* k, const float* v, const int* starts, long long head_rows,
                   const int* lengths, int per_head_lengths, int hkv, int splits, int chunk, float scale, float* part,
                   float* ml, float* out, cudaStream_t stream) {
    split_kernel<VEC, G><<<dim3(splits, hkv), WARPS * 32, 0, stream>>>(q, k, v, starts, head_rows, lengths,
                                                                      per_head_lengths, splits, chunk, scale, part, ml);
    combine_kernel<<<hkv * G, 32 * VEC, 0, stream>>>(part, ml, splits, G, 32 * VEC, out);
    return cudaGetLastError();
}

template <int VEC>
cudaError_t by_group(int g, const float* q, const float* k, const float* v, const int* starts, long long head_rows,
                     const int* lengths, int per_head_lengths, int hkv, int splits, int chunk, float scale, float* part,
                     float* ml, float* out, cudaStream_t stream) {
#define KVGATE_G(N) case N: return launch<VEC, N>(q, k, v, starts, head_rows, lengths, per_head_lengths, hkv, splits, \
                                                  chunk, scale, part, ml, out, stream);
    switch (g) {
        KVGATE_G(1) KVGATE_G(2) KVGATE_G(3) KVGATE_G(4) KVGATE_G(5) KVGATE_G(6) KVGATE_G(7) KVGATE_G(8)
        default: return cudaErrorInvalidValue;
    }
#undef KVGATE_G
}

}  // namespace

extern "C" {

/**
 * Keys per piece of the split for keys up to max_len per head: 256, or fewer where that would leave the
 * multiprocessors of GPU `device` short of two blocks each (short contexts: a block's warps would walk their keys one after another).
 */
int kvgate_decode_attention_chunk(long long max_len, int hkv, int device) {
    int multiprocessors = 0;
    if (cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || multiprocessors <= 0)
        multiprocessors = 132;  // an H100's
    long long want = (max_len * hkv + 2LL * multiprocessors - 1) / (2LL * multiprocessors);
    long long chunk = (want + MIN_CHUNK - 1) / MIN_CHUNK * MIN_CHUNK;
    return (int) (chunk < MIN_CHUNK ? MIN_CHUNK : chunk > MAX_CHUNK ? MAX_CHUNK : chunk);
}

/**
 * q [hkv, g, d]; k/v rows [R, d]; head h's keys are rows start_h .. start_h + len_h - 1, start_h = starts[h] (or
 * h * head_rows when starts is null), len_h = lengths[h] (or lengths[0] for every head when !per_head_lengths), all
 * read on the device; len_h <= splits * chunk. part/ml: [hkv, splits, g, d] / [hkv, splits, g, 2] workspace.
 * out [hkv, g, d]. d in {32, 64, 128, 256}, g in 1..8.
 */
cudaError_t kvgate_decode_attention_f32(const float* q, const float* k, const float* v, const int* starts,
                                        long long head_rows, const int* lengths, int per_head_lengths, int hkv, int g,
                                        int d, int splits, int chunk, float scale, float* part, float* ml, float* out,
                                        cudaStream_t stream) {
#define KVGATE_D(N, VEC) case N: return by_group<VEC>(g, q, k, v, starts, head_rows, lengths, per_head_lengths, hkv, \
                                                      splits, chunk, scale, part, ml, out, stream);
    switch (d) {
        KVGATE_D(32, 1) KVGATE_D(64, 2) KVGATE_D(128, 4) KVGATE_D(256, 8)
        default: return cudaErrorInvalidValue;
    }
#undef KVGATE_D
}

}  // extern "C"
