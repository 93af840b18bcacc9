#!/bin/bash
# session 15, device call 3: the 1K gate overhead again with 10 repetitions, twice (call 2's 3-repetition 1K row gave
# 1.087x, call 1's 10-repetition one 1.011x), and the tiny model's single-chunk prefill with 10. Jars of commit dc6587d.
set -uo pipefail
echo "== env"
source .gpu-djl/device-env.sh || { echo "env failed"; exit 1; }
T0=$(date +%s); sec(){ echo; echo "== $1 (t=$(( $(date +%s)-T0 ))s)"; }
export KVGATE_JAVA_OPTS=-Xmx16g
sec fused
timeout 120 $PYTHON tools/make_fused_attention.py /tmp/fa.pt --graph-ops "$KVGATE_CUDA_GRAPH_OPS" 2>&1 | grep "^wrote\|Error\|error" | head
export KVGATE_FUSED_ATTENTION=/tmp/fa.pt
sec "random model"
$PYTHON -c "import sys; sys.path.insert(0,'tools'); import hf_reference_bench as h; h.make_random_qwen3('/tmp/qwen3-0.6b-random', 1234)" 2>&1 | tail -1
$PYTHON tools/make_random_gates.py /tmp/qwen3-0.6b-random /tmp/g06 --fingerprint x >/dev/null
FP=$(./kvgate inspect /tmp/g06 --model /tmp/qwen3-0.6b-random 2>&1 | sed -n 's/.*not for this model (\([0-9a-f]*\)).*/\1/p')
$PYTHON tools/make_random_gates.py /tmp/qwen3-0.6b-random /tmp/g06 --fingerprint "$FP"
for run in 1 2; do
  sec "0.6B 1K, 10 reps, run $run"
  timeout 90 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
     --dtype float16 --prefill-chunk 4096 --decode-steps 16 --context 1024 --reps 10 2>&1 | grep -v "^\s*at " | tail -4
done
sec "tiny 1K/2000, chunk 4096, 10 reps"
timeout 90 ./kvgate bench eviction --model checkpoints/tiny-retrieval-qwen3 --gates runs/quickstart/gates/sink --policy gate --ratio 0.3 \
   --device gpu --dtype float16 --prefill-chunk 4096 --decode-steps 32 --context 1024,2000 --reps 10 2>&1 | grep -v "^\s*at " | tail -5
sec done
