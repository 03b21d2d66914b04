#!/usr/bin/env bash
# Train FAJSCC small and SwinJSCC small (HR crops, CBR 1/16, AWGN) side by side on one GPU
# within a wall-clock budget; optionally then fine-tune FAJSCC for Rayleigh fading.
#
# Usage (on the GPU machine, in the repository root; the images packed by
# scripts/device/hr_pack.py in .gpu/hr, wheels of missing packages in .gpu/*.whl):
#     BUDGET=480 OUT=/path/for/results bash scripts/device/train_hr_gpu.sh
#     RAYLEIGH=1 ...: once the FAJSCC AWGN run has reached its steps, fine-tune
#         configs/train/fajscc_small_hr_cbr1-16_rayleigh.yaml from its final weights
#         (init_from=RUNS/fajscc_small_hr_cbr1-16_awgn/final) in the time left, if at
#         least MIN_RAYLEIGH seconds remain; while the SwinJSCC run goes on.
#     ONLY=fajscc | ONLY=swinjscc: train one of the two AWGN models only.
#     EXTRA="steps=2 batch_size=2": more --set overrides for every run (dry runs).
#
# Each run is `semcom train <its config>` with --set device=$DEVICE deterministic=false
# threads=$THREADS num_workers=$WORKERS val_data=null (Kodak is not carried: ship_model.py
# measures the Kodak PSNR afterwards) ckpt_every=$CKPT log_every=$LOG out_dir=RUNS/NAME.
# It trains for the config's steps (5,000; Rayleigh 1,000, constant learning rate, so a
# run cut short is just a shorter run) unless the budget ends first: then `timeout` sends
# SIGINT (the trainer stops, keeping `last` from the latest multiple of CKPT steps; at
# most CKPT steps are lost) and `final` is written from `last` by resuming the run with
# steps = that step (an empty loop: the trainer only saves `final`). All runs stop by
# BUDGET - TAIL seconds after the start; TAIL covers that and the tarring.
#
# Runs that exist already (RUNS/NAME/last: a second call on the same, still warm machine,
# or folders carried there) are resumed from their `last` by `semcom train` itself, to the
# config's steps; one that is complete is only finalized again (seconds). A data folder
# DATA already holding this pack is not unpacked again.
#
# Results: each run folder, without last.safetensors (its Adam state: 36 MB, 54 MB for
# SwinJSCC, too much to bring back) and the lock, is tarred into $OUT/NAME.tar, split
# into $OUT/NAME.tar.part0, .part1, ... when over 15 MB (files from $OUT come back only up
# to 16 MB each). Put them together with `cat NAME.tar.part* > NAME.tar`.
set -uo pipefail
BUDGET=${BUDGET:-480}            # seconds from the start of this script to the end of the trainings
OUT=${OUT:-out/gpu}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
PACK=${PACK:-.gpu/hr}            # hr_pack.py's output
DATA=${DATA:-/tmp/hr_data}       # where it is unpacked (SEMCOM_DATA)
RUNS=${RUNS:-runs}               # run folders
SITE=${SITE:-/tmp/site}          # where the carried wheels are installed
THREADS=${THREADS:-4}            # torch threads of each training process (16 cores: 2 x (1 + WORKERS) busy)
WORKERS=${WORKERS:-5}            # data-loader workers of each training process
CKPT=${CKPT:-100}                # ckpt_every: what a stop at the budget can lose
LOG=${LOG:-50}                   # log_every
TAIL=${TAIL:-40}                 # seconds kept after the trainings for finalizing and tarring
RAYLEIGH=${RAYLEIGH:-0}
MIN_RAYLEIGH=${MIN_RAYLEIGH:-60}
ONLY=${ONLY:-}
EXTRA=${EXTRA:-}
END=$((SECONDS + BUDGET))

FAJ=fajscc_small_hr_cbr1-16_awgn
SWIN=swinjscc_small_hr_cbr1-16_awgn
RAY=fajscc_small_hr_cbr1-16_rayleigh

