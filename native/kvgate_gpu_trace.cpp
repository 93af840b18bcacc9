// kvgate's GPU-time profiler for TorchScript (our own code; built with the CUDA-graph operators by
// tools/build_cuda_graph_ops.sh into the same library).
//
// Why: DJL's profiler (JniUtils.startProfile) is torch's legacy profiler and writes host times only, so kvgate's
// profiles could say how many libtorch calls a step makes and how long the host spends in them, but not how long the
// GPU works, nor on which kernels (a decode step is one CUDA-graph replay: one host call, ~100-1000 kernels). This
// drives torch's Kineto profiler (CUPTI) from C++, which records every kernel, copy and memset the GPU runs, including
// those of graph replays:
//
//   kvgate::gpu_trace_start()          start recording GPU activity (kernels, memcpy, memset)
//   kvgate::gpu_trace_stop(path) -> s  stop; `s` is a summary, one line per kernel name "count<TAB>total ns<TAB>name",
//                                      after two lines "busy<TAB>ns" (the union of the GPU's activity intervals) and
//                                      "span<TAB>ns" (first start to last end); the full Chrome trace is saved to `path`
//                                      unless it is empty.

#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/library.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace prof = torch::autograd::profiler;
namespace impl = torch::profiler::impl;

const std::set<impl::ActivityType> kGpuOnly{impl::ActivityType::CUDA};

void gpu_trace_start() {
    TORCH_CHECK(!prof::isProfilerEnabledInMainThread(), "kvgate::gpu_trace_start: a profiler is already running");
    impl::ProfilerConfig config(impl::ProfilerState::KINETO);
    prof::prepareProfiler(config, kGpuOnly);
    prof::enableProfiler(config, kGpuOnly);
}

std::string gpu_trace_stop(const std::string& path) {
    std::unique_ptr<prof::ProfilerResult> result = prof::disableProfiler();
    TORCH_CHECK(result, "kvgate::gpu_trace_stop: no profiler was running");
    std::map<std::string, std::pair<int64_t, int64_t>> by_name;  // name -> (count, total ns)
    std::vector<std::pair<uint64_t, uint64_t>> spans;
    for (const prof::KinetoEvent& e : result->events()) {
        if (e.deviceType() != c10::DeviceType::CUDA || e.durationNs() == 0) continue;
        auto& entry = by_name[e.name()];
        entry.first += 1;
        entry.second += static_cast<int64_t>(e.durationNs());
        spans.emplace_back(e.startNs(), e.endNs());
    }
    // busy = the union of the intervals (kernels of different streams may overlap)
    std::sort(spans.begin(), spans.end());
    uint64_t busy = 0, open_start = 0, open_end = 0;
    bool open = false;
    for (const auto& s : spans) {
        if (open && s.first <= open_end) {
            open_end = std::max(open_end, s.second);
            continue;
        }
        if (open) busy += open_end - open_start;
        open_start = s.first;
        open_end = s.second;
        open = true;
    }
    if (open) busy += open_end - open_start;
    uint64_t first = spans.empty() ? 0 : spans.front().first, last = 0;
    for (const auto& s : spans) last = std::max(last, s.second);
    std::ostringstream out;
    out << "busy\t" << busy << "\nspan\t" << (spans.empty() ? 0 : last - first) << "\n";
    for (const auto& [name, v] : by_name) out << v.first << "\t" << v.second << "\t" << name << "\n";
    if (!path.empty()) result->save(path);
    return out.str();
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(kvgate, m) {
    m.def(torch::schema("gpu_trace_start() -> ()", c10::AliasAnalysisKind::CONSERVATIVE), gpu_trace_start);
    m.def(torch::schema("gpu_trace_stop(str path) -> str", c10::AliasAnalysisKind::CONSERVATIVE), gpu_trace_stop);
}
