// Runs the sink-gate kernel's own code (native/kvgate_sink_gate.cu: stage_parameters, token_score) on the CPU, block by
// block as the GPU would (every thread's share of the parameters staged, then each token scored), against a float64
// reference of the gate (the same function as tools/make_fused_attention.py's _sink_gate_torch). It checks the kernel's
// indexing and math without a GPU; tools/make_fused_attention.py checks the kernel itself on one.
//
//   tools/check_sink_gate_host.sh      (builds this with nvcc and runs it; exit status 1 on a mismatch)
#include "kvgate_sink_gate.cu"

#include <cstdio>
#include <random>
#include <vector>

namespace {

template <typename T>
T from_float(float v);
template <>
float from_float<float>(float v) { return v; }
template <>
__half from_float<__half>(float v) { return __float2half(v); }
template <>
__nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16(v); }

// score of one (layer, token, head) in float64 from the rounded projections
double reference(const std::vector<double>& qp, const std::vector<double>& kp, const GateParams& p, int dim, int layer,
                 long long token, int head) {
    const long long row = static_cast<long long>(layer) * p.t + token;
    const double scale = 1.0 / std::sqrt(static_cast<double>(dim));
    std::vector<double> k(dim);
    double ss = 0;
    for (int i = 0; i < dim; ++i) {
        k[i] = kp[(row * p.h + head) * dim + i];
        ss += k[i] * k[i];
    }
    for (int i = 0; i < dim; ++i) k[i] = k[i] / std::sqrt(ss / dim + p.eps) * p.k_norm[layer * dim + i];
    double mean = 0;
    for (int gg = 0; gg < p.g; ++gg) {
        const int hg = head * p.g + gg;
        std::vector<double> q(dim);
        ss = 0;
        for (int i = 0; i < dim; ++i) {
            q[i] = qp[(row * p.h * p.g + hg) * dim + i] + p.q_bias[(static_cast<long long>(layer) * p.h * p.g + hg) * dim + i];
            ss += q[i] * q[i];
        }
        double l = p.bias[static_cast<long long>(layer) * p.h * p.g + hg];
        for (int i = 0; i < dim; ++i) {
            q[i] = q[i] / std::sqrt(ss / dim + p.eps) * p.q_norm[layer * dim + i];
            l += q[i] * k[i] * scale;
        }
        const float* keys = p.sink_keys + (static_cast<long long>(layer) * p.h + head) * dim * p.s;
        std::vector<double> ls(p.s);
        double m = -1e300;
        for (int j = 0; j < p.s; ++j) {
            ls[j] = 0;
            for (int i = 0; i < dim; ++i) ls[j] += q[i] * keys[i * p.s + j] * scale;
            m = std::max(m, ls[j]);
        }
        double sum = 0;
        for (int j = 0; j < p.s; ++j) sum += std::exp(ls[j] - m);
        mean += 1.0 / (1.0 + std::exp(m + std::log(sum) - l));
    }
    return mean / p.g;
}

