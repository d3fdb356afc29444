"""One source of defaults: ``Forecaster(...)``, ``lstmkit forecast`` and ``lstmkit forecast
benchmark`` build the same configuration when nothing is set (ForecasterConfig's)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from lstmkit.cli import build_parser
from lstmkit.forecasting import Forecaster, benchmark
from lstmkit.forecasting.cli import build_model, load_input, model_kwargs
from lstmkit.forecasting.config import QUANTILES, ForecasterConfig
from lstmkit.forecasting.frame import validate

FIELDS = [f.name for f in dataclasses.fields(ForecasterConfig)]


def cli_model(*flags):
    """The Forecaster ``lstmkit forecast FLAGS`` would train (nothing is trained)."""
    args = build_parser().parse_args(["forecast", *flags])
    series = validate(load_input(args)[0])
    model, fit = build_model(args, series)
    assert fit
    return model


def test_python_and_cli_defaults_are_identical():
    cli = cli_model().config.to_dict()  # `lstmkit forecast` with no flags (the demo, horizon 12)
    python = Forecaster(horizon=12).config.to_dict()
    config = ForecasterConfig(12).to_dict()
    assert set(cli) == set(python) == set(FIELDS)
    for name in FIELDS:
        assert cli[name] == python[name] == config[name], (name, cli[name], python[name], config[name])
    assert python["quantiles"] == list(QUANTILES) == [0.1, 0.9]  # the default that wins (config.py)


def test_forecaster_signature_takes_every_default_from_the_config():
    params = inspect.signature(Forecaster.__init__).parameters
    base = ForecasterConfig(1)
    for name in FIELDS[1:]:  # all but the horizon, which has no default
        assert params[name].default is not inspect.Parameter.empty, name
        from_signature = ForecasterConfig(1, **{name: params[name].default})
        assert getattr(from_signature, name) == getattr(base, name), name


def test_benchmark_uses_the_same_defaults():
    args = build_parser().parse_args(["forecast", "benchmark"])
    assert model_kwargs(args) == {}  # no flag given: nothing overrides the defaults
    assert inspect.signature(benchmark.run).parameters["quantiles"].default == QUANTILES
    fitted = benchmark.forecaster(18, 12, seed=2).config.to_dict()
    expected = ForecasterConfig(18, season_length=12, seed=2).to_dict()
    assert fitted == expected


def test_flags_reach_the_config_and_quantiles_can_be_turned_off():
    assert cli_model("--quantiles", "").config.quantiles == []
    assert Forecaster(12, quantiles=[]).quantiles == [] == Forecaster(12, quantiles=None).quantiles
    cfg = cli_model("--quantiles", "0.05,0.95", "--cell", "gru", "--ensemble", "2", "--lookback", "24",
                    "--damping", "0.9", "--seed", "3", "--recent-windows", "4",
                    "--weight-decay", "0.001").config
    assert (cfg.quantiles, cfg.cell, cfg.ensemble, cfg.lookback, cfg.damping, cfg.seed, cfg.recent_windows,
            cfg.weight_decay) == ([0.05, 0.95], "gru", 2, 24, 0.9, 3, 4, 0.001)


def test_benchmark_refuses_a_season_length(capsys):
    from lstmkit.cli import main

    assert main(["forecast", "benchmark", "--dataset", "airline", "--season-length", "4"]) == 2
    assert "season length" in capsys.readouterr().err


@pytest.mark.parametrize("text, expected", [("", []), ("0.9,0.1", [0.1, 0.9])])
def test_cli_quantiles_text(text, expected):
    args = build_parser().parse_args(["forecast", "--quantiles", text])
    assert ForecasterConfig(3, **model_kwargs(args)).quantiles == expected
