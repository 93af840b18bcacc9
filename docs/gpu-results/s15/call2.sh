#!/bin/bash
# session 15, device call 2: what call 1 lost: the tiny eval on the GPU (call 1's tokenizers jar lacked its properties
# file), the 0.6B eviction tables at 1K/8K/32K (call 1's gpu_checks.sh cut them with tail), the tiny chunk-4096 eviction
# (printed nothing in call 1), raw; the tiny model's scored-prefill and decode profiles. Jars of commit dc6587d.
set -uo pipefail
echo "== env"
source .gpu-djl/device-env.sh || { echo "env failed"; exit 1; }
T0=$(date +%s); sec(){ echo; echo "== $1 (t=$(( $(date +%s)-T0 ))s)"; }
export KVGATE_JAVA_OPTS=-Xmx16g
sec fused
timeout 120 $PYTHON tools/make_fused_attention.py /tmp/fa.pt --graph-ops "$KVGATE_CUDA_GRAPH_OPS" 2>&1 | grep "^wrote\|Error\|error" | head
export KVGATE_FUSED_ATTENTION=/tmp/fa.pt
for dt in float16 float32; do
  sec "eval tiny $dt prefill-chunk 64"
  timeout 90 ./kvgate eval --model checkpoints/tiny-retrieval-qwen3 --gates runs/quickstart/gates/sink \
     --generate passkey:10,kv:10 --seed 7 --ratios 0.3 --policies full,gate --prefill-chunk 64 --device gpu --dtype $dt \
     --out /tmp/ev-$dt --quiet 2>&1 | grep -v "^\s*at \|cannot draw" | tail -2
  cat /tmp/ev-$dt/results.csv
done
sec "tiny eviction, chunk 4096, 2 reps, profiles (raw)"
timeout 100 ./kvgate bench eviction --model checkpoints/tiny-retrieval-qwen3 --gates runs/quickstart/gates/sink --policy gate --ratio 0.3 \
   --device gpu --dtype float16 --prefill-chunk 4096 --decode-steps 32 --context 1024,2000 --reps 2 --profile-prefill > /tmp/tiny-ev.log 2>&1
echo "rc=$?"; grep -v " < " /tmp/tiny-ev.log | head -60
sec "random model"
$PYTHON -c "import sys; sys.path.insert(0,'tools'); import hf_reference_bench as h; h.make_random_qwen3('/tmp/qwen3-0.6b-random', 1234)" 2>&1 | tail -1
$PYTHON tools/make_random_gates.py /tmp/qwen3-0.6b-random /tmp/g06 --fingerprint x >/dev/null
FP=$(./kvgate inspect /tmp/g06 --model /tmp/qwen3-0.6b-random 2>&1 | sed -n 's/.*not for this model (\([0-9a-f]*\)).*/\1/p')
$PYTHON tools/make_random_gates.py /tmp/qwen3-0.6b-random /tmp/g06 --fingerprint "$FP"
sec "0.6B eviction 1K/8K/32K, 3 reps, profiles"
timeout 200 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
   --dtype float16 --prefill-chunk 4096 --decode-steps 32 --context 1024,8192,32768 --reps 3 --profile-prefill 2>&1 | grep -v "^\s*at \| < "
sec "0.6B eviction 8K/32K, 5 reps, no profile"
timeout 150 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
   --dtype float16 --prefill-chunk 4096 --decode-steps 32 --context 8192,32768 --reps 5 2>&1 | grep -v "^\s*at " | tail -5
sec "tiny 1K, chunk 512, 10 reps, profiles (scored overhead)"
timeout 90 ./kvgate bench eviction --model checkpoints/tiny-retrieval-qwen3 --gates runs/quickstart/gates/sink --policy gate \
   --ratio 0.3 --device gpu --dtype float16 --prefill-chunk 512 --decode-steps 32 --context 1024 --reps 10 --profile-prefill 2>&1 | grep -v "^\s*at \| < "
sec "tiny decode profile float16 (GPU time per step, launches)"
timeout 90 ./kvgate bench profile --device gpu --dtype float16 --model checkpoints/tiny-retrieval-qwen3 \
   --contexts 1024,32768 --steps 32 --warmup 4 --prefill-reps 2 --profile-steps 8 2>&1 | grep -v "^\s*at " | head -90
sec done
