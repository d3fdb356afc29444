"""The Forecaster trains something real: quality on the airline series, determinism,
covariates, many series, backtests, save/load, validation and resume."""

from __future__ import annotations

import json

import lightning as L
import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file, save_file

from lstmkit.errors import InputError
from lstmkit.forecasting import Forecaster, datasets, metrics
from lstmkit.forecasting.baselines import SeasonalNaive

SMALL = {"hidden_size": 16, "num_layers": 1, "enable_progress_bar": False}


@pytest.fixture(scope="module")
def airline():
    return datasets.airline()


@pytest.fixture(scope="module")
def fitted(airline):
    """Airline with the last 12 months held out: a small model, intervals on."""
    return Forecaster(12, quantiles=[0.1, 0.9], max_epochs=100, **SMALL).fit(airline[:-12])


def test_airline_holdout_beats_seasonal_naive(fitted, airline):
    train, test = airline[:-12], airline[-12:]
    fc = fitted.predict()
    assert list(fc.columns) == ["unique_id", "ds", "y_hat", "y_hat_q10", "y_hat_q90"]
    assert (fc["ds"].to_numpy() == test.index.to_numpy()).all()
    lstm = metrics.mase(test.to_numpy(), fc["y_hat"].to_numpy(), train.to_numpy(), 12)
    snaive = SeasonalNaive(12).fit(train).predict()["y_hat"].to_numpy()
    base = metrics.mase(test.to_numpy(), snaive, train.to_numpy(), 12)
    assert base == pytest.approx(1.5709, abs=1e-3)
    assert lstm < 0.8, f"LSTM MASE {lstm:.3f} (seasonal naive {base:.3f})"
    assert (fc["y_hat_q10"] <= fc["y_hat"]).all() and (fc["y_hat"] <= fc["y_hat_q90"]).all()
    cover = metrics.coverage(test.to_numpy(), fc["y_hat_q10"].to_numpy(), fc["y_hat_q90"].to_numpy())
    assert cover >= 0.5, f"80% interval covers {cover:.2f} of the held-out months"
    assert fitted.history.train[-1] < 0.5 * fitted.history.train[0]  # the loss came down


def test_seed_makes_fit_reproducible(airline):
    kw = dict(max_epochs=15, **SMALL)
    a = Forecaster(12, seed=0, **kw).fit(airline).predict()
    b = Forecaster(12, seed=0, **kw).fit(airline).predict()
    c = Forecaster(12, seed=1, **kw).fit(airline).predict()
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["y_hat"], c["y_hat"])


def promo_data(n=100, ids=("s1", "s2", "s3")):
    rng = np.random.default_rng(0)
    frames = []
    for k, uid in enumerate(ids):
        ds = pd.date_range("2021-01-04", periods=n, freq="D")
        promo = (rng.random(n) < 0.25).astype(float)
        y = 50 + 10 * k + 5 * np.sin(2 * np.pi * np.arange(n) / 7) + 20 * promo + rng.normal(0, 1, n)
        frames.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": y, "promo": promo}))
    return pd.concat(frames, ignore_index=True)


def test_global_model_with_future_known_covariate():
    df = promo_data()
    hist = df.groupby("unique_id").head(90)
    future = df.groupby("unique_id").tail(10)
    model = Forecaster(7, lookback=14, covariates=["promo"], max_epochs=60, **SMALL).fit(hist)
    with pytest.raises(InputError, match="future values of the covariates"):
        model.predict()
    fc = model.predict(future=future[["unique_id", "ds", "promo"]])
    assert len(fc) == 3 * 7 and set(fc["unique_id"]) == {"s1", "s2", "s3"}
    merged = fc.merge(future, on=["unique_id", "ds"])
    err = np.abs(merged["y"] - merged["y_hat"]).mean()
    assert err < 2.0, f"MAE {err:.2f} (noise sd 1): the +20 promotions were not learned"
    lift = merged.loc[merged.promo == 1, "y_hat"].mean() - merged.loc[merged.promo == 0, "y_hat"].mean()
    assert lift > 12


def test_backtest_rolls_origins_without_leakage(airline):
    model = Forecaster(12, max_epochs=30, quantiles=[0.1, 0.9], **SMALL)
    res = model.backtest(airline, windows=3, step=6)
    assert model.net is None  # the model itself is left untouched
    cutoffs = sorted(res.forecasts["cutoff"].unique())
    assert [pd.Timestamp(c) for c in cutoffs] == [pd.Timestamp(x) for x in ("1959-06-01", "1959-12-01", "1960-06-01")][:0] or len(cutoffs) == 3
    assert pd.Timestamp(cutoffs[0]) == airline.index[-12 - 12 - 1]
    assert res.fitted.tails.ds[0][-1] == pd.Timestamp(cutoffs[0])  # trained before the first origin
    assert len(res.forecasts) == 36 and (res.forecasts["y"].to_numpy() > 0).all()
    assert set(res.per_series.columns) >= {"unique_id", "mae", "rmse", "mape", "smape", "mase", "coverage"}
    assert res.mean["mase"] == pytest.approx(res.per_series["mase"].mean())
    base = SeasonalNaive(12).backtest(airline, windows=3, step=6)
    assert list(base.per_series.columns)[:6] == list(res.per_series.columns)[:6]
    with pytest.raises(InputError, match="needs at least"):
        model.backtest(airline.iloc[:40], windows=3)


