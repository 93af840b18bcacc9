#!/bin/bash
# session 13, device call 1 (session 12 call 2 not run): the sink-gate kernel with its parameters in shared memory (a block per (layer, head)):
# module check, bench gates, gate overhead at 1K/8K/32K with 5 repetitions and the 8K GPU trace.
set -uo pipefail
echo "== env"
source .gpu-djl/device-env.sh || { echo "env failed"; exit 1; }
T0=$(date +%s); sec(){ echo; echo "== $1 (t=$(( $(date +%s)-T0 ))s)"; }
export KVGATE_JAVA_OPTS=-Xmx16g
sec fused
timeout 120 $PYTHON tools/make_fused_attention.py /tmp/fa.pt --graph-ops "$KVGATE_CUDA_GRAPH_OPS" 2>&1 | grep "^sink_gate\|^wrote\|^gpu_trace\|^attend_segments\|Error\|error" | head -20
export KVGATE_FUSED_ATTENTION=/tmp/fa.pt
sec "bench gates float16"
timeout 120 ./kvgate bench gates --device gpu --dtype float16 --tokens 1024,8192,32768 --warmup 3 --reps 10 2>&1 | grep -v "^\s*at " | tail -14
sec "random model"
$PYTHON -c "import sys; sys.path.insert(0,'tools'); import hf_reference_bench as h; h.make_random_qwen3('/tmp/qwen3-0.6b-random', 1234)" 2>&1 | tail -1
$PYTHON tools/make_random_gates.py /tmp/qwen3-0.6b-random /tmp/g06 --fingerprint x >/dev/null
FP=$(./kvgate inspect /tmp/g06 --model /tmp/qwen3-0.6b-random 2>&1 | sed -n 's/.*not for this model (\([0-9a-f]*\)).*/\1/p')
$PYTHON tools/make_random_gates.py /tmp/qwen3-0.6b-random /tmp/g06 --fingerprint "$FP"
sec "8K/1K, fused gates, 5 reps, profiles at 8K"
timeout 150 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
   --dtype float16 --prefill-chunk 4096 --decode-steps 16 --context 8192,1024 --reps 5 --profile-prefill 2>&1 | grep -v "^\s*at " | tail -48
sec "32K, 2 reps, profiles (host samples of the evicting prefill)"
timeout 100 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
   --dtype float16 --prefill-chunk 4096 --decode-steps 16 --context 32768 --reps 2 --profile-prefill 2>&1 | grep -v "^\s*at " | tail -90
sec done
