#!/usr/bin/env bash
# Every GPU check in one pass, for a machine with a CUDA device and little time on it.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]        # default out/gpu_check
#
# 1. In parallel: the triton kernels' tests at CUDA sizes (tests/test_triton_kernels.py
#    with the slow grid, tests/test_xlstm_triton.py) and the tools matrix on CUDA
#    (tests/test_tools_matrix.py::test_tool_on_cuda), while the benchmark's kernels compile into
#    triton's cache (--compile-only: compiling is CPU work, timing is not done then).
# 2. Alone on the GPU: benchmarks/gpu.py, first the reduced grid (B 1 and 64, H 128 and
#    512, T 1024, float32 and bfloat16, LSTM and GRU, plain and layer norm), then the LSTM's
#    grid over B 1..256 and H 64..1024 at T 1024 for auto's rules (cut off by STAGE_S).
#
# Logs, tables and JSON go to OUT_DIR. Uses the python3 on the PATH with the checkout's
# src/ on PYTHONPATH (nothing is installed), and does not build the CPU extension.
# Without a CUDA device the kernel tests skip and the benchmark says so: a dry run.
set -u
OUT_DIR=${1:-out/gpu_check}
PY=${PY:-python3}
JOBS=${JOBS:-8}
STAGE_S=${STAGE_S:-150}
mkdir -p "$OUT_DIR"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 LSTMKIT_COMPILED=0
export TRITON_CACHE_DIR=${TRITON_CACHE_DIR:-/tmp/lstmkit-triton-cache}
T0=$SECONDS
stage() { echo "== $1 (at $((SECONDS - T0)) s)"; }

stage "machine"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  "$PY" -c "import torch, triton, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"
  "$PY" -c "import lstmkit; print('lstmkit', lstmkit.__version__)"
  nproc
} 2>&1 | tee "$OUT_DIR/env.txt"
# pytest-xdist and pytest-timeout where installed (the GPU machine's image has both)
PARALLEL=()
"$PY" -c "import xdist" 2>/dev/null && PARALLEL+=(-n "$JOBS")
"$PY" -c "import pytest_timeout" 2>/dev/null && PARALLEL+=(--timeout 200)

# the two benchmark runs' shapes (override with REDUCED_ARGS / GRID_ARGS, e.g. to finish a
# run that was cut off)
read -r -a REDUCED <<<"${REDUCED_ARGS:---batch 1 64 --hidden 128 512 --seq 1024 --dtype float32 bfloat16}"
read -r -a GRID <<<"${GRID_ARGS:---cells lstm --batch 1 16 64 256 --hidden 64 128 256 512 1024 --seq 1024 --dtype float32 bfloat16}"
TESTS_S=${TESTS_S:-220}

stage "tests and compilation, in parallel"
timeout 240 "$PY" benchmarks/gpu.py "${REDUCED[@]}" --precompile 4 --compile-only >"$OUT_DIR/compile.log" 2>&1 &
COMPILE=$!
timeout 240 "$PY" benchmarks/gpu.py "${GRID[@]}" --precompile 4 --compile-only >"$OUT_DIR/compile_grid.log" 2>&1 &
COMPILE_GRID=$!
# (tests/test_xlstm_triton.py's interpreter run is the CPU suite's, under its own triton)
timeout "$TESTS_S" "$PY" -m pytest tests/test_triton_kernels.py tests/test_xlstm_triton.py \
  tests/test_tools_matrix.py::test_tool_on_cuda -k "not in_interpreter" -m "" -o addopts= -q -p no:cacheprovider "${PARALLEL[@]}" -rfEs \
  >"$OUT_DIR/tests.log" 2>&1
echo "tests: exit $? ($(tail -1 "$OUT_DIR/tests.log"))"
wait $COMPILE
echo "compile: exit $? ($(tail -1 "$OUT_DIR/compile.log"))"
wait $COMPILE_GRID
echo "compile, LSTM grid: exit $? ($(tail -1 "$OUT_DIR/compile_grid.log"))"
cat "$OUT_DIR/compile_grid.log" >>"$OUT_DIR/compile.log" && rm "$OUT_DIR/compile_grid.log"

stage "benchmark, reduced grid"
timeout "$STAGE_S" "$PY" benchmarks/gpu.py "${REDUCED[@]}" --rounds 3 --warmup 1 --rules \
  --json "$OUT_DIR/reduced.json" >"$OUT_DIR/bench_reduced.log" 2>&1
echo "reduced grid: exit $?"

stage "benchmark, the LSTM grid for auto's rules"
timeout "$STAGE_S" "$PY" benchmarks/gpu.py "${GRID[@]}" --rounds 3 --warmup 1 --rules \
  --json "$OUT_DIR/grid.json" >"$OUT_DIR/bench_grid.log" 2>&1
echo "LSTM grid: exit $?"
nvidia-smi --query-gpu=clocks.sm,temperature.gpu,power.draw --format=csv >>"$OUT_DIR/env.txt" 2>&1
stage "done"