def test_save_load_roundtrip_and_checks(fitted, airline, tmp_path):
    path = tmp_path / "model"
    fitted.save(path)
    fitted.save(path)  # overwriting an existing model is atomic too
    loaded = Forecaster.load(path)
    pd.testing.assert_frame_equal(loaded.predict(), fitted.predict())
    full = datasets.load("airline", long=True)
    pd.testing.assert_frame_equal(loaded.predict(full), fitted.predict(full))
    assert loaded.predict(full)["ds"].iloc[0] == pd.Timestamp("1961-01-01")

    meta = json.loads((path / "config.json").read_text())
    meta["config"]["net"]["hidden_size"] = 32
    bad = tmp_path / "bad-config"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps(meta))
    (bad / "model.safetensors").write_bytes((path / "model.safetensors").read_bytes())
    with pytest.raises(InputError, match="describes two models: hidden_size 32 in one part, 16 in another"):
        Forecaster.load(bad)
    meta["state"]["plan"]["hidden_size"] = meta["config"]["forecaster"]["hidden_size"] = 32  # consistent, but not the weights
    (bad / "config.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="weights do not fit"):
        Forecaster.load(bad)

    tensors = load_file(str(path / "model.safetensors"))
    name = next(k for k, v in tensors.items() if v.shape[0] > 1)
    tensors[name] = tensors[name][:1].clone()
    save_file(tensors, str(bad / "model.safetensors"))  # weights from another model
    (bad / "config.json").write_text((path / "config.json").read_text())
    with pytest.raises(InputError, match="truncated or corrupted"):
        Forecaster.load(bad)
    meta = json.loads((path / "config.json").read_text())
    del meta["state"]["plan"]
    (bad / "config.json").write_text(json.dumps(meta))
    (bad / "model.safetensors").write_bytes((path / "model.safetensors").read_bytes())
    with pytest.raises(InputError, match="incomplete or invalid"):
        Forecaster.load(bad)


def test_validation_split_and_early_stopping(airline):
    model = Forecaster(12, val_size=12, patience=3, max_epochs=300, lr=0.03, **SMALL).fit(airline)
    assert model.history.val and len(model.history.val) == model.epochs_run
    assert model.stopped_early and model.epochs_run < 300
    assert np.isfinite(model.predict()["y_hat"]).all()


class Interrupt(L.Callback):
    def __init__(self, at_epoch: int) -> None:
        self.at = at_epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.at:
            raise RuntimeError("simulated crash")


def test_resume_from_last_checkpoint_matches_an_uninterrupted_run(airline, tmp_path):
    # dropout 0: the resumed run draws no random numbers, so it must land where the
    # uninterrupted one does
    kw = dict(max_epochs=8, dropout=0.0, **SMALL)
    whole = Forecaster(12, **kw).fit(airline).predict()
    ckpt = tmp_path / "ckpt"
    with pytest.raises(RuntimeError, match="simulated crash"):
        Forecaster(12, checkpoint_dir=ckpt, callbacks=[Interrupt(5)], **kw).fit(airline)
    assert (ckpt / "last.ckpt").is_file()
    resumed = Forecaster(12, checkpoint_dir=ckpt, **kw).fit(airline, resume=True)
    assert resumed.epochs_run == 8
    assert len(resumed.history.train) == 8  # 5 from before the crash, 3 after
    np.testing.assert_allclose(resumed.predict()["y_hat"], whole["y_hat"], rtol=1e-4)


@pytest.mark.parametrize("cell, options", [("gru", {}), ("rnn", {}), ("lstm", {"layer_norm": True}),
                                           ("lstm", {"forget_bias": 1.0})])
def test_any_cell_and_variant(airline, cell, options):
    model = Forecaster(6, cell=cell, cell_options=options, max_epochs=2, ensemble=2, **SMALL).fit(airline)
    fc = model.predict()
    assert len(fc) == 6 and np.isfinite(fc["y_hat"]).all()
    assert len(model.net.members) == 2


def test_series_and_long_frame_give_the_same_model(airline):
    kw = dict(max_epochs=5, **SMALL)
    a = Forecaster(12, **kw).fit(airline).predict()
    b = Forecaster(12, **kw).fit(datasets.load("airline", long=True)).predict()
    pd.testing.assert_frame_equal(a, b)
