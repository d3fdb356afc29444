"""A :class:`~lstmkit.seq2seq.Translator` as two ONNX graphs, the encoder and one decoder
step, and the greedy decoding loop over them in onnxruntime.

=========  ================================================  ===============================================
graph      inputs                                            outputs
=========  ================================================  ===============================================
encoder    source (B, S) int64: source ids, ``</s>`` (2)     memory (B, S, H), keys (B, S, H) float32,
           appended, padded with ``<pad>`` (0);              mask (B, S) bool, h (L, B, H), c (L, B, H)
           lengths (B,) int64 (``</s>`` counted)
decoder    token (B,) int64: the previous output token       logits (B, V), h_next, c_next (L, B, H),
           (``<s>`` (1) first); h, c; memory, keys, mask     attention (B, S)
=========  ================================================  ===============================================

Batch and source length are dynamic. Both graphs carry the vocabularies in their
metadata (``lstmkit.state``: ``source_chars``, ``target_chars``, ``max_len``; ids 0-3
are ``<pad> <s> </s> <unk>``, characters follow in that order), so a deployment needs
only the two files, numpy and onnxruntime: :func:`onnx_translate` is that loop.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lstmkit.errors import InputError
from lstmkit.seq2seq.model import Memory
from lstmkit.seq2seq.vocab import EOS, SOS

ENCODER_IN, ENCODER_OUT = ["source", "lengths"], ["memory", "keys", "mask", "h", "c"]
DECODER_IN, DECODER_OUT = ["token", "h", "c", "memory", "keys", "mask"], ["logits", "h_next", "c_next", "attention"]


class EncoderGraph(nn.Module):
    """The encoder graph of the module docstring's table, around a :class:`~lstmkit.seq2seq.Seq2Seq`.

    Args:
        net: the network.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, source, lengths):
        """source (B, S) int64, lengths (B,) -> memory, keys (B, S, H), mask (B, S), h, c (L, B, H)."""
        mem, (h, c) = self.net.encode(source, lengths)
        return mem.memory, mem.keys, mem.mask, h, c


class DecoderGraph(nn.Module):
    """One decoder step of the module docstring's table, around a :class:`~lstmkit.seq2seq.Seq2Seq`.

    Args:
        net: the network.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, token, h, c, memory, keys, mask):
        """token (B,) int64 and the state -> logits (B, V), h_next, c_next (L, B, H), attention (B, S)."""
        logits, alpha, (h, c) = self.net.step(token, (h, c), Memory(memory, keys, mask))
        return logits, h, c, alpha


def paths_for(path: str | os.PathLike) -> list[Path]:
    """The two graphs' paths for an export path.

    Args:
        path: ``dir/model.onnx`` (or ``dir/model``).

    Returns:
        ``[dir/model.encoder.onnx, dir/model.decoder.onnx]``.

    Example:
        >>> [p.name for p in paths_for("dir/model.onnx")]
        ['model.encoder.onnx', 'model.decoder.onnx']
    """
    path = Path(path)
    stem = path.stem if path.suffix == ".onnx" else path.name
    return [path.with_name(f"{stem}.encoder.onnx"), path.with_name(f"{stem}.decoder.onnx")]


def _examples(tr, n: int = 4, seed: int = 0) -> list[str]:
    """A few sources of the model's own characters, of different lengths."""
    g = np.random.default_rng(seed)
    chars = tr.src_vocab.chars or "?"
    return ["".join(g.choice(list(chars), size=k)) for k in [1, 7, 3, 12][:n]]


def export(tr, path: str | os.PathLike, recurrent: str = "auto") -> list[Path]:
    """Write the two graphs of the Translator ``tr`` (see the module docstring).

    Args:
        tr: a trained :class:`~lstmkit.seq2seq.Translator`.
        path: ``dir/model.onnx`` (or ``dir/model``); the graphs go to
            ``dir/model.encoder.onnx`` and ``dir/model.decoder.onnx``.
        recurrent: ``"auto"``, ``"native"`` or ``"loop"``, as for
            :func:`lstmkit.export.to_onnx`.

    Returns:
        The two paths, encoder first.
    """
    from lstmkit.export.api import build_onnx
    from lstmkit.spine.io import atomic_write

    net = tr.model
    meta = {"lstmkit.task": "seq2seq", "lstmkit.config": json.dumps(dataclasses.asdict(tr.config)),
            "lstmkit.state": json.dumps(tr._state())}
    src, lengths = tr.src_vocab.batch(_examples(tr, 2), eos=True)
    with torch.no_grad():
        mem, (h, c) = net.eval().encode(src, lengths)
    token = torch.full((src.shape[0],), SOS, dtype=torch.long)
    batch, time = {0: "batch"}, {0: "batch", 1: "source_length"}
    graphs = [
        (EncoderGraph(net), (src, lengths), ENCODER_IN, ENCODER_OUT,
         {"source": time, "lengths": batch, "memory": time, "keys": time, "mask": time,
          "h": {1: "batch"}, "c": {1: "batch"}}, "encoder"),
        (DecoderGraph(net), (token, h, c, mem.memory, mem.keys, mem.mask), DECODER_IN, DECODER_OUT,
         {"token": batch, "h": {1: "batch"}, "c": {1: "batch"}, "memory": time, "keys": time, "mask": time,
          "logits": batch, "h_next": {1: "batch"}, "c_next": {1: "batch"}, "attention": time}, "decoder"),
    ]
    out = []
    for (module, example, names, outs, axes, part), target in zip(graphs, paths_for(path)):
        proto = build_onnx(module, example_inputs=example, input_names=names, output_names=outs,
                           dynamic_axes=axes, recurrent=recurrent)
        entries = {e.key: e for e in proto.metadata_props}
        for key, value in {**meta, "lstmkit.graph": part}.items():
            entry = entries.get(key) or proto.metadata_props.add()
            entry.key, entry.value = key, value
        data = proto.SerializeToString()
        out.append(atomic_write(target, lambda tmp, data=data: Path(tmp).write_bytes(data)))
    return out


