"""Measure ONNX export: time to export, the error of onnxruntime's float32 output and of
PyTorch's float32 output against the float64 reference, and the latency of a
whole-sequence forward and of one streaming step, on one thread each.

    python examples/export_speed.py            # prints a markdown table

Timings are medians of repeated runs after warm-up; on a machine whose cores are shared
they are noisy (say so when you quote them).
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import lstmkit
from lstmkit.export import OnnxStream, run_onnx, session, to_onnx


def median_ms(fn, repeat: int = 15, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def measure(name: str, layer, T: int = 100, B: int = 32) -> list[str]:
    layer.eval()
    out_dir = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    full = to_onnx(layer, out_dir / "full.onnx")
    export_s = time.perf_counter() - t0
    x = torch.randn(T, B, layer.input_size)
    sess = session(full, threads=1)
    got = run_onnx(sess, {"input": x})["output"]
    # the truth: the reference backend in float64; torch's float32 error is the yardstick
    truth = copy.deepcopy(layer).double()
    truth.backend = "reference"
    with torch.no_grad():
        ref64 = truth(x.double())[0].numpy()
        ref32 = layer(x)[0].numpy()
    err = float(np.abs(got - ref64).max())
    err_torch = float(np.abs(ref32 - ref64).max())
    feeds = {"input": x.numpy()}
    ort_ms = median_ms(lambda: sess.run(["output"], feeds))
    with torch.no_grad():
        torch_ms = median_ms(lambda: layer(x))
    step_cells = ["-", "-"]
    if not layer.bidirectional:
        stream = OnnxStream(to_onnx(layer, out_dir / "step.onnx", initial_states=True))
        x1 = np.random.randn(1, 1, layer.input_size).astype(np.float32)
        state = None

        def torch_step():
            nonlocal state
            with torch.no_grad():
                _, state = layer.step(torch.from_numpy(x1[0]), state)

        step_cells = [f"{median_ms(lambda: stream.step(input=x1), repeat=200):.3f}",
                      f"{median_ms(torch_step, repeat=200):.3f}"]
    size_kb = full.stat().st_size / 1024
    return [name, f"{export_s:.2f}", f"{size_kb:.0f}", f"{err:.1e}", f"{err_torch:.1e}", f"{ort_ms:.1f}",
            f"{torch_ms:.1f}", *step_cells]


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    layers = {
        "LSTM 2x128 (ONNX LSTM op)": lstmkit.LSTM(64, 128, 2),
        "LSTM 2x128 bidirectional (op)": lstmkit.LSTM(64, 128, 2, bidirectional=True),
        "GRU 2x128 (op)": lstmkit.GRU(64, 128, 2),
        "LSTM 2x128 layer_norm (Scan)": lstmkit.LSTM(64, 128, 2, layer_norm=True, backend="fused"),
        "LSTM 2x128 peephole+zoneout (Scan)": lstmkit.LSTM(64, 128, 2, peephole=True, zoneout=0.1,
                                                           backend="fused"),
        "LSTM 2x128 proj_size=64 (Scan)": lstmkit.LSTM(64, 128, 2, proj_size=64),
    }
    head = ["layer", "export s", "file KiB", "ORT err", "torch f32 err", "ORT ms (T=100, B=32)",
            "torch ms", "ORT step ms (B=1)", "torch step ms"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, layer in layers.items():
        print("| " + " | ".join(measure(name, layer)) + " |", flush=True)


if __name__ == "__main__":
    main()
