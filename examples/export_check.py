"""Check ONNX export across layer configurations: export each layer with variable lengths
and initial states, run it in onnxruntime at two sequence lengths and two batch sizes,
and print the largest difference from PyTorch (float32), with the ONNX form used and, as
a yardstick, the largest difference between PyTorch's float32 and float64 results.
Sequences of lengths T = 50 and 3, batches of 8 and 1, random lengths and states.

    python examples/export_check.py
"""

import copy

import torch

import lstmkit
from lstmkit.export import build_onnx, check_onnx, recurrent_kind, to_onnx
from lstmkit.export.api import layer_feeds, torch_outputs

CONFIGS = {
    "LSTM 2 layers, bidirectional": (lstmkit.LSTM, {"num_layers": 2, "bidirectional": True}),
    "LSTM batch_first, no bias": (lstmkit.LSTM, {"batch_first": True, "bias": False}),
    "GRU 2 layers, bidirectional": (lstmkit.GRU, {"num_layers": 2, "bidirectional": True}),
    "RNN relu, bidirectional": (lstmkit.RNN, {"nonlinearity": "relu", "bidirectional": True}),
    "LSTM proj_size, 2 layers, bidirectional": (lstmkit.LSTM, {"proj_size": 8, "num_layers": 2,
                                                               "bidirectional": True}),
    "LSTM layer_norm, bidirectional": (lstmkit.LSTM, {"layer_norm": True, "bidirectional": True}),
    "LSTM peephole": (lstmkit.LSTM, {"peephole": True}),
    "LSTM coupled gates + peephole": (lstmkit.LSTM, {"coupled_gates": True, "peephole": True}),
    "LSTM cell_clip 0.5": (lstmkit.LSTM, {"cell_clip": 0.5}),
    "LSTM zoneout (0.3, 0.1)": (lstmkit.LSTM, {"zoneout": (0.3, 0.1)}),
    "LSTM every variant, 2 layers, bidirectional": (lstmkit.LSTM, {
        "num_layers": 2, "bidirectional": True, "layer_norm": True, "peephole": True,
        "cell_clip": 0.8, "zoneout": 0.1, "recurrent_dropout": 0.2, "weight_drop": 0.2}),
    "GRU layer_norm + zoneout, bidirectional": (lstmkit.GRU, {"layer_norm": True, "zoneout": 0.2,
                                                              "bidirectional": True}),
}


def torch_f32_error(layer, shapes) -> float:
    """How far PyTorch's own float32 result is from float64, on the same inputs."""
    double = copy.deepcopy(layer).double()
    worst = 0.0
    for i, (T, B) in enumerate(shapes):
        feeds = layer_feeds(layer, T, B, lengths=True, initial_states=True, seed=i)
        f64 = {k: v.double() if v.is_floating_point() else v for k, v in feeds.items()}
        for a, b in zip(torch_outputs(layer, feeds), torch_outputs(double, f64)):
            worst = max(worst, (a.double() - b).abs().max().item())
    return worst


def main() -> None:
    torch.set_num_threads(1)
    shapes = ((50, 8), (3, 1))
    print("| layer (input 16, hidden 32) | ONNX form | onnxruntime vs torch float32 | "
          "torch float32 vs float64 |")
    print("|---|---|---|---|")
    for name, (cls, kw) in CONFIGS.items():
        torch.manual_seed(0)
        layer = cls(16, 32, **kw, backend="reference")
        path = to_onnx(layer, "check.onnx", lengths=True, initial_states=True)
        err = check_onnx(layer, path, shapes, lengths=True, initial_states=True)
        ops = sorted({n.op_type for n in build_onnx(layer).graph.node} & {"LSTM", "GRU", "RNN", "Scan"})
        print(f"| {name} | {recurrent_kind(layer)} ({', '.join(ops)}) | {err:.1e} | "
              f"{torch_f32_error(layer, shapes):.1e} |", flush=True)


if __name__ == "__main__":
    main()
