#!/usr/bin/env bash
# Train the shipped CIFAR-10 JSCC models side by side on one GPU within a wall-clock budget.
#
# Usage (on the GPU machine, in the repository root, with the data packed by
# scripts/device/cifar10_pack.py in .gpu/cifar10 and wheels of missing packages in .gpu):
#     BUDGET=470 OUT=/path/for/results bash scripts/device/train_cifar10_gpu.sh
#
# Every run is `semcom train <shipped config>` with GPU overrides (batch 128, no
# deterministic kernels). A short concurrent calibration run measures each model's
# steps/s with all runs sharing the GPU; the real runs then get as many steps as fit the
# budget, so their cosine schedules end on time. Each run's folder (final + last
# checkpoints, metrics, resolved config) is tarred into $OUT.
set -uo pipefail
BUDGET=${BUDGET:-470}
OUT=${OUT:-out/gpu}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
CAL=${CAL_STEPS:-300}
END=$((SECONDS + BUDGET))
mkdir -p "$OUT"
if ls .gpu/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
$PY scripts/device/cifar10_pack.py unpack .gpu/cifar10 /tmp/data || exit 1
export SEMCOM_DATA=/tmp/data OMP_NUM_THREADS=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

# name  config  extra overrides
RUNS=(
  "convjscc_cifar10_cbr1-12_snr4  convjscc_cifar10_cbr1-12_snr4.yaml   num_workers=2"
  "convjscc_cifar10_cbr1-12_snr7  convjscc_cifar10_cbr1-12_snr7.yaml   num_workers=2"
  "convjscc_cifar10_cbr1-12_snr13 convjscc_cifar10_cbr1-12_snr13.yaml  num_workers=2"
  "convjscc_cifar10_cbr1-24_snr7  convjscc_cifar10_cbr1-24_snr7.yaml   num_workers=2"
  "adjscc_cifar10_cbr1-12_snr0-20 adjscc_cifar10_cbr1-12_snr0-20.yaml  num_workers=1"
  "adjscc_cifar10_cbr1-24_snr0-20 adjscc_cifar10_cbr1-24_snr0-20.yaml  num_workers=1"
)
COMMON="device=$DEVICE threads=1 deterministic=false batch_size=128 data.cache_dir=/tmp/cache"

train() {  # name config steps out_dir extra...
    local name=$1 config=$2 steps=$3 dir=$4; shift 4
    local sets=()
    for kv in $COMMON "$@"; do sets+=(--set "$kv"); done
    $PY -m semcom train "configs/train/$config" --set steps="$steps" --set out_dir="$dir" "${sets[@]}"
}

echo "== calibration (all runs at once, $CAL steps)"
for run in "${RUNS[@]}"; do
    read -r name config extra <<<"$run"
    train "$name" "$config" "$CAL" "/tmp/cal/$name" $extra val_data=null log_every=$((CAL / 6)) ckpt_every=0 \
        >"/tmp/cal_$name.log" 2>&1 &
done
wait
left=$((END - SECONDS - 45))
echo "== $left s left for training"
declare -A STEPS
for run in "${RUNS[@]}"; do
    read -r name config extra <<<"$run"
    rate=$($PY - "/tmp/cal/$name/metrics.jsonl" "$CAL" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rates = [r["steps_per_s"] for r in rows if r.get("kind") == "train" and r["step"] > int(sys.argv[2]) // 3]
print(sum(rates) / len(rates))
EOF
) || { echo "calibration of $name failed:"; tail -20 "/tmp/cal_$name.log"; continue; }
    STEPS[$name]=$($PY -c "print(max(100, int($rate * $left * 0.88) // 100 * 100))")
    echo "$name: $rate steps/s -> ${STEPS[$name]} steps"
done

echo "== training"
for run in "${RUNS[@]}"; do
    read -r name config extra <<<"$run"
    [ -n "${STEPS[$name]:-}" ] || continue
    timeout --signal=INT $((left + 30)) bash -c "$(declare -f train); COMMON='$COMMON'; PY='$PY'; \
        train $name $config ${STEPS[$name]} runs/$name $extra val_every=0 ckpt_every=1000 log_every=500" \
        >"/tmp/runs_$name.log" 2>&1 &
done
wait
for run in "${RUNS[@]}"; do
    read -r name config extra <<<"$run"
    echo "== $name"; grep -E "validation|wrote|Error|error" "/tmp/runs_$name.log" | tail -4
    mkdir -p "runs/$name" && cp "/tmp/runs_$name.log" "runs/$name/train.log"
    tar -cf "$OUT/$name.tar" -C runs "$name"
done
ls -la "$OUT"
