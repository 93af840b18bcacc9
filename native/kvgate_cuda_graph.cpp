// kvgate's CUDA-graph operators for TorchScript (our own code; built on the GPU machine by
// tools/build_cuda_graph_ops.sh against that machine's torch, loaded by kvgate before the fused module).
//
// Why: a decode step of a 28-layer model is ~1000 small kernels. Launched one by one from TorchScript (or from DJL,
// one JNI call per op) the host needs ~10 us per kernel, so a step is host-bound at 10-25 ms while the GPU needs
// ~1 ms. Captured once into a CUDA graph, a step is one replay. DJL's JNI has no CUDA-graph API, but TorchScript
// can call registered operators, so the fused module (tools/make_fused_attention.py) brackets its decode step
// with these:
//
//   kvgate::graph_prepare(key)  synchronise, switch the thread to the graph's own side stream (capture needs a
//                               non-default stream; warm-up work runs there first so cuBLAS sets up outside capture)
//   kvgate::graph_begin(key)    start capturing on that stream (allocations go to the graph's private pool)
//   kvgate::graph_end(key)      end capture, instantiate, switch back to the previous stream, synchronise
//   kvgate::graph_replay(key)   launch the captured graph on the current stream
//   kvgate::graph_reset(key)    forget the graph (frees its memory pool); also undoes a failed capture
//
// and, because torch.cuda.max_memory_allocated is Python-only (not reachable from TorchScript or DJL):
//   kvgate::memory_stats(device) -> [allocated bytes now, peak allocated bytes] of torch's caching allocator
//   kvgate::memory_reset_peak(device)
//
// and a float32 decode attention kernel (native/kvgate_decode_attention.cu, compiled by nvcc), which replaces the
// matmul -> softmax -> split-matmul chain of a float32 decode step:
//   kvgate::decode_attention(q, k_rows, v_rows, starts, head_rows, lengths, max_len, scale) -> out
// and a sink-gate scoring kernel (native/kvgate_sink_gate.cu): everything of Fast KVzip's gate after its projections
//   kvgate::sink_gate_scores(q_proj, k_proj, q_bias, q_norm, k_norm, sink_keys, bias, kv_heads, eps) -> [n, H, T]
//
// Graphs are kept by an integer key chosen by the caller (one per decoding sequence). All operators are
// registered with CONSERVATIVE alias analysis: they return nothing, and TorchScript must neither drop nor reorder them.

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace {

struct Graph {
    at::cuda::CUDAGraph graph;
    std::optional<c10::cuda::CUDAStream> side;
    std::optional<c10::cuda::CUDAStream> previous;
    bool capturing = false;
    bool ready = false;
};

std::mutex registry_mutex;
std::map<int64_t, std::unique_ptr<Graph>> registry;

Graph& find(int64_t key) {
    std::lock_guard<std::mutex> lock(registry_mutex);
    auto it = registry.find(key);
    TORCH_CHECK(it != registry.end(), "kvgate: no CUDA graph with key ", key, " (graph_prepare first)");
    return *it->second;
}

void restore_stream(Graph& g) {
    if (g.previous) c10::cuda::setCurrentCUDAStream(*g.previous);
    g.previous.reset();
}

void graph_reset(int64_t key) {
    std::unique_ptr<Graph> old;
    {
        std::lock_guard<std::mutex> lock(registry_mutex);
        auto it = registry.find(key);
        if (it == registry.end()) return;
        old = std::move(it->second);
        registry.erase(it);
    }
    if (old->capturing) {
        try {
            old->graph.capture_end();  // ends the stream's capture mode even if the capture is invalid
        } catch (const std::exception&) {
        }
        old->capturing = false;
    }
    restore_stream(*old);
    c10::cuda::device_synchronize();
    // old (graph, private pool) is destroyed here
}

void graph_prepare(int64_t key) {
    graph_reset(key);
    auto g = std::make_unique<Graph>();
    c10::cuda::device_synchronize();  // the side stream must see everything queued before
    g->previous = c10::cuda::getCurrentCUDAStream();
    g->side = c10::cuda::getStreamFromPool();
    c10::cuda::setCurrentCUDAStream(*g->side);
    std::lock_guard<std::mutex> lock(registry_mutex);
    registry[key] = std::move(g);
}

void graph_begin(int64_t key) {
    Graph& g = find(key);
    TORCH_CHECK(g.side && !g.capturing && !g.ready, "kvgate: graph ", key, " is not prepared for capture");
    c10::cuda::device_synchronize();  // warm-up work on the side stream done before capture starts
    // thread-local mode: only this thread's unsafe calls (e.g. a synchronising copy) break the capture
    g.graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
    g.capturing = true;
}

void graph_end(int64_t key) {
    Graph& g = find(key);
    TORCH_CHECK(g.capturing, "kvgate: graph ", key, " is not capturing");
    g.graph.capture_end();
    g.capturing = false;
    g.ready = true;
    restore_stream(g);
    c10::cuda::device_synchronize();
}

void graph_replay(int64_t key) {
    Graph& g = find(key);
    TORCH_CHECK(g.ready, "kvgate: graph ", key, " has not been captured");
    g.graph.replay();
}

std::vector<int64_t> memory_stats(int64_t device) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
    const auto& all = stats.allocated_bytes[0];  // index 0: the aggregate over pool kinds
    return {all.current, all.peak};
}

