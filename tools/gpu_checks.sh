#!/bin/bash
# The GPU checks and measurements of issue 7, in one run of ~6 minutes on the GPU machine, from the repository root,
# most important first (a call cut off by its time limit still returns what ran: device time is scarce). Expects the
# environment of docs/GPU.md already set: KVGATE_TORCH_LIB, KVGATE_JAVA, KVGATE_CLASSPATH, DJL_CACHE_DIR (DJL's JNI
# installed there), KVGATE_CUDA_GRAPH_OPS (tools/build_cuda_graph_ops.sh), PYTHON (the torch that kvgate loads), and
# $OUT (a folder for logs/JSON); GATES: the tiny model's gate artifacts (default runs/quickstart/gates, written by
# ./kvgate run configs/quickstart.yaml); KVGATE_OLD_CLASSPATH (optional): an earlier build's jars, timed in the same
# call as the current ones for a before/after of the evicting prefill.
#   1. writes the fused module; writing it checks every function against float64 references;
#   2. eval of the tiny model with gates at 0.3 and 64-token prefill chunks (chunks after the first attend an evicted
#      cache: attend_packed): accuracy and KV kept as with Model's own ops (docs/gpu-results/s5/call2.log);
#   3. bench eviction of the 0.6B-shaped model with random sink gates (gate overhead, evicting prefill by phase, peak
#      memory), the same with KVGATE_OLD_CLASSPATH's jars, and with the gates' own ops instead of the fused module's
#      kernel (KVGATE_FUSED_GATES=off; the tiny eval too);
#   4. one batch of sink-gate scoring by part (bench gates); the eviction's host selection on one thread and on the
#      pool (bench selection);
#   5. parity fixtures on the GPU in float32 and float16;
#   6. decode/prefill of the 0.6B-shaped model and of the tiny model, float16 and float32, and transformers'
#      same-call reference;
#   7. the eval in float32, decode steps at 30 % kept vs full (0.6B, both dtypes), the 0.6B bench eviction with random
#      linear gates, the tiny model's bench eviction.
set -uo pipefail
T0=$(date +%s); sec(){ echo; echo "== $1 (t=$(( $(date +%s)-T0 ))s)"; }
nvidia-smi --query-gpu=name,memory.used,clocks.current.sm --format=csv
: "${KVGATE_CUDA_GRAPH_OPS:?set the environment of docs/GPU.md first}" "${PYTHON:?}" "${OUT:?}"
export KVGATE_JAVA_OPTS=-Xmx16g
PY=$PYTHON
eval_tiny() { # dtype
  timeout 90 ./kvgate eval --model checkpoints/tiny-retrieval-qwen3 --gates ${GATES:-runs/quickstart/gates}/sink \
     --generate passkey:10,kv:10 --seed 7 --ratios 0.3 --policies full,gate --prefill-chunk 64 --device gpu --dtype $1 \
     --out /tmp/ev-$1 --quiet 2>&1 | grep -v "^\s*at \|cannot draw" | tail -2
  cat /tmp/ev-$1/results.csv
}
eviction_06b() { # gates directory (random sink gates: the method's; /tmp/g06-linear: the baseline gate)
  timeout 200 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates $1 --policy gate --ratio 0.3 --device gpu \
     --dtype float16 --prefill-chunk 4096 --decode-steps 32 --context 1024,8192,32768 --reps 3 --profile-prefill 2>&1 | grep -v "^\s*at \| < "
}
sec fused
timeout 120 $PY tools/make_fused_attention.py /tmp/fa.pt --graph-ops "$KVGATE_CUDA_GRAPH_OPS" 2>&1 | grep -v "^decode graph\|^decode_step\|^forward\|^decoder_\|Warn\|warn" | tail -30
export KVGATE_FUSED_ATTENTION=/tmp/fa.pt
sec "eval tiny float16 prefill-chunk 64"
eval_tiny float16
sec "random model"
$PY -c "import sys; sys.path.insert(0,'tools'); import hf_reference_bench as h; h.make_random_qwen3('/tmp/qwen3-0.6b-random', 1234)" 2>&1 | tail -1
$PY tools/make_random_gates.py /tmp/qwen3-0.6b-random /tmp/g06 --fingerprint x >/dev/null
FP=$(./kvgate inspect /tmp/g06 --model /tmp/qwen3-0.6b-random 2>&1 | sed -n 's/.*not for this model (\([0-9a-f]*\)).*/\1/p')
$PY tools/make_random_gates.py /tmp/qwen3-0.6b-random /tmp/g06 --fingerprint "$FP"
$PY tools/make_random_gates.py /tmp/qwen3-0.6b-random /tmp/g06-linear --fingerprint "$FP" --type linear
sec "eviction 0.6B float16, random sink gates"
eviction_06b /tmp/g06
if [ -n "${KVGATE_OLD_CLASSPATH:-}" ]; then
  sec "eviction 0.6B float16, random sink gates, KVGATE_OLD_CLASSPATH's jars"
  KVGATE_CLASSPATH=$KVGATE_OLD_CLASSPATH eviction_06b /tmp/g06
