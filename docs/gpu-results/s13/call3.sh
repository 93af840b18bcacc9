#!/bin/bash
# session 13, device call 3: correctness of the changed ragged layout on the GPU (tiny eval), the 1K gate overhead
# profiled, the tiny model's gate overhead, 8K/32K after the head diagonal moved to the device. Run after the
# environment and module lines of call1.sh (device-env.sh, make_fused_attention.py, its sec() helper); the 0.6B
# rows need call1.sh's random-model lines first.
sec "eval tiny float16 prefill-chunk 64"
timeout 90 ./kvgate eval --model checkpoints/tiny-retrieval-qwen3 --gates runs/quickstart/gates/sink \
   --generate passkey:10,kv:10 --seed 7 --ratios 0.3 --policies full,gate --prefill-chunk 64 --device gpu --dtype float16 \
   --out /tmp/ev-float16 --quiet 2>&1 | grep -v "^\s*at \|cannot draw" | tail -2
cat /tmp/ev-float16/results.csv
sec "tiny eviction overhead 1K/2000, chunk 512, 10 reps"
timeout 90 ./kvgate bench eviction --model checkpoints/tiny-retrieval-qwen3 --gates runs/quickstart/gates/sink --policy gate \
   --ratio 0.3 --device gpu --dtype float16 --prefill-chunk 512 --decode-steps 32 --context 1024,2000 --reps 10 2>&1 | grep -v "^\s*at " | tail -5
sec "0.6B 1K, 10 reps, profiles at 1K"
timeout 120 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
   --dtype float16 --prefill-chunk 4096 --decode-steps 16 --context 1024 --reps 10 --profile-prefill 2>&1 | grep -v "^\s*at "
sec "0.6B 8K/32K, 3 reps"
timeout 150 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
   --dtype float16 --prefill-chunk 4096 --decode-steps 16 --context 8192,32768 --reps 3 2>&1 | grep -v "^\s*at " | tail -5
sec done
