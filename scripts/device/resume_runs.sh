#!/usr/bin/env bash
# Resume interrupted training runs side by side on the GPU, to the steps their configs name.
#
# Usage (on the GPU machine, in the repository root):
#     RESUME_DIR=.gpu/resume PACK=.gpu/c40 LIMIT=40000 TIME=215 OUT=... bash scripts/device/resume_runs.sh
# Each folder in RESUME_DIR is a run folder as `semcom train` leaves it (config.yaml with
# the run's resolved settings, last.*): it is resumed in place with `data.limit=LIMIT`
# (the first shards, what fits the transfer limit beside the checkpoints; packed by
# `cifar10_pack.py pack --shards`), checkpointing every 250 steps, each run stopped after
# TIME seconds at the latest. Each run folder is tarred into $OUT. The data roots are the
# absolute ones config.yaml recorded (/tmp/data/... for runs of train_cifar10_gpu.sh),
# which is where PACK is unpacked.
set -uo pipefail
RESUME_DIR=${RESUME_DIR:-.gpu/resume}; PACK=${PACK:-.gpu/c40}; LIMIT=${LIMIT:-40000}
TIME=${TIME:-215}; OUT=${OUT:-out/gpu}; PY=${PY:-python3}
mkdir -p "$OUT"
source scripts/device/prepare.sh
for dir in "$RESUME_DIR"/*/; do
    name=$(basename "$dir")
    timeout --signal=INT "$TIME" $PY -m semcom train "$dir/config.yaml" --set out_dir="$dir" \
        --set data.limit="$LIMIT" --set ckpt_every=250 >"/tmp/resume_$name.log" 2>&1 &
done
wait
for dir in "$RESUME_DIR"/*/; do
    name=$(basename "$dir")
    echo "== $name"; grep -E "^step|validation|wrote|Error|error" "/tmp/resume_$name.log" | tail -3
    cp "/tmp/resume_$name.log" "$dir/resume.log"
    tar -cf "$OUT/$name.tar" -C "$RESUME_DIR" "$name"
done
