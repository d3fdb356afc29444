"""The Python API never answers bad input silently: NaN in the padding of `lengths=` stays
out of the outputs and gradients on every backend, torch.nn's refusals hold (input_size
0, a tuple as a GRU or RNN state), an empty batch with lengths runs, and the Forecaster
refuses a hand-edited config.json, a backtest step of 0, and future covariates it would
not use or could not tell apart."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

import lstmkit
from lstmkit.errors import InputError
from lstmkit.forecasting import Forecaster

BACKENDS = ["auto", "compiled", "fused", "reference", "native"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls", [lstmkit.LSTM, lstmkit.GRU, lstmkit.RNN])
def test_nan_in_the_padding_reaches_neither_outputs_nor_gradients(cls, backend):
    torch.manual_seed(0)
    m = cls(3, 4, num_layers=2, backend=backend)
    x = torch.randn(6, 2, 3, requires_grad=True)
    lengths = torch.tensor([6, 3])
    padded = x.detach().clone()
    padded[3:, 1] = float("nan")
    padded.requires_grad_(True)
    out, hn = m(padded, lengths=lengths)
    h = hn[0] if isinstance(hn, tuple) else hn
    (out.sum() + h.sum()).backward()
    assert torch.isfinite(out).all() and (out[3:, 1] == 0).all()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())
    assert (padded.grad[3:, 1] == 0).all()
    clean = torch.nn.utils.rnn.pack_padded_sequence(x.detach(), lengths)  # torch's answer on the same batch
    ref = torch.nn.__dict__[cls.__name__](3, 4, num_layers=2)
    ref.load_state_dict(m.state_dict())
    _, ref_hn = ref(clean)
    ref_h = ref_hn[0] if isinstance(ref_hn, tuple) else ref_hn
    torch.testing.assert_close(h, ref_h, rtol=1e-5, atol=1e-6)


def test_torch_nn_refusals_hold():
    with pytest.raises(ValueError, match="input_size must be greater than zero"):
        lstmkit.LSTM(0, 4)
    with pytest.raises(TypeError, match="hx must be a tensor, got tuple"):
        lstmkit.GRUCell(3, 4)(torch.randn(2, 3), (torch.randn(2, 4),))
    with pytest.raises(TypeError, match="state must be a tensor h, got tuple"):
        lstmkit.RNN(3, 4).step(torch.randn(2, 3), (torch.randn(1, 2, 4),))
    with pytest.raises(ValueError, match="state must be a tuple"):
        lstmkit.LSTM(3, 4).step(torch.randn(2, 3), torch.randn(1, 2, 4))


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_empty_batch_with_lengths_gives_empty_outputs(backend):
    out, (h, c) = lstmkit.LSTM(3, 4, backend=backend)(torch.randn(5, 0, 3), lengths=torch.zeros(0, dtype=torch.long))
    assert out.shape == (5, 0, 4) and h.shape == c.shape == (1, 0, 4)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    df = pd.concat([pd.DataFrame({"unique_id": u, "ds": pd.date_range("2020-01-01", periods=40),
                                  "y": np.sin(np.arange(40) / 3) + 5 + i}) for i, u in enumerate("ab")])
    model = Forecaster(3, hidden_size=4, num_layers=1, max_steps=2, lookback=8, calibration=0,
                       verbose=False).fit(df)
    path = tmp_path_factory.mktemp("forecaster") / "m"
    model.save(path)
    return model, path, df


@pytest.mark.parametrize("part, key, value", [
    ("forecaster", "hidden_size", 8), ("forecaster", "cell", "gru"), ("forecaster", "num_layers", 2),
    ("forecaster", "lookback", 4), ("forecaster", "quantiles", [0.2, 0.8]), ("plan", "season_length", 3),
])
def test_a_hand_edited_config_is_refused(saved, tmp_path, part, key, value):
    _, path, _ = saved
    edited = tmp_path / "edited"
    shutil.copytree(path, edited)
    meta = json.loads((edited / "config.json").read_text())
    (meta["state"]["plan"] if part == "plan" else meta["config"]["forecaster"])[key] = value
    (edited / "config.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=f"describes two models: {key}"):
        Forecaster.load(edited)


def test_backtest_step_0_is_refused(saved):
    model, _, df = saved
    with pytest.raises(InputError, match="expected step as an integer >= 1, found 0"):
        model.backtest(df, windows=2, step=0)


def test_future_covariates_that_would_not_be_used_are_refused(saved):
    model, _, _ = saved  # no covariates
    future = pd.DataFrame({"unique_id": ["a"] * 3, "ds": pd.date_range("2020-02-10", periods=3), "promo": 1.0})
    with pytest.raises(InputError, match="this model has no future-known covariates"):
        model.predict(future=future)


def test_future_covariates_with_unknown_columns_or_two_values_per_step_are_refused():
    days = pd.date_range("2020-01-01", periods=40)
    df = pd.concat([pd.DataFrame({"unique_id": u, "ds": days, "y": np.sin(np.arange(40) / 3) + 5 + i,
                                  "promo": (np.arange(40) % 5 == 0).astype(float)}) for i, u in enumerate("ab")])
    model = Forecaster(3, covariates=["promo"], hidden_size=4, num_layers=1, max_steps=2, lookback=8,
                       calibration=0, verbose=False).fit(df)
    ahead = pd.date_range("2020-02-10", periods=3)
    future = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 3), "ds": np.tile(ahead, 2), "promo": 0.0})
    assert len(model.predict(future=future)) == 6
    with pytest.raises(InputError, match=r"unknown column\(s\) \['price'\]"):
        model.predict(future=future.assign(price=1.0))
    twice = pd.concat([future, future.head(1).assign(promo=1.0)])
    with pytest.raises(InputError, match="found 2020-02-10 00:00:00 twice"):
        model.predict(future=twice)
    with pytest.raises(InputError, match="finite numeric covariate values"):
        model.predict(future=future.assign(promo=np.inf))


@pytest.mark.parametrize("backend", ["native", "auto"])
@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_float16_on_the_cpu_runs_torch_kernel_with_its_numbers(name, backend):
    torch.manual_seed(0)
    ref = getattr(torch.nn, name)(3, 4, num_layers=2).half()
    m = getattr(lstmkit, name)(3, 4, num_layers=2, backend=backend).half()
    m.load_state_dict(ref.state_dict())
    x = torch.randn(5, 2, 3).half()
    torch.testing.assert_close(m(x)[0], ref(x)[0], rtol=0, atol=0)


# ---- the other tasks' estimators ---------------------------------------------------------
TEXTS = ["good movie", "bad movie", "great film", "awful film", "nice", "terrible"]


@pytest.mark.parametrize("labels, message", [
    ([1, "1", 1, "1", 2, 2], "mixes int and str labels"),
    (["pos", None] * 3, r"labels\[1\] must be an int or str label, got NoneType"),
    ([1.0, float("nan")] * 3, "must be an int or str label, got float"),
    ([True, False] * 3, "must be an int or str label, got bool"),
    (np.eye(2)[[0, 1, 0, 1, 0, 1]], "must be an int or str label, got list"),
])
def test_text_classifier_refuses_labels_it_cannot_tell_apart(labels, message):
    from lstmkit.classify import TextClassifier

    with pytest.raises(InputError, match=message):
        TextClassifier(hidden_size=8, embedding_dim=8, epochs=1, ensemble=1, verbose=False).fit(TEXTS, labels)


def test_classifier_predictions_refuse_a_batch_size_that_is_not_positive():
    from lstmkit.classify import TextClassifier

    clf = TextClassifier(hidden_size=8, embedding_dim=8, epochs=1, ensemble=1, batch_size=4, verbose=False)
    clf.fit(TEXTS, ["pos", "neg"] * 3)
    for bad in (-1, 0, 2.5, True):
        with pytest.raises(InputError, match="batch_size as a positive integer"):
            clf.predict_proba(TEXTS, batch_size=bad)
    assert clf.predict_proba(TEXTS, batch_size=1).shape == (6, 2)


def test_translator_refuses_what_it_would_misread():
    from lstmkit.seq2seq import Translator

    sources = ["abc", "bca", "cab", "acb"] * 2
    targets = [s[::-1] for s in sources]
    kw = {"hidden_size": 8, "embedding_dim": 8, "max_steps": 2, "verbose": False}
    with pytest.raises(InputError, match="fit targets: expected strings, found a NoneType"):
        Translator(**kw).fit(sources, [None, *targets[1:]])
    with pytest.raises(InputError, match="target_chars lacks 'c'"):
        Translator(target_chars="ab", **kw).fit(sources, targets)
    with pytest.raises(InputError, match=r"validation: expected \(sources, targets\)"):
        Translator(**kw).fit(sources, targets, validation=(["abc"],))
    model = Translator(**kw).fit(sources, targets)
    for call, message in [
        (lambda: model.predict([None]), "predict: expected strings, found a NoneType"),
        (lambda: model.predict(None), "predict: expected a list of strings, found NoneType"),
        (lambda: model.attend(["abc"]), "attend: expected one string, found list"),
        (lambda: model.predict("abc", max_len=-1), "max_len as a positive integer"),
        (lambda: model.predict("abc", length_penalty=float("nan")), "length_penalty as a finite number"),
    ]:
        with pytest.raises(InputError, match=message):
            call()


@pytest.fixture(scope="module")
def generator():
    from lstmkit.textgen import TextGenerator

    return TextGenerator(hidden_size=16, batch_size=4, seq_len=10, verbose=False).fit(
        "to be or not to be, that is the question. " * 20, max_steps=3)


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": float("nan")}, "temperature must be a finite number"),
    ({"temperature": float("inf")}, "temperature must be a finite number"),
    ({"temperature": True}, "temperature must be a finite number"),
    ({"top_k": True}, "top_k must be a positive integer"),
    ({"prompt": None}, "prompt must be a str, got NoneType"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"length": -1}, "length must be a non-negative integer"),
])
def test_generation_settings_are_checked_when_the_stream_is_made(generator, kwargs, message):
    with pytest.raises(InputError, match=message):
        generator.stream(**{"prompt": "to", "length": 5, **kwargs})  # not only when iterated


def test_a_tiny_temperature_samples_the_most_likely_character(generator):
    assert generator.generate("to", length=20, temperature=1e-300, seed=1) == \
        generator.generate("to", length=20, temperature=0)


def test_load_refuses_a_saved_state_that_does_not_fit(generator, tmp_path):
    from lstmkit.textgen import TextGenerator

    generator.save(tmp_path / "tg")
    meta = json.loads((tmp_path / "tg" / "config.json").read_text())
    meta["state"]["counts"] = meta["state"]["counts"][:3]
    (tmp_path / "tg" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="character counts .* do not fit the vocabulary"):
        TextGenerator.load(tmp_path / "tg")


def test_sequence_classifier_load_refuses_a_scaling_of_another_channel_count(tmp_path):
    from lstmkit.sequences import SequenceClassifier

    rng = np.random.default_rng(0)
    X = [rng.normal(size=(12, 2)).astype(np.float32) for _ in range(8)]
    model = SequenceClassifier(hidden_size=4, epochs=1, verbose=False).fit(X, [0, 1] * 4)
    for bad in (-1, 0):
        with pytest.raises(InputError, match="batch_size as a positive integer"):
            model.predict_proba(X, batch_size=bad)
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    meta["state"]["scaler"]["mean"] = [0.0]
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="1 mean value"):
        SequenceClassifier.load(tmp_path / "m")


@pytest.mark.parametrize("form", ["parallel", "chunkwise", "recurrent"])
def test_xlstm_layers_take_an_empty_batch(form):
    from lstmkit.xlstm import mLSTM, sLSTM

    out, (C, n, m) = mLSTM(3, 8, batch_first=True, num_heads=2, form=form)(torch.randn(0, 5, 3))
    assert out.shape == (0, 5, 8) and C.shape == (1, 0, 2, 4, 4) and n.shape == (1, 0, 2, 4) and m.shape == (1, 0, 2)
    assert sLSTM(3, 8, batch_first=True)(torch.randn(0, 5, 3))[0].shape == (0, 5, 8)


@pytest.mark.parametrize("slstm_at", [[], [1], [0, 1]], ids=["mlstm", "mixed", "slstm"])
def test_xlstm_stack_takes_an_empty_batch(slstm_at):
    from lstmkit.xlstm import xLSTMConfig, xLSTMStack

    stack = xLSTMStack(xLSTMConfig(embedding_dim=16, num_blocks=2, slstm_at=slstm_at))
    y, state = stack(torch.randn(0, 5, 16))
    assert y.shape == (0, 5, 16)
    y.sum().backward()  # the gradients of an empty batch: zeros, no error
    assert stack(torch.randn(0, 3, 16), state)[0].shape == (0, 3, 16)
    empty = torch.ones(0, dtype=torch.long)
    assert stack(torch.randn(0, 3, 16), lengths=empty)[0].shape == (0, 3, 16)


def test_xlstm_stack_refuses_another_dtype_than_its_parameters():
    from lstmkit.xlstm import xLSTMConfig, xLSTMStack

    stack = xLSTMStack(xLSTMConfig(embedding_dim=16, num_blocks=2, slstm_at=[1]))
    with pytest.raises(InputError, match="dtype torch.float64 but the parameters are torch.float32"):
        stack(torch.randn(2, 5, 16, dtype=torch.float64))
    assert stack.double()(torch.randn(2, 5, 16, dtype=torch.float64))[0].dtype == torch.float64
