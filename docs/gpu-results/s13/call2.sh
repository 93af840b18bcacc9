#!/bin/bash
# session 13, device call 2: owners of ragged rows built on the device, fewer host copies in append/assign (after
# call 1's host samples); the 8K/1K overhead table call 1's tail cut off. Run after the environment and module lines
# of call1.sh (device-env.sh, make_fused_attention.py, its sec() helper) and its random-model lines.
sec "8K/1K, 5 reps, profiles at 8K"
timeout 150 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
   --dtype float16 --prefill-chunk 4096 --decode-steps 16 --context 8192,1024 --reps 5 --profile-prefill 2>&1 | grep -v "^\s*at "
sec "32K, 3 reps, profiles"
timeout 150 ./kvgate bench eviction --model /tmp/qwen3-0.6b-random --gates /tmp/g06 --policy gate --ratio 0.3 --device gpu \
   --dtype float16 --prefill-chunk 4096 --decode-steps 16 --context 32768 --reps 3 --profile-prefill 2>&1 | grep -v "^\s*at "
sec done