void memory_reset_peak(int64_t device) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
}

extern "C" {
int kvgate_decode_attention_chunk(long long max_len, int hkv, int device);
cudaError_t kvgate_decode_attention_f32(const float* q, const float* k, const float* v, const int* starts,
                                        long long head_rows, const int* lengths, int per_head_lengths, int hkv, int g,
                                        int d, int splits, int chunk, float scale, float* part, float* ml, float* out,
                                        cudaStream_t stream);
cudaError_t kvgate_sink_gate_scores(int dtype, const void* qp, const void* kp, const float* q_bias, const float* q_norm,
                                    const float* k_norm, const float* sink_keys, const float* bias, float* out, int n,
                                    long long t, int h, int g, int d, int s, float eps, cudaStream_t stream);
}

// One decode token's attention in float32: q [Hkv, G, D] against each KV head's rows of k_rows/v_rows [R, D]: head h
// holds rows starts[h] .. (or h * head_rows .. when starts is empty) for lengths[h] rows (lengths[0] for every head
// when lengths has one element), read on the device. max_len bounds every length (it sizes the grid: fixed for a
// captured graph). Returns [Hkv, G, D].
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_rows, const at::Tensor& v_rows,
                            const at::Tensor& starts, int64_t head_rows, const at::Tensor& lengths, int64_t max_len,
                            double scale) {
    TORCH_CHECK(q.is_cuda() && q.scalar_type() == at::kFloat && q.dim() == 3, "kvgate::decode_attention: q must be a float32 CUDA [Hkv, G, D] tensor");
    const int64_t hkv = q.size(0), g = q.size(1), d = q.size(2);
    TORCH_CHECK(k_rows.scalar_type() == at::kFloat && v_rows.scalar_type() == at::kFloat && k_rows.is_contiguous()
                && v_rows.is_contiguous() && k_rows.size(-1) == d && v_rows.size(-1) == d,
                "kvgate::decode_attention: k_rows/v_rows must be contiguous float32 rows of ", d, " values");
    TORCH_CHECK(lengths.scalar_type() == at::kInt && (lengths.numel() == 1 || lengths.numel() >= hkv) && lengths.is_contiguous(),
                "kvgate::decode_attention: lengths must be int32 with 1 or Hkv elements");
    TORCH_CHECK(starts.numel() == 0 || (starts.scalar_type() == at::kInt && starts.numel() >= hkv),
                "kvgate::decode_attention: starts must be empty or int32 with Hkv elements");
    const int64_t chunk = kvgate_decode_attention_chunk(max_len, static_cast<int>(hkv), q.get_device());
    const int64_t splits = std::max<int64_t>(1, (max_len + chunk - 1) / chunk);
    at::Tensor qc = q.contiguous();
    at::Tensor out = at::empty_like(qc);
    at::Tensor part = at::empty({hkv, splits, g, d}, qc.options());
    at::Tensor ml = at::empty({hkv, splits, g, 2}, qc.options());
    at::Tensor st = starts.numel() == 0 ? starts : starts.contiguous();
    cudaError_t err = kvgate_decode_attention_f32(
        qc.data_ptr<float>(), k_rows.data_ptr<float>(), v_rows.data_ptr<float>(),
        starts.numel() == 0 ? nullptr : st.data_ptr<int>(), static_cast<long long>(head_rows), lengths.data_ptr<int>(),
        lengths.numel() == 1 ? 0 : 1, static_cast<int>(hkv), static_cast<int>(g), static_cast<int>(d),
        static_cast<int>(splits), static_cast<int>(chunk), static_cast<float>(scale), part.data_ptr<float>(), ml.data_ptr<float>(),
        out.data_ptr<float>(), c10::cuda::getCurrentCUDAStream(q.get_device()).stream());
    TORCH_CHECK(err == cudaSuccess, "kvgate::decode_attention: ", cudaGetErrorString(err), " (head_dim ", d,
                " must be 32, 64, 128 or 256; query heads per KV head 1..8)");
    return out;
}

