#!/usr/bin/env bash
# Builds native/kvgate_cuda_graph.cpp (kvgate's own CUDA-graph operators) with its kernels native/kvgate_decode_attention.cu
# and native/kvgate_sink_gate.cu, and native/kvgate_gpu_trace.cpp (GPU-time profiling), against the torch that kvgate
# will load.
#
#   tools/build_cuda_graph_ops.sh OUT.so [PYTHON]
#
# PYTHON (default python3) must import the torch whose lib/ kvgate uses (KVGATE_TORCH_LIB); CUDA headers are taken
# from $CUDA_HOME/include (default /usr/local/cuda), nvcc from $CUDA_HOME/bin; CXX_STD (default c++17; newer torch
# headers need c++20). The library is then named by KVGATE_CUDA_GRAPH_OPS and passed to
# tools/make_fused_attention.py --graph-ops (docs/GPU.md).
set -euo pipefail
out=${1:?usage: tools/build_cuda_graph_ops.sh OUT.so [PYTHON]}
py=${2:-python3}
src="$(cd "$(dirname "$0")/.." && pwd)/native/kvgate_cuda_graph.cpp"
torch_dir=$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
abi=$("$py" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
cuda=${CUDA_HOME:-/usr/local/cuda}
# the kernels (float32 decode attention, sink-gate scores): plain CUDA, compiled by nvcc for the GPU found (else sm_90),
# PTX kept for newer ones
arch=$("$py" -c 'import torch; c = torch.cuda.get_device_capability() if torch.cuda.is_available() else (9, 0); print(f"{c[0]}{c[1]}")')
native=$(dirname "$src")
objs=()
trap 'rm -f "${objs[@]}"' EXIT
# the four compiles run in parallel (torch's headers make each C++ file ~20 s); any failure stops the build
pids=()
for kernel in kvgate_decode_attention kvgate_sink_gate; do
    obj=$(mktemp --suffix=.o)
    objs+=("$obj")
    "$cuda/bin/nvcc" -O3 -std=c++17 -Xcompiler -fPIC -gencode "arch=compute_$arch,code=[sm_$arch,compute_$arch]" \
        -c "$native/$kernel.cu" -o "$obj" &
    pids+=($!)
done
for file in kvgate_cuda_graph kvgate_gpu_trace; do
    obj=$(mktemp --suffix=.o)
    objs+=("$obj")
    g++ -O2 -std="${CXX_STD:-c++17}" -fPIC -D_GLIBCXX_USE_CXX11_ABI="$abi" -DUSE_CUDA \
        -I"$torch_dir/include" -I"$torch_dir/include/torch/csrc/api/include" -I"$cuda/include" \
        -c "$native/$file.cpp" -o "$obj" &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || { echo "build_cuda_graph_ops: a compile failed" >&2; exit 1; }; done
g++ -shared "${objs[@]}" -o "$out" \
    -L"$torch_dir/lib" -L"$cuda/lib64" -Wl,-rpath,"$torch_dir/lib" -ltorch -ltorch_cpu -ltorch_cuda -lc10 -lc10_cuda -lcudart
echo "built $out against torch in $torch_dir"
