"""Bad input raises one ValueError that names what was expected and what was found."""

from __future__ import annotations

import pytest
import torch

import lstmkit


@pytest.fixture
def lstm():
    torch.manual_seed(0)
    return lstmkit.LSTM(4, 6, num_layers=2)


@pytest.mark.parametrize(
    "shape,match",
    [((3, 2, 4, 1), r"Expected input to be 2D or 3D, got 4D"), ((4,), r"Expected input to be 2D or 3D, got 1D")],
    ids=["rank4", "rank1"],
)
def test_wrong_rank(lstm, shape, match):
    with pytest.raises(ValueError, match=match):
        lstm(torch.randn(shape))


def test_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match=r"input_size. Expected 4, got 5"):
        lstm(torch.randn(3, 2, 5))


@pytest.mark.parametrize(
    "h_shape,c_shape,match",
    [
        ((1, 2, 6), (2, 2, 6), r"Expected h_0 size \(2, 2, 6\), got \[1, 2, 6\]"),
        ((2, 2, 6), (2, 3, 6), r"Expected c_0 size \(2, 2, 6\), got \[2, 3, 6\]"),
        ((2, 6), (2, 6), r"h_0 should also be 3-D but got 2-D"),
    ],
    ids=["layers", "batch", "rank"],
)
def test_wrong_state_shape(lstm, h_shape, c_shape, match):
    with pytest.raises(ValueError, match=match):
        lstm(torch.randn(3, 2, 4), (torch.zeros(h_shape), torch.zeros(c_shape)))


def test_unbatched_state_rank(lstm):
    with pytest.raises(ValueError, match=r"unbatched 2-D input, h_0 should also be 2-D"):
        lstm(torch.randn(3, 4), (torch.zeros(2, 1, 6), torch.zeros(2, 1, 6)))


def test_state_not_tuple(lstm):
    with pytest.raises(ValueError, match=r"hx must be a tuple \(h_0, c_0\)"):
        lstm(torch.randn(3, 2, 4), torch.zeros(2, 2, 6))


def test_dtype_mismatch(lstm):
    with pytest.raises(ValueError, match=r"parameters' dtype torch.float32, got torch.float64"):
        lstm(torch.randn(3, 2, 4, dtype=torch.float64))


def test_state_dtype_mismatch(lstm):
    h = torch.zeros(2, 2, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"h_0 must have the input's dtype torch.float32, got torch.float64"):
        lstm(torch.randn(3, 2, 4), (h, h.float()))


@pytest.mark.parametrize(
    "lengths,match",
    [
        ([3, 4], r"at most the sequence length T=3, got a length of 4"),
        ([3, 0], r"positive \(at least 1\), got a length of 0"),
        ([3, -1], r"positive \(at least 1\), got a length of -1"),
        ([3, 2, 1], r"1-D tensor of 2 sequence lengths .* got shape \(3,\)"),
        ([[3, 2]], r"1-D tensor of 2 sequence lengths .* got shape \(1, 2\)"),
    ],
    ids=["too_long", "zero", "negative", "count", "rank"],
)
def test_bad_lengths(lstm, lengths, match):
    with pytest.raises(ValueError, match=match):
        lstm(torch.randn(3, 2, 4), lengths=torch.tensor(lengths))


def test_float_lengths(lstm):
    with pytest.raises(ValueError, match=r"integer tensor, got torch.float32"):
        lstm(torch.randn(3, 2, 4), lengths=torch.tensor([3.0, 2.0]))


def test_unsorted_lengths_are_fine(lstm):
    """lengths need not be sorted (where torch's packing would need enforce_sorted=False)."""
    x = torch.randn(3, 2, 4)
    out_a, (h_a, _) = lstm(x, lengths=torch.tensor([2, 3]))
    out_b, (h_b, _) = lstm(x.flip(1), lengths=torch.tensor([3, 2]))
    torch.testing.assert_close(out_a, out_b.flip(1))
    torch.testing.assert_close(h_a, h_b.flip(1))


def test_lengths_with_packed(lstm):
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.randn(3, 2, 4), [3, 2])
    with pytest.raises(ValueError, match=r"lengths cannot be given with a PackedSequence"):
        lstm(packed, lengths=torch.tensor([3, 2]))


def test_empty_sequence(lstm):
    with pytest.raises(ValueError, match=r"at least one time step"):
        lstm(torch.randn(0, 2, 4))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(dropout=1.5), r"dropout should be a number in range \[0, 1\]"),
        (dict(proj_size=6), r"proj_size has to be smaller than hidden_size"),
        (dict(proj_size=-1), r"proj_size should be a non-negative integer"),
        (dict(num_layers=0), r"num_layers must be a positive integer, got 0"),
        (dict(backend="cudnn"), r"unknown backend 'cudnn'; expected 'auto' or one of"),
    ],
    ids=["dropout", "proj_big", "proj_neg", "layers", "backend"],
)
def test_bad_constructor(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lstmkit.LSTM(4, 6, **kwargs)


def test_proj_only_lstm():
    with pytest.raises(ValueError, match=r"proj_size argument is only supported for LSTM"):
        lstmkit.GRU(4, 6, proj_size=2)


def test_bad_nonlinearity():
    with pytest.raises(ValueError, match=r"Unknown nonlinearity 'sigmoid'"):
        lstmkit.RNN(4, 6, nonlinearity="sigmoid")


@pytest.mark.parametrize(
    "make,call,match",
    [
        (lambda: lstmkit.LSTMCell(4, 6), lambda c: c(torch.randn(2, 2, 4)), r"Expected input to be 1D or 2D, got 3D"),
        (lambda: lstmkit.LSTMCell(4, 6), lambda c: c(torch.randn(2, 5)), r"inconsistent input_size: got 5 expected 4"),
        (lambda: lstmkit.GRUCell(4, 6), lambda c: c(torch.randn(2, 4), torch.zeros(3, 6)), r"Expected hx size \(2, 6\), got \[3, 6\]"),
        (lambda: lstmkit.RNNCell(4, 6), lambda c: c(torch.randn(2, 4).double()), r"dtype torch.float32, got torch.float64"),
    ],
    ids=["cell_rank", "cell_features", "cell_state", "cell_dtype"],
)
def test_cell_errors(make, call, match):
    with pytest.raises(ValueError, match=match):
        call(make())
