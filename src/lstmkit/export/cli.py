"""``lstmkit export --load MODEL_DIR --onnx out.onnx``: a saved task model as an ONNX graph.

The saved model's task (in its config.json) names its estimator class through
:data:`lstmkit.spine.estimator.TASKS`; the estimator's own ``export`` writes the graph."""

from __future__ import annotations

import argparse

# task name in config.json -> (module, class) that loads it
LOADERS = {
    "forecast": ("lstmkit.forecasting", "Forecaster"),
    "textgen": ("lstmkit.textgen", "TextGenerator"),
    "classify": ("lstmkit.classify", "TextClassifier"),
}


def add_parser(subparsers) -> None:
    """Add ``lstmkit export`` and its flags to ``subparsers``.

    Args:
        subparsers: the ``lstmkit`` parser's subcommands (``add_subparsers()``).
    """
    p = subparsers.add_parser(
        "export", help="export a saved model to ONNX",
        description="Export a saved model directory (a model's .save(DIR), `lstmkit forecast "
                    "--save DIR`, or the text commands' --out DIR) to an ONNX file; --check runs "
                    "it in onnxruntime against PyTorch.")
    p.add_argument("--load", metavar="MODEL_DIR", help="a saved-model directory")
    p.add_argument("model_dir", metavar="MODEL_DIR", nargs="?", help="the same, as a positional argument")
    p.add_argument("--onnx", required=True, metavar="OUT", help="the ONNX file to write")
    p.add_argument("--recurrent", choices=("auto", "native", "loop"), default="auto",
                   help="ONNX's own LSTM/GRU/RNN operators (native) or Scan loops; auto: "
                        "native where the layer is plain (default)")
    p.add_argument("--check", action="store_true",
                   help="run the graph in onnxruntime and compare with PyTorch")
    p.set_defaults(func=run)


def load_saved(path):
    """The task model saved at ``path``, loaded by its own class."""
    from lstmkit.spine import io
    from lstmkit.spine.estimator import estimator_class

    task = io.read_config(path)["task"]
    return task, estimator_class(task).load(path)


def _check_native(model) -> None:
    """``--recurrent native`` on a model with a layer ONNX's operators cannot express:
    one line naming the layer's variant and the flag to use instead."""
    from torch import nn

    from lstmkit.errors import InputError
    from lstmkit.export.layer import is_recurrent, why_not_native

    nets = [v for v in vars(model).values() if isinstance(v, nn.Module)]
    for net in nets:
        for name, m in net.named_modules():
            if is_recurrent(m):
                why = why_not_native(m)
                if why:
                    kind = getattr(m, "mode", type(m).__name__).split("_")[0]
                    raise InputError(f"--recurrent native: the model's {kind} layer {name or '(root)'} uses "
                                     f"{why}, which ONNX's {kind} operator cannot express; use "
                                     "--recurrent loop (or --recurrent auto, the default)")


def run(args: argparse.Namespace) -> int:
    """``lstmkit export``: write the saved model as ONNX (``--check``: compare it with
    PyTorch in onnxruntime). InputError without exactly one
    model directory.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.errors import InputError
    from lstmkit.export.api import check_model, to_onnx

    if bool(args.load) == bool(args.model_dir):
        raise InputError("expected the saved model as --load MODEL_DIR (or as one positional MODEL_DIR)")
    task, model = load_saved(args.load or args.model_dir)
    if args.recurrent == "native":
        _check_native(model)
    export = getattr(model, "export", None)
    if export is not None:
        out = export(args.onnx, recurrent=args.recurrent)
    else:
        out = to_onnx(model, args.onnx, recurrent=args.recurrent)
    written = ", ".join(map(str, out)) if isinstance(out, (list, tuple)) else str(out)
    line = f"wrote {written} ({task} model, recurrent layers: {args.recurrent})"
    if args.check:
        err = check_model(model, out)
        line += f"; onnxruntime vs PyTorch: max abs error {err:.2e}"
    print(line)
    return 0