def _two(paths) -> tuple[Path, Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = paths_for(paths)
    paths = [Path(p) for p in paths]
    if len(paths) != 2:
        raise InputError(f"expected the two graphs a Translator exports (encoder, decoder), found {len(paths)} paths")
    enc = next((p for p in paths if p.name.endswith(".encoder.onnx")), paths[0])
    dec = next((p for p in paths if p.name.endswith(".decoder.onnx")), paths[1])
    return enc, dec


def onnx_translate(encoder, decoder, sources: list[str], threads: int | None = 1) -> list[str]:
    """Greedy decoding of ``sources`` with the two exported graphs in onnxruntime, using
    only numpy and onnxruntime (the loop docs/seq2seq.md shows); gives the strings
    of ``Translator.predict(sources)`` (greedy).

    Args:
        encoder: the encoder graph's path (:meth:`~lstmkit.seq2seq.Translator.export`).
        decoder: the decoder graph's path.
        sources: the texts to translate.
        threads: onnxruntime's intra-op threads (default 1; None: its default).

    Returns:
        One output string per source.
    """
    import onnxruntime as ort

    def session(path):
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    enc, dec = session(encoder), session(decoder)
    state = json.loads(enc.get_modelmeta().custom_metadata_map["lstmkit.state"])
    PAD, SOS, EOS, UNK = 0, 1, 2, 3  # ids of the specials; characters follow from id 4
    src_id = {ch: i + 4 for i, ch in enumerate(state["source_chars"])}
    tgt_char = dict(enumerate(state["target_chars"], 4))

    rows = [[src_id.get(ch, UNK) for ch in s] + [EOS] for s in sources]
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    source = np.full((len(rows), max(lengths)), PAD, dtype=np.int64)
    for i, r in enumerate(rows):
        source[i, : len(r)] = r
    memory, keys, mask, h, c = enc.run(None, {"source": source, "lengths": lengths})

    token = np.full(len(rows), SOS, dtype=np.int64)
    done = np.zeros(len(rows), dtype=bool)
    steps = []
    for _ in range(state["max_len"] + 1):  # + 1: room for </s>
        logits, h, c, _ = dec.run(None, {"token": token, "h": h, "c": c, "memory": memory,
                                         "keys": keys, "mask": mask})
        token = np.where(done, PAD, logits.argmax(-1))
        steps.append(token)
        done |= token == EOS
        if done.all():
            break
    out = []
    for ids in np.stack(steps, 1).tolist():
        ids = ids[: ids.index(EOS)] if EOS in ids else ids
        out.append("".join(tgt_char[i] for i in ids if i in tgt_char))
    return out


def check_export(tr, paths) -> float:
    """Largest absolute difference between onnxruntime and PyTorch: the encoder's
    outputs, then each greedy step's logits and states (both fed the same tokens).

    Args:
        tr: the trained :class:`~lstmkit.seq2seq.Translator`.
        paths: the two graphs :func:`export` wrote.

    Returns:
        The largest absolute difference.
    """
    from lstmkit.export.api import run_onnx, session

    enc_path, dec_path = _two(paths)
    enc, dec = session(enc_path), session(dec_path)
    net = tr.model.eval()
    src, lengths = tr.src_vocab.batch(_examples(tr), eos=True)
    worst = 0.0

    def compare(got: dict, ref: dict) -> None:
        nonlocal worst
        for name, r in ref.items():
            g, r = got[name], r.detach().numpy()
            if g.shape != r.shape:
                raise AssertionError(f"{name}: shape {g.shape} from onnxruntime, {r.shape} from torch")
            worst = max(worst, float(np.abs(g.astype(np.float64) - r.astype(np.float64)).max()))

    with torch.no_grad():
        mem, (h, c) = net.encode(src, lengths)
        got = run_onnx(enc, {"source": src, "lengths": lengths})
        compare(got, {"memory": mem.memory, "keys": mem.keys, "mask": mem.mask, "h": h, "c": c})
        feeds = {k: got[k] for k in ("memory", "keys", "mask", "h", "c")}
        y = torch.full((src.shape[0],), SOS, dtype=torch.long)
        for _ in range(tr.max_len + 1):
            logits, alpha, (h, c) = net.step(y, (h, c), mem)
            out = run_onnx(dec, {**feeds, "token": y})
            compare(out, {"logits": logits, "h_next": h, "c_next": c, "attention": alpha})
            feeds.update(h=out["h_next"], c=out["c_next"])
            y = logits.argmax(-1)
            if bool((y == EOS).all()):
                break
    return worst