fi
sec "eviction 0.6B float16, random sink gates, KVGATE_FUSED_GATES=off (the gates' own ops)"
KVGATE_FUSED_GATES=off eviction_06b /tmp/g06
sec "eval tiny float16 prefill-chunk 64, KVGATE_FUSED_GATES=off"
KVGATE_FUSED_GATES=off eval_tiny float16
sec "gate scoring by part (bench gates)"
timeout 120 ./kvgate bench gates --device gpu --dtype float16 --tokens 1024,4096,8192,32768 --warmup 3 --reps 10 2>&1 | grep -v "^\s*at " | tail -20
sec "selection (host, 16 cores)"
timeout 60 ./kvgate bench selection 2>&1 | tail -12
sec parity
for dt in float32 float16; do timeout 60 ./kvgate parity --device gpu --dtype $dt models/src/test/resources/parity/{qwen3,qwen2,gemma3}-tiny-a 2>&1 | tail -5; done
for dt in float16 float32; do
  sec "profile 0.6B $dt"
  timeout 120 ./kvgate bench profile --device gpu --dtype $dt --model /tmp/qwen3-0.6b-random \
    --contexts 1024,8192,32768 --steps 32 --warmup 4 --prefill-reps 3 --profile-steps 0 2>&1 | tail -7
done
for dt in float16 float32; do
  sec "profile tiny $dt"
  timeout 60 ./kvgate bench profile --device gpu --dtype $dt --model checkpoints/tiny-retrieval-qwen3 \
    --contexts 1024,8192,32768 --steps 32 --warmup 4 --prefill-reps 3 --profile-steps 0 2>&1 | tail -6
done
sec hf
timeout 240 $PY tools/hf_reference_bench.py --models qwen3-0.6b-random,tiny --dtypes float16,float32 --attn sdpa,sdpa-nocudnn --json $OUT/hf.json 2>&1 | grep "^|"
sec "eval tiny float32 prefill-chunk 64"
eval_tiny float32
for dt in float16 float32; do
  sec "keep 0.3 0.6B $dt"
  timeout 110 ./kvgate bench profile --device gpu --dtype $dt --model /tmp/qwen3-0.6b-random \
    --contexts 1024,8192,32768 --steps 32 --warmup 4 --prefill-reps 1 --keep 0.3 --profile-steps 0 2>&1 | tail -5
done
sec "eviction 0.6B float16, random linear gates (the gate of sessions 3-9's overhead rows)"
eviction_06b /tmp/g06-linear
sec "eviction tiny float16"
timeout 100 ./kvgate bench eviction --model checkpoints/tiny-retrieval-qwen3 --gates ${GATES:-runs/quickstart/gates}/sink --policy gate --ratio 0.3 \
   --device gpu --dtype float16 --prefill-chunk 4096 --decode-steps 32 --context 1024,2000 --reps 2 --profile-prefill 2>&1 | grep -v "^\s*at \| < "
sec done
