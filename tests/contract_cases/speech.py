"""The SpeechRecognizer on 24 utterances of random features with a tiny network, and
``speech train`` on 160 synthesised utterances (espeak-ng; skipped without it), a tiny
network for 30 epochs of 5 steps, synthesised afresh (no cache written)."""

from __future__ import annotations

from tests.contract_cases.case import Case


def case() -> Case:
    import torch

    from lstmkit.speech import SpeechRecognizer, espeak_path

    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(int(torch.randint(20, 60, (1,), generator=g)), 40, generator=g) for _ in range(24)]
    texts = ["".join(str(int(d)) for d in torch.randint(0, 10, (k,), generator=g))
             for k in torch.randint(1, 4, (24,), generator=g).tolist()]

    def train_cli(tmp_path):
        return ["speech", "train", "--n-train", 160, "--n-test", 4, "--hidden-size", 8, "--num-layers", 1,
                "--beam", 0, "--max-epochs", 30, "--no-cache"]

    return Case(
        task="speech",
        make=lambda **kw: SpeechRecognizer(**{"hidden_size": 8, "num_layers": 1, "epochs": 2, "batch_size": 8,
                                              "seed": 0, **kw}),
        fit_args=(feats, texts),
        predict_args=(feats[:5],),
        evaluate_args=(feats[:8], texts[:8]),
        same=lambda a, b: list(a) == list(b),
        train_cli=train_cli if espeak_path() is not None else None,
    )
