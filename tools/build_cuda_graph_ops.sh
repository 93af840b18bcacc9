#!/usr/bin/env bash
# Builds native/kvgate_cuda_graph.cpp (kvgate's own CUDA-graph operators) against the torch that kvgate will load.
#
#   tools/build_cuda_graph_ops.sh OUT.so [PYTHON]
#
# PYTHON (default python3) must import the torch whose lib/ kvgate uses (KVGATE_TORCH_LIB); CUDA headers are taken
# from $CUDA_HOME/include (default /usr/local/cuda). The library is then named by KVGATE_CUDA_GRAPH_OPS and passed to
# tools/make_fused_attention.py --graph-ops (docs/GPU.md).
set -euo pipefail
out=${1:?usage: tools/build_cuda_graph_ops.sh OUT.so [PYTHON]}
py=${2:-python3}
src="$(cd "$(dirname "$0")/.." && pwd)/native/kvgate_cuda_graph.cpp"
torch_dir=$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
abi=$("$py" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
cuda=${CUDA_HOME:-/usr/local/cuda}
g++ -O2 -std=c++17 -shared -fPIC -D_GLIBCXX_USE_CXX11_ABI="$abi" -DUSE_CUDA \
    -I"$torch_dir/include" -I"$torch_dir/include/torch/csrc/api/include" -I"$cuda/include" \
    "$src" -o "$out" \
    -L"$torch_dir/lib" -Wl,-rpath,"$torch_dir/lib" -ltorch -ltorch_cpu -ltorch_cuda -lc10 -lc10_cuda
echo "built $out against torch in $torch_dir"
