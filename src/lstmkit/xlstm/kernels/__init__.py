"""Triton kernels of the sLSTM and mLSTM recurrences (imported only when they run: they import
triton). :mod:`lstmkit.xlstm.slstm_triton` and :mod:`lstmkit.xlstm.mlstm_triton` launch them."""
