"""The long-time-lag problems: the data each one draws and how each one is scored."""

from __future__ import annotations

import pytest
import torch

from lstmkit.errors import InputError
from lstmkit.experiments import Adding, Copy, TemporalOrder, make_problem


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("T", [22, 100, 1000])
def test_adding_marks_two_values_in_their_windows(T):
    p = Adding(T)
    x, y = p.sample(256, gen())
    assert x.shape == (T, 256, 2) and y.shape == (256, 1)
    values, markers = x[..., 0], x[..., 1]
    assert values.min() >= -1 and values.max() <= 1
    assert torch.equal(markers.sum(0), torch.full((256,), 2.0))
    for b in range(256):
        first, second = torch.nonzero(markers[:, b]).flatten().tolist()
        assert first < 10 <= second < T // 2
        expected = 0.5 + (values[first, b] + values[second, b]) / 4
        assert torch.isclose(y[b, 0], expected)
        assert p.relevant_steps(x[:, b]) == [first, second]


def test_adding_criterion_is_the_1997_tolerance():
    p = Adding(100)
    target = torch.tensor([[0.5], [0.5], [0.5]])
    pred = torch.tensor([[0.5], [0.539], [0.541]])
    assert p.correct(pred, target).tolist() == [True, True, False]
    assert p.solve_fraction == 0.99


@pytest.mark.parametrize("T", [10, 100, 500])
def test_temporal_order_hides_two_symbols_in_distractors(T):
    p = TemporalOrder(T)
    x, y = p.sample(200, gen(1))
    assert x.shape == (T, 200, 8) and y.shape == (200,)
    sym = x.argmax(-1)  # a b c d B E X Y -> 0..7
    assert torch.equal(x.sum(-1), torch.ones(T, 200))  # one-hot
    assert (sym[0] == 4).all() and (sym[-1] == 5).all()
    for b in range(200):
        where = torch.nonzero(sym[:, b] >= 6).flatten().tolist()
        assert len(where) == 2
        t1, t2 = where
        assert max(1, T // 10) <= t1 < T // 2 <= t2 <= T - 2
        order = (sym[t1, b] - 6) * 2 + (sym[t2, b] - 6)
        assert order == y[b]
        assert (sym[1:-1, b][sym[1:-1, b] < 6] < 4).all()  # the rest are distractors
    assert set(y.tolist()) == {0, 1, 2, 3}


def test_copy_layout_and_targets():
    p = Copy(20, symbols=5, alphabet=8)
    x, y = p.sample(64, gen(2))
    assert p.total_length == 30 and x.shape == (30, 64, 10) and y.shape == (64, 5)
    sym = x.argmax(-1)
    assert torch.equal(sym[:5].t(), y)
    # 5 symbols | 19 blanks | delimiter (the lag T=20 ends there) | 5 answer slots
    assert (sym[5:24] == 8).all() and (sym[24] == 9).all() and (sym[25:] == 8).all()
    logits = torch.nn.functional.one_hot(y, 8).float() * 10
    assert p.correct(logits, y).all()
    logits[0, 4] = logits[0, 4].roll(1)  # one wrong symbol fails the whole sequence
    assert p.correct(logits, y).tolist() == [False] + [True] * 63


def test_same_seed_same_data():
    for name in ("adding", "temporal_order", "copy"):
        p = make_problem(name, 30)
        a, b = p.sample(8, gen(5)), p.sample(8, gen(5))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize(
    "name,length,match",
    [
        ("adding", 10, "at least 22"),
        ("temporal_order", 3, "at least 10"),
        ("copy", 0, "at least 1"),
        ("dyck", 100, "unknown task 'dyck'"),
        ("adding", 50.5, "integer"),
    ],
)
def test_bad_problem_settings_name_what_was_expected(name, length, match):
    with pytest.raises(InputError, match=match):
        make_problem(name, length)


def test_bad_problem_option():
    with pytest.raises(InputError, match="bad task option"):
        make_problem("copy", 10, colours=3)


@pytest.mark.parametrize("name, options, match", [
    ("copy", {"symbols": "nan"}, "expected the task option symbols as a whole number, found 'nan'"),
    ("copy", {"alphabet": 2.5}, "alphabet as a whole number, found 2.5"),
    ("copy", {"symbols": True}, "symbols as a whole number, found True"),
    ("adding", {"tolerance": float("inf")}, "tolerance as a finite number, found inf"),
    ("adding", {"tolerance": "x"}, "tolerance as a finite number, found 'x'"),
])
def test_option_values_of_the_wrong_kind_are_named(name, options, match):
    """`--task-option symbols=nan` reached the problem's range check as a string."""
    with pytest.raises(InputError, match=match):
        make_problem(name, 10, **options)
    assert make_problem("adding", 30, tolerance=1).tolerance == 1  # an int where a float goes
