"""Export lstmkit layers to ONNX and run them in onnxruntime.

    python examples/export_layer.py

1. a 2-layer bidirectional LSTM over padded sentences of different lengths
   (ONNX's own LSTM operator, the lengths as ``sequence_lens``);
2. a layer-norm LSTM (a variant: exported as a Scan loop);
3. streaming: an LSTM exported with its states as inputs and outputs, run one time step
   per call, gives what the whole sequence at once gives.
"""

import numpy as np
import torch

import lstmkit
from lstmkit.export import OnnxStream, run_onnx, to_onnx

torch.manual_seed(0)

# 1. bidirectional, multi-layer, variable lengths
lstm = lstmkit.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True).eval()
to_onnx(lstm, "lstm.onnx", lengths=True)
x = torch.randn(3, 10, 8)  # (B, T, I), padded
lengths = torch.tensor([10, 4, 7])
onnx_out = run_onnx("lstm.onnx", {"input": x, "lengths": lengths})
with torch.no_grad():
    out, (h, c) = lstm(x, lengths=lengths)
print("bidirectional LSTM: max |onnxruntime - torch| =",
      f"{np.abs(onnx_out['output'] - out.numpy()).max():.1e} (output),",
      f"{np.abs(onnx_out['h_n'] - h.numpy()).max():.1e} (h_n)")

# 2. a variant
ln = lstmkit.LSTM(8, 16, layer_norm=True, peephole=True).eval()
to_onnx(ln, "ln_lstm.onnx")
x = torch.randn(12, 5, 8)
with torch.no_grad():
    ref = ln(x)[0]
print("layer-norm peephole LSTM (Scan):",
      f"{np.abs(run_onnx('ln_lstm.onnx', {'input': x})['output'] - ref.numpy()).max():.1e}")

# 3. streaming in onnxruntime: one step per call, the state fed back
uni = lstmkit.LSTM(8, 16, num_layers=2).eval()
stream = OnnxStream(to_onnx(uni, "lstm_step.onnx", initial_states=True), batch=5)
steps = np.concatenate([stream.step(input=x[t : t + 1])["output"] for t in range(12)])
with torch.no_grad():
    whole = uni(x)[0].numpy()
print("streaming, 12 single steps vs the whole sequence:", f"{np.abs(steps - whole).max():.1e}")
