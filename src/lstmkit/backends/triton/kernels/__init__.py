"""The Triton kernels: ``forward`` and ``backward`` time loops, ``cells`` pointwise gate
math, ``common`` tiles, matmul, barrier and statistics helpers. Importing imports triton."""
