#!/bin/bash
# The GPU check of issues 7 and 29 on an NVIDIA GPU machine, in one run of about 6 minutes:
# real tomocupy on a 1500 x 512 x 2048 scan, then the reconstruction step's post-processing
# (OME-Zarr, checksums, manifest) on the machine's cores, both timed.
#
# Before (operator, on a machine with the checkout):
#   echo /.gpu/ >> .git/info/exclude && cp -r ../shared/gpu .gpu      # the tomocupy kit
#   # optional, for the flow and tomocupy-cpu phases (the GPU machine has no network):
#   # CPython 3.12 manylinux wheels of the project's dependencies, without the ones the GPU
#   # machine already has (numpy, scipy, h5py, tifffile, opencv, cupy):
#   #   python3.12 -m pip download -d .gpu/wheelhouse --only-binary=:all: \
#   #       --python-version 3.12 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
#   #       'gladier>=0.11,<0.12' 'gladier-tools>=0.5,<0.6' 'globus-sdk>=4,<5' \
#   #       'globus-compute-sdk>=4,<5' jsonschema jsonpath-ng simpleeval click rich pillow \
#   #       finufft algotom watchdog 'zarr>=3,<4' 'numcodecs>=0.15,<1' 'ome-zarr-models>=1,<2' psutil
#   #   rm -f .gpu/wheelhouse/{numpy,scipy,h5py,tifffile}-*.whl
#   # tomocupy-cpu alone (the comparison) needs only finufft and rich (+ markdown-it-py, mdurl,
#   # pygments); the post-processing phase zarr 3, numcodecs and ome-zarr-models (+ pydantic,
#   # pydantic-zarr, donfig, google-crc32c: pip download brings them; they shadow the kit's zarr
#   # 2.18, which tomocupy 1.1.0 does not import); the flow phase needs the whole list.
# On the GPU machine, in the repository root:
#   bash benchmarks/run_gpu_check.sh [OUT [EXTRA BENCH OPTIONS]]   # OUT: $OUT, else ./gpu-check
# A rehearsal without a GPU (skips the kit):
#   ENGINE=tomocupy-cpu bash benchmarks/run_gpu_check.sh /tmp/check --small
#
# Phases without extra wheels: scan, direct tomocupy, the compute function (its OME-Zarr needs
# zarr 3: without the wheels, run it with [zarr] off: --skip post and expect the wrapper to
# fail), and (with --save-slices) 2 slices of tomocupy's reconstruction copied to OUT/slices.
# Without zarr 3 the post-processing phase is skipped, without gladier the flow phase; without
# finufft the comparison is skipped and can be done afterwards on any machine with the project
# installed:
#   python benchmarks/bench_gpu_path.py --compare-saved OUT
set -u
out=${1:-${OUT:-gpu-check}}
shift $(( $# > 0 ? 1 : 0 ))
engine=${ENGINE:-tomocupy}
mkdir -p "$out"
here=$(pwd)

step() { echo "== $* ($(date -u +%H:%M:%S))"; }

if [ "$engine" = tomocupy ]; then
    step "tomocupy kit"
    if [ ! -f .gpu/setup-tomocupy.sh ]; then
        echo "error: .gpu/setup-tomocupy.sh missing: copy the GPU kit into .gpu/ first (see docs/polaris.md)" >&2
        exit 2
    fi
    # shellcheck disable=SC1091
    source .gpu/setup-tomocupy.sh || { echo "error: the tomocupy kit did not install" >&2; exit 2; }
fi

if compgen -G ".gpu/wheelhouse/*.whl" > /dev/null; then
    step "carried wheels -> /tmp/site-extra"
    timeout 120 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target /tmp/site-extra .gpu/wheelhouse/*.whl \
        && export PYTHONPATH=/tmp/site-extra:$PYTHONPATH \
        || echo "warning: the carried wheels did not install; flow and comparison may be skipped"
fi
# the project itself runs from the checkout (the benchmark puts it on sys.path)
export PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH}

step "environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee "$out/nvidia-smi.txt"
echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-}"
nproc | sed 's/^/cores: /' | tee "$out/cores.txt"
python3 - <<'EOF' | tee "$out/modules.txt"
import importlib.util as u
print("modules:", ", ".join(f"{m}={'yes' if u.find_spec(m) else 'no'}"
                            for m in ("tomocupy", "cupy", "gladier", "finufft", "rich", "algotom",
                                      "zarr", "ome_zarr_models")))
EOF

step "benchmark ($engine; scan 1500 x 512 x 2048 unless the options give another)"
# per-run limit 180 s, the whole benchmark 540 s (scan ~2 min, 2+2 tomocupy runs ~10-20 s each,
# the post-processing of 8 GiB ~10 s, flow ~40 s, tomocupy-cpu on 32 rows ~20 s)
case " $* " in
    *" --small "*|*" --shape "*) size=() ;;   # the options choose the scan
    *) size=(--shape 1500 512 2048) ;;
esac
timeout 540 python3 benchmarks/bench_gpu_path.py --engine "$engine" --out "$out" --timeout 180 \
    --repeat 2 --cpu-rows 32 --save-slices 2 "${size[@]}" "$@" 2>&1 | tee "$out/bench.txt"
rc=${PIPESTATUS[0]}
[ "$rc" = 124 ] && echo "error: the benchmark ran past 540 s; partial figures in $out/results.json" >&2
step "done (exit $rc); figures in $out/results.json"
exit "$rc"