// max |kernel code - reference| over every score of a random batch
template <typename T, int DIM, int SINKS, bool VEC>
double check(int n, long long t, int h, int g, int s, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.f, 1.f);
    auto randoms = [&](size_t count, float sd, float mean = 0.f) {
        std::vector<float> v(count);
        for (float& x : v) x = mean + sd * normal(rng);
        return v;
    };
    const long long rows = static_cast<long long>(n) * t;
    std::vector<float> qf = randoms(rows * h * g * DIM, 2.f), kf = randoms(rows * h * DIM, 2.f);
    std::vector<T> qp(qf.size()), kp(kf.size());
    std::vector<double> qd(qf.size()), kd(kf.size());  // the reference sees the same rounded projections
    for (size_t i = 0; i < qf.size(); ++i) qd[i] = to_float(qp[i] = from_float<T>(qf[i]));
    for (size_t i = 0; i < kf.size(); ++i) kd[i] = to_float(kp[i] = from_float<T>(kf[i]));
    std::vector<float> q_bias = randoms(static_cast<size_t>(n) * h * g * DIM, 0.5f), q_norm = randoms(n * DIM, 0.2f, 1.f),
                       k_norm = randoms(n * DIM, 0.2f, 1.f), keys = randoms(static_cast<size_t>(n) * h * DIM * s, 3.f),
                       bias = randoms(static_cast<size_t>(n) * h * g, 1.f);
    const GateParams p{q_bias.data(), q_norm.data(), k_norm.data(), keys.data(), bias.data(), t, h, g, s, 1e-6f};
    // the kernel's grid (ceil(T / THREADS), H, n), one block after the other: phase 1 for all its threads, then phase 2
    std::vector<float> shared(shared_floats(DIM, g, s)), out(static_cast<size_t>(n) * h * t, NAN);
    for (int layer = 0; layer < n; ++layer)
        for (int head = 0; head < h; ++head)
            for (long long block = 0; block * THREADS < t; ++block) {
                for (int tid = 0; tid < THREADS; ++tid) stage_parameters<DIM>(shared.data(), p, layer, head, tid, THREADS);
                for (int tid = 0; tid < THREADS; ++tid) {
                    const long long token = block * THREADS + tid;
                    if (token < t) score_token<T, DIM, SINKS, VEC>(shared.data(), p, qp.data(), kp.data(), out.data(), layer, head, token);
                }
            }
    double worst = 0;
    for (int layer = 0; layer < n; ++layer) {
        for (int head = 0; head < h; ++head) {
            for (long long token = 0; token < t; ++token) {
                const double got = out[(static_cast<size_t>(layer) * h + head) * t + token];  // out [n, H, T]
                const double err = std::abs(got - reference(qd, kd, p, DIM, layer, token, head));
                worst = err <= worst ? worst : std::isnan(err) ? INFINITY : err;  // a NaN fails
            }
        }
    }
    return worst;
}

}  // namespace

int main() {
    std::mt19937 rng(7);
    struct Case {
        const char* name;
        double err;
    };
    std::vector<Case> cases = {
        {"float32 n=3 T=37 H=2 G=3 d=16 S=5 (any S)", check<float, 16, 0, false>(3, 37, 2, 3, 5, rng)},
        {"float32 n=3 T=37 H=2 G=3 d=16 S=5 (any S, 16-byte loads)", check<float, 16, 0, true>(3, 37, 2, 3, 5, rng)},
        {"float16 n=28 T=300 H=8 G=2 d=16 S=16 (0.6B's gates)", check<__half, 16, 16, true>(28, 300, 8, 2, 16, rng)},
        {"float16 n=4 T=130 H=8 G=2 d=16 S=16 (scalar loads)", check<__half, 16, 16, false>(4, 130, 8, 2, 16, rng)},
        {"float32 n=4 T=130 H=8 G=2 d=16 S=16", check<float, 16, 16, true>(4, 130, 8, 2, 16, rng)},
        {"bfloat16 n=2 T=129 H=4 G=1 d=32 S=16", check<__nv_bfloat16, 32, 16, true>(2, 129, 4, 1, 16, rng)},
        {"float16 n=2 T=9 H=4 G=1 d=32 S=3", check<__half, 32, 0, true>(2, 9, 4, 1, 3, rng)},
        {"float16 n=2 T=200 H=2 G=4 d=8 S=16", check<__half, 8, 16, true>(2, 200, 2, 4, 16, rng)},
        {"float32 n=2 T=70 H=2 G=2 d=64 S=16", check<float, 64, 16, true>(2, 70, 2, 2, 16, rng)},
    };
    bool ok = true;
    for (const Case& c : cases) {
        const bool pass = c.err < 2e-5;  // float32 arithmetic against float64 on the same rounded inputs
        ok &= pass;
        std::printf("%s %-58s max abs err %.2e\n", pass ? "ok  " : "FAIL", c.name, c.err);
    }
    return ok ? 0 : 1;
}
