"""The adding problem (Hochreiter & Schmidhuber 1997): LSTM against an Elman RNN, then a
look at the LSTM's gates holding the two marked values across the lag.

Run:  python examples/experiment_adding.py [T]      (default T=100; about half a
minute on 2 CPU cores) -- writes experiment_adding_gates.png in the current folder.
"""

import sys

from lstmkit import experiments
from lstmkit.experiments.gates import trace_gates
from lstmkit.experiments.plots import gate_heatmap

T = int(sys.argv[1]) if len(sys.argv) > 1 else 100

results = {}
for cell in ("rnn", "lstm"):
    # same data, seed and budget for both: 1000 steps or 60 seconds
    r = experiments.run("adding", cell=cell, length=T, max_steps=1000, max_time=60, seed=0)
    results[cell] = r
    print(
        f"{cell:>4}: solved={r.solved} accuracy={r.accuracy:.3f} (|error| < 0.04) "
        f"mse={r.error:.4f} steps={r.steps} {r.seconds_per_step * 1e3:.1f} ms/step "
        f"parameters={r.parameters}"
    )

lstm = results["lstm"]
trace = trace_gates(lstm.model, lstm.problem, seed=1)
print(f"marked steps {trace.marks}: output {trace.prediction[0]:.3f}, target {trace.target[0]:.3f}")
print("wrote", gate_heatmap(trace, "experiment_adding_gates.png"))
