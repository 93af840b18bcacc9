#!/bin/bash
# session 13, device call 3: correctness of the changed ragged layout on the GPU (tiny eval), the 1K gate overhead
# profiled, the tiny model's gate overhead, and 8K/32K after the head diagonal moved to the device.
set -uo pipefail
echo "== env"
source .gpu-djl/device-env.sh || { echo "env failed"; exit 1; }
T0=$(date +%s); sec(){ echo; echo "== $1 (t=$(( $(date +%s)-T0 ))s)"; }
export KVGATE_JAVA_OPTS=-Xmx16g
sec fused
timeout 120 $PYTHON tools/make_fused_attention.py /tmp/fa.pt --graph-ops "$KVGATE_CUDA_GRAPH_OPS" 2>&1 | grep "^wrote\|^attend_segments\|Error\|error" | head -20
export KVGATE_FUSED_ATTENTION=/tmp/fa.pt
sec "eval tiny float16 prefill-chunk 64"
timeout 90 ./kvgate eval --model checkpoints/tiny-retrieval-qwen3 --gates runs/quickstart/gates/sink \
   --generate passkey:10,kv:10 --seed 7 --ratios 0.3 --policies full,gate --prefill-chunk 64 --device gpu --dtype float16 \
   --out /tmp/ev-float16 --quiet 2>&1 | grep -v "^\s*at \|cannot draw" | tail -2
cat /tmp/ev-float16/results.csv
sec "tiny eviction overhead 1K/2000, chunk 512, 10 reps"
timeout 90 ./kvgate bench eviction --model checkpoints/tiny-retrieval-qwen3 --gates runs/quickstart/gates/sink --policy gate \
   --ratio 0.3 --device gpu --dtype float16 --prefill-chunk 512 --decode-steps 32 --context 1024,2000 --reps 10 2>&1 | grep -v "^\s*at " | tail -5
sec "random model"
$PYTHON -c "import sys; sys.path.insert(0,'tools'); import hf_reference_bench as h; h.make_random_qwen3('/tmp/qwen3-0.6b-random', 1234)" 2>&1 | tail -1
$PYTHON tools/make_random_gates.py /tmp/qwen3-0.6b-random /tmp/g06 --fingerprint x >/dev/null
FP=$(./kvgate inspect /tmp/g06 --model /tmp/qwen3-0.6b-random 2>&1 | sed -n 's/.*not for this model (\([0-9a-f]*\)).*/\1/p')
$PYTHON tools/make_random_gates.py /tmp/qwen3-0.6b-random /tmp/g06 --fingerprint "$FP"
sec "0.6B 1K, 10 reps, profiles at 1K"
timeout 120 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
   --dtype float16 --prefill-chunk 4096 --decode-steps 16 --context 1024 --reps 10 --profile-prefill 2>&1 | grep -v "^\s*at "
sec "0.6B 8K/32K, 5 reps"
timeout 150 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
   --dtype float16 --prefill-chunk 4096 --decode-steps 16 --context 8192,32768 --reps 5 2>&1 | grep -v "^\s*at " | tail -5
sec done
