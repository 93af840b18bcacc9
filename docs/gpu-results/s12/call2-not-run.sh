#!/bin/bash
# session 12, device call 2 (never ran: no machine): the sink-gate kernel with its parameters in shared memory.
# Run after the environment and module lines of call1.sh (device-env.sh, make_fused_attention.py, its sec() helper):
# its check of the kernel against torch's ops, then bench gates, the gate overhead at 1K/8K/32K with 5 repetitions and
# the 8K GPU trace.
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
sec "32K, 3 reps"
timeout 100 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
   --dtype float16 --prefill-chunk 4096 --decode-steps 16 --context 32768 --reps 3 2>&1 | grep -v "^\s*at " | tail -4
sec done
