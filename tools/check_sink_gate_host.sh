#!/usr/bin/env bash
# Checks the sink-gate kernel's code (native/kvgate_sink_gate.cu) on the CPU against a float64 reference: builds
# native/sink_gate_host_check.cu with nvcc (no GPU needed, CUDA's compiler only) and runs it. Exit status 1 on a
# mismatch. Run it after changing the kernel, before spending GPU time on it.
#
#   tools/check_sink_gate_host.sh        ($CUDA_HOME, default /usr/local/cuda)
set -euo pipefail
native="$(cd "$(dirname "$0")/.." && pwd)/native"
cuda=${CUDA_HOME:-/usr/local/cuda}
bin=$(mktemp)
trap 'rm -f "$bin"' EXIT
"$cuda/bin/nvcc" -O2 -std=c++17 -gencode "arch=compute_90,code=sm_90" "$native/sink_gate_host_check.cu" -o "$bin"
"$bin"
