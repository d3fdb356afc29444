"""Train the forecaster with DDP: the same code on 2 CPU processes, several GPUs or
several nodes; only the Trainer arguments change.

    python examples/forecast_ddp.py                      # 2 CPU processes (gloo)
    torchrun --nproc_per_node=2 examples/forecast_ddp.py # the same, launched by torchrun
    # on GPUs: pass accelerator="gpu", devices=N (and num_nodes=M under SLURM/torchrun)
"""

from __future__ import annotations

from lstmkit.forecasting import datasets, metrics
from lstmkit.forecasting import Forecaster

y = datasets.airline()
model = Forecaster(12, accelerator="cpu", devices=2, strategy="ddp", enable_progress_bar=False)
model.fit(y[:-12])
if model.is_global_zero:  # every process runs this script; let one of them report
    fc = model.predict()
    print(f"trained on {model.world_size} processes; MASE on 1960 "
          f"{metrics.mase(y[-12:], fc['y_hat'], y[:-12], 12):.3f}")
