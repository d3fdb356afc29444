"""``lstmkit info``: versions, and which backends run on this machine and why not."""

from __future__ import annotations

import platform
import sys

from lstmkit.variants import SPECS


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
        raise InputError(f"--explain expects B,T,I,H (four integers), got {text!r}") from None
    if min(B, T, I, H) < 1:
        raise InputError(f"--explain expects four positive integers B,T,I,H, got {text!r}")
    return B, T, I, H


#: --variant names -> the LayerSpec fields they set (what ``auto`` looks at)
_VARIANTS = {
    s.name: {s.name: s.parse(s.example, "LSTM", True)} for s in SPECS if s.recurrence
}
_LSTM_ONLY = tuple(s.name for s in SPECS if s.recurrence and s.modes == ("LSTM",))


def _parse_variants(text: str | None, cell: str) -> dict:
    from lstmkit.errors import InputError

    fields: dict = {}
    for name in filter(None, (text or "").split(",")):
        name = name.strip()
        if name not in _VARIANTS:
            raise InputError(f"--variant expects names from {', '.join(_VARIANTS)}, got {name!r}")
        if name in _LSTM_ONLY and cell != "lstm":
            raise InputError(f"--variant {name} is an LSTM option, got --cell {cell}")
        fields.update(_VARIANTS[name])
    return fields


def _row_blocks(spec, B: int) -> int:
    """How many row blocks the compiled loops split a batch of B rows of ``spec`` into on
    this thread pool (``csrc/recurrence.h``, ``row_blocks``)."""
    from lstmkit.backends.compiled import extension
    from lstmkit.cells import cell_math

    coupled = {"coupled": True} if getattr(spec, "coupled_gates", False) else {}
    H = spec.hidden_size
    return extension().row_blocks(B, spec.proj_size or H, cell_math(spec.mode, **coupled).n_gates * H)


def report(explain: str | None = None, cell: str = "lstm", device: str = "cpu",
           variants: str | None = None, grad: bool = True, lengths: bool = False) -> str:
    """What ``lstmkit info`` prints: versions, the backends and ``auto``'s choice.

    Args:
        explain: ``"B,T,I,H"``: the shape the backend choice is shown for (default
            8,16,16,32).
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        device: the device the choice is checked on.
        variants: comma-separated variant names (``--variant``), or None.
        grad: explain the choice for training (True) or inference.
        lengths: explain the choice for a forward with ``lengths=`` (variable lengths).

    Returns:
        The report, one line per item.

    Raises:
        InputError: a bad shape or variant name.
    """
    import torch

    from lstmkit import backends
    from lstmkit.backends import LayerSpec

    lines = ["lstmkit info", ""]
    lines += [f"  {k:<16} {v}" for k, v in _versions()]
    mode = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN_TANH"}[cell]
    B, T, I, H = _parse_shape(explain) if explain is not None else (8, 16, 16, 32)
    spec = LayerSpec(mode, I, H, **_parse_variants(variants, cell))
    x = torch.zeros(T, B, I, device=device)
    what = ", ".join(spec.variants) or "plain"
    pass_ = "forward+backward" if grad else "forward only"
    checked = (f"{cell.upper()} ({what}) B={B} T={T} I={I} H={H}, float32, {device}, {pass_}"
               f"{', with lengths=' if lengths else ''}")
    lines += ["", f"backends (priority order; checked on {checked}):"]
    for name, reason in backends.explain(spec, x):
        lines.append(f"  {name:<10} {'available' if reason is None else 'unavailable: ' + reason}")
        if name == "compiled" and reason is None:
            from lstmkit.backends.compiled import buffer_cache

            cache = buffer_cache()
            lines.append(f"             buffer cache: {cache['idle_bytes'] / 2**20:.0f} MiB idle, at most "
                         f"{cache['limit_bytes'] / 2**20:.0f} MiB (set_buffer_cache_limit)")
            lines.append(f"             row blocks: {_row_blocks(spec, B)} for this batch on "
                         f"{torch.get_num_threads()} thread(s) (docs/backends.md, Threads)")
            from lstmkit.backends.compiled.projection import KERNEL_INPUT

            how = "one-pass kernel" if I <= KERNEL_INPUT else "torch's GEMM"
            lines.append(f"             input projection: {how} for {I} input column(s) "
                         f"(kernel up to {KERNEL_INPUT}; docs/backends.md)")
    with torch.set_grad_enabled(grad):
        order = backends.auto_order(spec, x, lengths=lengths)
        rule = backends.auto_rule(spec, x, lengths=lengths)
        chosen = backends.select(spec, x, "auto", lengths=lengths).name
    lines.append(f"  auto -> {chosen}")
    lines.append(f"    rule: {rule}")
    lines.append(f"    tries: {' > '.join(order)} (the first that can run it)")
    return "\n".join(lines)


def _cmd(args) -> int:
    print(report(args.explain, args.cell, args.device, args.variant, not args.no_grad, args.lengths))
    return 0


def add_parser(sub) -> None:
    """Add the ``info`` command to the CLI's subparsers ``sub``."""
    p = sub.add_parser("info", help="versions and the backends available on this machine")
    p.add_argument("--explain", metavar="B,T,I,H", help="show the backend choice for this shape")
    p.add_argument("--cell", choices=("lstm", "gru", "rnn"), default="lstm")
    p.add_argument("--variant", metavar="NAMES",
                   help=f"comma-separated variants for --explain: {', '.join(_VARIANTS)}")
    p.add_argument("--no-grad", action="store_true",
                   help="explain the choice for inference (torch.no_grad) instead of training")
    p.add_argument("--lengths", action="store_true",
                   help="explain the choice for a forward with lengths= (variable lengths)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd)
