"""A small custom comparison from Python: GRU against LSTM (and the LSTM with the plain
forget-gate bias of 1.0 instead of the chrono initialisation) on temporal order.

Run:  python examples/experiment_compare.py       (a minute or two on 2 CPU cores)
"""

from lstmkit.experiments.compare import CompareConfig, compare

config = CompareConfig(
    tasks={"temporal_order": (50, 100)},
    cells=("gru", "lstm", "lstm:init=forget_bias"),
    seeds=(0,),
    max_steps=800,
    max_time=60.0,
    reference=("temporal_order", 100),
)


def show(item) -> None:
    """Called after every run (or with a message, e.g. for an unavailable variant)."""
    if isinstance(item, str):
        print(item)
    else:
        verdict = "solved" if item.solved else "failed"
        print(f"{item.label:<24} T={item.length:<4} {verdict} in {item.steps} steps, "
              f"accuracy {item.accuracy:.3f}")


comp = compare(config, progress=show)
for label in comp.labels():
    print(f"{label:<24} longest lag solved: {comp.longest_solved(label, 'temporal_order')}")
