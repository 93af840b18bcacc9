#!/bin/bash
# session 12, device call 1: GPU-time traces (Kineto through kvgate's operators): sink-gate overhead at 8K by kernel,
# the evicting prefill at 32K (staging/lookup changes of session 11), decode steps' GPU time (tiny, 0.6B).
set -uo pipefail
echo "== env"
source .gpu-djl/device-env.sh || { echo "env failed"; exit 1; }
T0=$(date +%s); sec(){ echo; echo "== $1 (t=$(( $(date +%s)-T0 ))s)"; }
export KVGATE_JAVA_OPTS=-Xmx16g
sec fused
timeout 120 $PYTHON tools/make_fused_attention.py /tmp/fa.pt --graph-ops "$KVGATE_CUDA_GRAPH_OPS" 2>&1 | grep "^sink_gate\|^wrote\|^gpu_trace\|^memory_stats\|Error\|error" | head -20
export KVGATE_FUSED_ATTENTION=/tmp/fa.pt
sec "tiny profile float16 (GPU per step)"
timeout 60 ./kvgate bench profile --device gpu --dtype float16 --model checkpoints/tiny-retrieval-qwen3 \
    --contexts 1024,32768 --steps 32 --warmup 4 --prefill-reps 3 --profile-steps 16 2>&1 | grep -v "^\s*at " | tail -80
sec "bench gates float16"
timeout 120 ./kvgate bench gates --device gpu --dtype float16 --tokens 1024,4096,8192,32768 --warmup 3 --reps 10 2>&1 | grep -v "^\s*at " | tail -20
sec "random model"
$PYTHON -c "import sys; sys.path.insert(0,'tools'); import hf_reference_bench as h; h.make_random_qwen3('/tmp/qwen3-0.6b-random', 1234)" 2>&1 | tail -1
$PYTHON tools/make_random_gates.py /tmp/qwen3-0.6b-random /tmp/g06 --fingerprint x >/dev/null
FP=$(./kvgate inspect /tmp/g06 --model /tmp/qwen3-0.6b-random 2>&1 | sed -n 's/.*not for this model (\([0-9a-f]*\)).*/\1/p')
$PYTHON tools/make_random_gates.py /tmp/qwen3-0.6b-random /tmp/g06 --fingerprint "$FP"
ev() { # contexts reps
  timeout 200 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
     --dtype float16 --prefill-chunk 4096 --decode-steps 16 --context $1 --reps $2 --profile-prefill 2>&1 | grep -v "^\s*at " | tail -60
}
sec "8K, fused gates, 5 reps, profiles at 8K"
ev 8192 5
sec "0.6B profile float16 at 1K and 32K (GPU per step)"
timeout 120 ./kvgate bench profile --device gpu --dtype float16 --model /tmp/qwen3-0.6b-random \
    --contexts 1024,32768 --steps 32 --warmup 4 --prefill-reps 2 --profile-steps 16 2>&1 | grep -v "^\s*at " | tail -80
sec "32K, fused gates, 2 reps, profiles at 32K"
ev 32768 2
sec done