mkdir -p "$OUT" "$RUNS" || exit 1
if ls .gpu/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .gpu/*.whl \
        || exit 1
    export PYTHONPATH=$SITE:$PWD
else
    export PYTHONPATH=$PWD
fi
$PY scripts/device/hr_pack.py unpack "$PACK" "$DATA" --workers 8 || exit 1
export SEMCOM_DATA=$DATA OMP_NUM_THREADS=1
[ "$DEVICE" = cpu ] || nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader || true
echo "== $((END - SECONDS)) s of the budget left after unpacking"

left() { echo $((END - SECONDS - TAIL)); }

train() {  # name limit_s [key=value ...]: semcom train configs/train/NAME.yaml into RUNS/NAME
    local name=$1 limit=$2; shift 2
    local sets=()
    for kv in device=$DEVICE deterministic=false threads=$THREADS num_workers=$WORKERS val_data=null \
              ckpt_every=$CKPT log_every=$LOG out_dir=$RUNS/$name "$@" $EXTRA; do
        sets+=(--set "$kv")
    done
    mkdir -p "$RUNS/$name"
    echo "== $name: training for at most $limit s ($(date +%T))" | tee -a "$RUNS/$name/train.log"
    timeout -k 20 --signal=INT "$limit" $PY -m semcom train "configs/train/$name.yaml" "${sets[@]}" \
        >>"$RUNS/$name/train.log" 2>&1
}

finalize() {  # name: write RUNS/NAME/final from RUNS/NAME/last (a run stopped before its steps)
    local name=$1 dir=$RUNS/$1 step
    if [ ! -f "$dir/last.json" ]; then
        echo "== $name: no checkpoint (stopped before step $CKPT?)"; return 1
    fi
    step=$($PY -c "import json, sys; print(json.load(open(sys.argv[1]))['info']['training']['step'])" \
        "$dir/last.json") || return 1
    echo "== $name: stopped at step $step; writing final from last" | tee -a "$dir/train.log"
    rm -f "$dir/final.safetensors" "$dir/final.json"
    cp "$dir/config.yaml" "$dir/config.train.yaml" 2>/dev/null
    local sets=()
    for kv in device=cpu threads=2 num_workers=0 val_data=null out_dir=$dir $EXTRA steps=$step; do
        sets+=(--set "$kv")
    done
    $PY -m semcom train "configs/train/$name.yaml" "${sets[@]}" >>"$dir/train.log" 2>&1
    local rc=$?
    # keep the training's resolved config (the finalizing call wrote steps=$step, device=cpu)
    [ -f "$dir/config.train.yaml" ] && mv "$dir/config.train.yaml" "$dir/config.yaml"
    [ $rc = 0 ] || echo "== $name: finalizing failed (rc $rc), see $dir/train.log"
    return $rc
}

run() {  # name [key=value ...]: train in the time left, then finalize if it stopped early; 0 if complete
    local name=$1 limit rc
    shift
    limit=$(left)
    if [ "$limit" -lt 15 ]; then
        echo "== $name: no time left to train"
        [ -f "$RUNS/$name/last.json" ] && finalize "$name"
        return 1
    fi
    train "$name" "$limit" "$@"
    rc=$?
    if [ $rc = 0 ]; then
        echo "== $name: complete ($(date +%T))"
        return 0
    fi
    local why="an error"
    { [ $rc = 124 ] || [ $rc = 137 ]; } && why="the budget"
    echo "== $name: semcom train ended with rc $rc ($why)"
    tail -3 "$RUNS/$name/train.log"
    finalize "$name"
    return 1
}

fajscc_chain() {
    if run "$FAJ"; then
        if [ "$RAYLEIGH" = 1 ]; then
            if [ "$(left)" -ge "$MIN_RAYLEIGH" ]; then
                run "$RAY" "init_from=$RUNS/$FAJ/final"
            else
                echo "== $RAY: skipped, $(left) s left (MIN_RAYLEIGH=$MIN_RAYLEIGH)"
            fi
        fi
    elif [ "$RAYLEIGH" = 1 ]; then
        echo "== $RAY: skipped, $FAJ did not reach its steps"
    fi
}

pids=()
[ "$ONLY" = swinjscc ] || { fajscc_chain & pids+=($!); }
[ "$ONLY" = fajscc ] || { run "$SWIN" & pids+=($!); }
wait "${pids[@]}"

echo "== results ($((SECONDS)) s since the start)"
for name in "$FAJ" "$SWIN" "$RAY"; do
    dir=$RUNS/$name
    [ -d "$dir" ] || continue
    $PY - "$dir" <<'EOF'
import json, os, sys
d = sys.argv[1]
last = os.path.join(d, "last.json")
step = json.load(open(last))["info"]["training"]["step"] if os.path.exists(last) else None
rows = []
if os.path.exists(os.path.join(d, "metrics.jsonl")):
    for line in open(os.path.join(d, "metrics.jsonl")):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
train = [r for r in rows if r.get("kind") == "train"]
tail, later = train[-5:], train[len(train) // 2:]
psnr = sum(r["psnr_db"] for r in tail) / len(tail) if tail else float("nan")
rate = sum(r["steps_per_s"] for r in later) / len(later) if later else float("nan")
final = "yes" if os.path.exists(os.path.join(d, "final.safetensors")) else "NO"
print(f"{os.path.basename(d)}: last at step {step}, final {final}, train PSNR {psnr:.2f} dB "
      f"(last {len(tail)} logs), {rate:.1f} steps/s (later half)")
EOF
    tar -cf "$OUT/$name.tar" --exclude=last.safetensors --exclude=.lock --exclude='last.next.*' -C "$RUNS" "$name"
    if [ "$(stat -c %s "$OUT/$name.tar")" -gt 15000000 ]; then
        split -b 15000000 -d -a 1 "$OUT/$name.tar" "$OUT/$name.tar.part" && rm "$OUT/$name.tar"
    fi
done
ls -la "$OUT"
