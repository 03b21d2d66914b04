#!/usr/bin/env bash
# Continue the ADJSCC CIFAR-10 1/12 run (last checkpoint in .gpu/adj12) alone on the GPU,
# on the first 40,000 training images (4 shards fit the transfer limit), for as many steps
# as fit BUDGET seconds. Writes the run folder to $OUT/adjscc12 as it goes.
set -uo pipefail
BUDGET=${BUDGET:-250}; END=$((SECONDS + BUDGET)); OUT=${OUT:-out/gpu}
PACK=.gpu/cifar10 source scripts/device/prepare.sh
CFG=configs/train/adjscc_cifar10_cbr1-12_snr0-20.yaml
SETS=(--set device=cuda --set threads=1 --set deterministic=false --set batch_size=128
      --set data.cache_dir=/tmp/cache --set data.limit=40000 --set num_workers=3)
python3 -m semcom train $CFG "${SETS[@]}" --set steps=200 --set out_dir=/tmp/cal --set val_data=null \
    --set log_every=40 --set ckpt_every=0 > /tmp/cal.log 2>&1 || { tail -20 /tmp/cal.log; exit 1; }
left=$((END - SECONDS - 25))
steps=$(python3 scripts/device/steps_for_budget.py /tmp/cal/metrics.jsonl "$left" --skip 80 --share 0.9 --base 14400) || exit 1
echo "$left s left -> train to step $steps"
mkdir -p "$OUT/adjscc12" && cp .gpu/adj12/* "$OUT/adjscc12/"
python3 -m semcom train $CFG "${SETS[@]}" --set steps=$steps --set out_dir="$OUT/adjscc12" \
    --set val_every=0 --set ckpt_every=1000 --set log_every=1000 2>&1 | grep -v Warning | tail -30
ls -la "$OUT/adjscc12"