// Sink-gate scores [n, H, T] (float32) of n gated layers from their projections q_proj [n, T, H*G*d] (= x W_q, no
// bias) and k_proj [n, T, H*d] (float32, float16 or bfloat16, one dtype), with the float32 parameters q_bias [n, H*G*d],
// q_norm/k_norm [n, d], sink_keys [n, H, d, S] (a column per sink key) and bias [n, H*G], each in any shape with those
// elements (n = 1: one gate's own shapes). d in {8, 16, 32, 64}.
at::Tensor sink_gate_scores(const at::Tensor& q_proj, const at::Tensor& k_proj, const at::Tensor& q_bias,
                            const at::Tensor& q_norm, const at::Tensor& k_norm, const at::Tensor& sink_keys,
                            const at::Tensor& bias, int64_t kv_heads, double eps) {
    TORCH_CHECK(q_proj.is_cuda() && q_proj.dim() == 3 && k_proj.dim() == 3 && k_proj.scalar_type() == q_proj.scalar_type()
                && k_proj.size(0) == q_proj.size(0) && k_proj.size(1) == q_proj.size(1),
                "kvgate::sink_gate_scores: q_proj [n, T, H*G*d] and k_proj [n, T, H*d] must be CUDA tensors of one dtype");
    const int64_t n = q_proj.size(0), t = q_proj.size(1), h = kv_heads;
    TORCH_CHECK(h > 0 && k_proj.size(2) % h == 0 && q_proj.size(2) % k_proj.size(2) == 0,
                "kvgate::sink_gate_scores: ", k_proj.size(2), " key columns and ", q_proj.size(2), " query columns do not fit ", h, " KV heads");
    const int64_t d = k_proj.size(2) / h, g = q_proj.size(2) / k_proj.size(2);
    const int64_t s = sink_keys.numel() / std::max<int64_t>(1, n * h * d);
    TORCH_CHECK(q_bias.numel() == n * h * g * d && q_norm.numel() == n * d && k_norm.numel() == n * d
                && sink_keys.numel() == n * h * d * s && s > 0 && bias.numel() == n * h * g,
                "kvgate::sink_gate_scores: parameter sizes do not match n=", n, " H=", h, " G=", g, " d=", d);
    const int dtype = q_proj.scalar_type() == at::kFloat ? 0 : q_proj.scalar_type() == at::kHalf ? 1
                      : q_proj.scalar_type() == at::kBFloat16 ? 2 : -1;
    TORCH_CHECK(dtype >= 0, "kvgate::sink_gate_scores: projections must be float32, float16 or bfloat16");
    auto f32 = [](const at::Tensor& p) { return p.to(at::kFloat).contiguous(); };
    at::Tensor qp = q_proj.contiguous(), kp = k_proj.contiguous();
    at::Tensor qb = f32(q_bias), qn = f32(q_norm), kn = f32(k_norm), keys = f32(sink_keys), b = f32(bias);
    at::Tensor out = at::empty({n, h, t}, qp.options().dtype(at::kFloat));
    cudaError_t err = kvgate_sink_gate_scores(dtype, qp.data_ptr(), kp.data_ptr(), qb.data_ptr<float>(), qn.data_ptr<float>(),
        kn.data_ptr<float>(), keys.data_ptr<float>(), b.data_ptr<float>(), out.data_ptr<float>(), static_cast<int>(n), t,
        static_cast<int>(h), static_cast<int>(g), static_cast<int>(d), static_cast<int>(s), static_cast<float>(eps),
        c10::cuda::getCurrentCUDAStream(q_proj.get_device()).stream());
    TORCH_CHECK(err == cudaSuccess, "kvgate::sink_gate_scores: ", cudaGetErrorString(err), " (d = ", d, " must be 8, 16, 32 or 64, and d*S + G*d + 2d + G floats = ", d * s + g * d + 2 * d + g,
                " must fit 48 KB of shared memory)");
    return out;
}

}  // namespace

TORCH_LIBRARY(kvgate, m) {
    m.def(torch::schema("graph_prepare(int key) -> ()", c10::AliasAnalysisKind::CONSERVATIVE), graph_prepare);
    m.def(torch::schema("graph_begin(int key) -> ()", c10::AliasAnalysisKind::CONSERVATIVE), graph_begin);
    m.def(torch::schema("graph_end(int key) -> ()", c10::AliasAnalysisKind::CONSERVATIVE), graph_end);
    m.def(torch::schema("graph_replay(int key) -> ()", c10::AliasAnalysisKind::CONSERVATIVE), graph_replay);
    m.def(torch::schema("graph_reset(int key) -> ()", c10::AliasAnalysisKind::CONSERVATIVE), graph_reset);
    m.def(torch::schema("memory_stats(int device) -> int[]", c10::AliasAnalysisKind::CONSERVATIVE), memory_stats);
    m.def(torch::schema("memory_reset_peak(int device) -> ()", c10::AliasAnalysisKind::CONSERVATIVE), memory_reset_peak);
    m.def("decode_attention(Tensor q, Tensor k_rows, Tensor v_rows, Tensor starts, int head_rows, Tensor lengths, "
          "int max_len, float scale) -> Tensor", decode_attention);
    m.def("sink_gate_scores(Tensor q_proj, Tensor k_proj, Tensor q_bias, Tensor q_norm, Tensor k_norm, Tensor sink_keys, "
          "Tensor bias, int kv_heads, float eps) -> Tensor", sink_gate_scores);
}
