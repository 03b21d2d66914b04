# Sourced by the scripts beside it on the GPU machine: install the carried wheels
# (.gpu/*.whl) into /tmp/site, unpack the CIFAR-10 data packed in $PACK into /tmp/data
# (cifar10_pack.py), and export what `semcom train` needs. Uses $PY (python3).
PY=${PY:-python3}
if ls .gpu/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
$PY scripts/device/cifar10_pack.py unpack "$PACK" /tmp/data || exit 1
export SEMCOM_DATA=/tmp/data OMP_NUM_THREADS=1
