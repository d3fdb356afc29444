"""TextGenerator: a tiny model on 20,000 characters of tiny Shakespeare, a step budget
(not a time budget), so a killed and resumed run is deterministic."""

from __future__ import annotations

from tests.contract_cases.case import Case

TINY = {"hidden_size": 16, "embedding_dim": 8, "batch_size": 4, "seq_len": 16, "lr": 1e-2, "warmup_steps": 5}


def _text() -> str:
    from lstmkit.textgen import shakespeare

    return shakespeare()[:20_000]


def case() -> Case:
    from lstmkit.textgen import TextGenerator

    text = _text()

    def make(**kw):
        return TextGenerator(**TINY, max_steps=30, seed=0, **kw)

    def train_cli(tmp_path):
        data = tmp_path / "tiny.txt"
        data.write_text(text, encoding="utf-8")
        return ["textgen", "train", "--data", data, "--max-steps", 400, "--max-time", 0, "--hidden-size", 32,
                "--embedding-dim", 8, "--batch-size", 4, "--seq-len", 16, "--sample-length", 0,
                "--eval-every", 0.5]

    return Case(
        task="textgen",
        make=make,
        fit_args=(text,),
        predict_args=("ROMEO:", 40, 1.0, None, 3),
        evaluate_args=(text[-2000:],),
        train_cli=train_cli,
        same=lambda a, b: a == b,
        bad_keyword=("max_step", "max_steps"),
    )
