"""Multi-process training: DDP over 2 CPU processes (gloo), the same code as on GPUs or
nodes. Lightning's DDP launcher re-runs the calling script for rank 1, so the fit runs
in a script of its own rather than inside pytest."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import json, sys
    import torch
    torch.set_num_threads(1)
    from lstmkit.forecasting import datasets, metrics
    from lstmkit.forecasting import Forecaster

    y = datasets.airline()
    model = Forecaster(12, hidden_size=16, num_layers=1, max_epochs=80, enable_progress_bar=False,
                       accelerator="cpu", devices=2, strategy="ddp").fit(y[:-12])
    if model.is_global_zero:  # both ranks run this script; one reports
        fc = model.predict()
        mase = metrics.mase(y[-12:].to_numpy(), fc["y_hat"].to_numpy(), y[:-12].to_numpy(), 12)
        with open(sys.argv[1], "w") as f:
            json.dump({"mase": mase, "world_size": model.world_size, "loss": model.history.train}, f)
''')


def test_ddp_two_cpu_processes_learn(tmp_path):
    script, report = tmp_path / "ddp_fit.py", tmp_path / "report.json"
    script.write_text(SCRIPT)
    run = subprocess.run([sys.executable, str(script), str(report)], check=False, capture_output=True, text=True,
                         timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(report.read_text())
    assert result["world_size"] == 2
    assert result["loss"][-1] < 0.5 * result["loss"][0]
    assert result["mase"] < 1.0, f"DDP-trained MASE {result['mase']:.3f} (seasonal naive 1.571)"
