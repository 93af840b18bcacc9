#!/bin/bash
# session 15, device call 1: session 14's code (module v15: prefill_more, gather_rows, gates bound into prefill,
# prefill_segments) on the GPU: tools/gpu_checks.sh in full, then the 1K overhead with 10 repetitions (0.6B and tiny).
set -uo pipefail
echo "== env"
source .gpu-djl/device-env.sh || { echo "env failed"; exit 1; }
bash tools/gpu_checks.sh
T0=$(date +%s); sec(){ echo; echo "== $1 (t=$(( $(date +%s)-T0 ))s, after gpu_checks)"; }
export KVGATE_JAVA_OPTS=-Xmx16g KVGATE_FUSED_ATTENTION=/tmp/fa.pt
sec "0.6B 1K, 10 reps, profiles at 1K"
timeout 90 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
   --dtype float16 --prefill-chunk 4096 --decode-steps 16 --context 1024 --reps 10 --profile-prefill 2>&1 | grep -v "^\s*at "
sec "tiny eviction overhead 1K/2000, chunk 512, 10 reps"
timeout 60 ./kvgate bench eviction --model checkpoints/tiny-retrieval-qwen3 --gates runs/quickstart/gates/sink --policy gate \
   --ratio 0.3 --device gpu --dtype float16 --prefill-chunk 512 --decode-steps 32 --context 1024,2000 --reps 10 2>&1 | grep -v "^\s*at " | tail -5
sec done
