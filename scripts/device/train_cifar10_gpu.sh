#!/usr/bin/env bash
# Train the shipped CIFAR-10 JSCC models side by side on one GPU within a wall-clock budget.
#
# Usage (on the GPU machine, in the repository root, with the data packed by
# scripts/device/cifar10_pack.py in .gpu/cifar10 and wheels of missing packages in .gpu):
#     BUDGET=470 OUT=/path/for/results bash scripts/device/train_cifar10_gpu.sh
#     FINETUNE=1 BUDGET=470 ... : start each run from earlier weights (init_from), at the
#         larger batches and lower learning rates of the table below, into runs/NAME_ft:
#         from INIT_DIR/NAME/final when INIT_DIR is set (run 1's folders), else from the
#         zoo's float16 copy NAME (what the shipped models used, before they replaced it).
#     ONLY="name1 name2" ...: train only these runs.
#
# Every run is `semcom train <shipped config>` with GPU overrides (batch size, no
# deterministic kernels). A concurrent calibration of CAL_S seconds measures each model's
# steps/s with all runs sharing the GPU (the later half of its log, when all have started:
# equal step counts instead overstated the shared rates by 45-65%, as the fast runs
# finished while the slow ones were still loading); the real runs then get as many steps
# as fit the budget, so their cosine schedules end on time. Each run's folder (final + last
# checkpoints, metrics, resolved config, log) is tarred into $OUT.
set -uo pipefail
BUDGET=${BUDGET:-470}
OUT=${OUT:-out/gpu}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
CAL_S=${CAL_S:-60}
FINETUNE=${FINETUNE:-0}
INIT_DIR=${INIT_DIR:-}
END=$((SECONDS + BUDGET))
# name (= zoo name)              loader workers, then batch / lr: from scratch, fine-tuning
RUNS=(
  "convjscc_cifar10_cbr1-12_snr4  2  128 -     512  4e-4"
  "convjscc_cifar10_cbr1-12_snr7  2  128 -     512  4e-4"
  "convjscc_cifar10_cbr1-12_snr13 2  128 -     512  4e-4"
  "convjscc_cifar10_cbr1-24_snr7  2  128 -     512  4e-4"
  "adjscc_cifar10_cbr1-12_snr0-20 2  128 -     1024 3e-4"
  "adjscc_cifar10_cbr1-24_snr0-20 2  128 -     1024 3e-4"
)
if [ -n "${ONLY:-}" ]; then
    kept=(); for run in "${RUNS[@]}"; do [[ " $ONLY " == *" ${run%% *} "* ]] && kept+=("$run"); done
    [ ${#kept[@]} -gt 0 ] || { echo "ONLY=$ONLY names none of the runs"; exit 1; }
    RUNS=("${kept[@]}")
fi
SUFFIX=""; [ "$FINETUNE" = 1 ] && SUFFIX=_ft
for run in "${RUNS[@]}"; do
    read -r name rest <<<"$run"
    if [ -e "runs/$name$SUFFIX/last.json" ]; then
        echo "runs/$name$SUFFIX already holds a run: it would be resumed, not started; move it away"; exit 1
    fi
done
mkdir -p "$OUT"
PACK=${PACK:-.gpu/cifar10} source scripts/device/prepare.sh
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

COMMON="device=$DEVICE threads=1 deterministic=false data.cache_dir=/tmp/cache"

overrides() {  # the run's --set arguments after the shared ones: name workers batch lr batch lr
    local name=$1 workers=$2 batch=$3 lr=$4
    if [ "$FINETUNE" = 1 ]; then
        batch=$5; lr=$6
        if [ -n "$INIT_DIR" ]; then echo "init_from=$INIT_DIR/$name/final"; else echo "init_from=$name"; fi
    fi
    echo "num_workers=$workers batch_size=$batch"
    [ "$lr" != - ] && echo "optimizer.lr=$lr"
}

train() {  # name steps out_dir limit_s extra...
    local name=$1 steps=$2 dir=$3 limit=$4; shift 4
    local sets=()
    for kv in $COMMON "$@"; do sets+=(--set "$kv"); done
    timeout --signal=INT "$limit" $PY -m semcom train "configs/train/$name.yaml" --set steps="$steps" \
        --set out_dir="$dir" "${sets[@]}"
}

echo "== calibration (all runs at once, $CAL_S s)"
for run in "${RUNS[@]}"; do
    read -r name rest <<<"$run"
    train "$name" 1000000 "/tmp/cal/$name" "$CAL_S" $(overrides $name $rest) val_data=null \
        log_every=20 ckpt_every=0 >"/tmp/cal_$name.log" 2>&1 &
done
wait
left=$((END - SECONDS - 45))
echo "== $left s left for training"
declare -A STEPS
for run in "${RUNS[@]}"; do
    read -r name rest <<<"$run"
    STEPS[$name]=$($PY scripts/device/steps_for_budget.py "/tmp/cal/$name/metrics.jsonl" "$left") || { echo "calibration of $name failed:"; tail -20 "/tmp/cal_$name.log"; continue; }
    echo "$name: ${STEPS[$name]} steps"
done

echo "== training"
for run in "${RUNS[@]}"; do
    read -r name rest <<<"$run"
    [ -n "${STEPS[$name]:-}" ] || continue
    train "$name" "${STEPS[$name]}" "runs/$name$SUFFIX" $((left + 30)) $(overrides $name $rest) \
        val_every=0 ckpt_every=1000 log_every=500 >"/tmp/runs_$name.log" 2>&1 &
done
wait
for run in "${RUNS[@]}"; do
    read -r name rest <<<"$run"
    echo "== $name"; grep -E "validation|wrote|Error|error" "/tmp/runs_$name.log" | tail -4
    mkdir -p "runs/$name$SUFFIX" && cp "/tmp/runs_$name.log" "runs/$name$SUFFIX/train.log"
    tar -cf "$OUT/$name.tar" -C runs "$name$SUFFIX"
done
ls -la "$OUT"
