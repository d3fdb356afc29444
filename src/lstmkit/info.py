"""``lstmkit info``: versions, and which backends run on this machine and why not."""

from __future__ import annotations

import platform
import sys


def _versions() -> list[tuple[str, str]]:
    import numpy
    import torch

    import lstmkit

    rows = [
        ("lstmkit", lstmkit.__version__),
        ("python", sys.version.split()[0]),
        ("torch", torch.__version__),
        ("numpy", numpy.__version__),
        ("platform", f"{platform.system()} {platform.machine()}"),
        ("cpu threads", str(torch.get_num_threads())),
        ("oneDNN (mkldnn)", "yes" if torch.backends.mkldnn.is_available() else "no"),
        ("cuda", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"),
    ]
    for mod in ("lightning", "pandas", "matplotlib", "safetensors", "onnxruntime", "triton"):
        try:
            m = __import__(mod)
            rows.append((mod, getattr(m, "__version__", "installed")))
        except ImportError:
            rows.append((mod, "not installed"))
    return rows


def _parse_shape(text: str) -> tuple[int, int, int, int]:
    from lstmkit.errors import InputError

    try:
        B, T, I, H = (int(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--shape expects B,T,I,H (four integers), got {text!r}") from None
    return B, T, I, H


def report(explain: str | None = None, cell: str = "lstm", device: str = "cpu") -> str:
    import torch

    from lstmkit import backends
    from lstmkit.backends import LayerSpec

    lines = ["lstmkit info", ""]
    lines += [f"  {k:<16} {v}" for k, v in _versions()]
    mode = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN_TANH"}[cell]
    B, T, I, H = _parse_shape(explain) if explain else (8, 16, 16, 32)
    spec = LayerSpec(mode, I, H)
    x = torch.zeros(T, B, I, device=device)
    lines += ["", f"backends (priority order; checked on {cell.upper()} B={B} T={T} I={I} H={H}, float32, {device}):"]
    for name, reason in backends.explain(spec, x):
        lines.append(f"  {name:<10} {'available' if reason is None else 'unavailable: ' + reason}")
    chosen = backends.select(spec, x, "auto").name
    lines.append(f"  auto -> {chosen}")
    return "\n".join(lines)


def _cmd(args) -> int:
    print(report(args.explain, args.cell, args.device))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="versions and the backends available on this machine")
    p.add_argument("--explain", metavar="B,T,I,H", help="show the backend choice for this shape")
    p.add_argument("--cell", choices=("lstm", "gru", "rnn"), default="lstm")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd)
