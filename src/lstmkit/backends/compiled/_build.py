"""Building and loading the C++ extension (torch.utils.cpp_extension, JIT, with ninja).

The build is cached outside the repository, in ``$LSTMKIT_CACHE`` or
``~/.cache/lstmkit/compiled`` (``$XDG_CACHE_HOME`` is honoured), in a directory named by torch's
and Python's versions, the CPU's vector extension and the flags (so an upgrade or
another machine gets its own build); a stamp holds the hash of the sources, so a built
extension whose sources are unchanged is imported directly (no ninja call), and an edit
rebuilds only what changed. Concurrent first builds
wait on cpp_extension's lock file. ``LSTMKIT_COMPILED=0`` turns the backend off;
``LSTMKIT_VECTOR_WIDTH=512`` builds 512-bit code on an AVX-512 CPU (:func:`vector_flags`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import shutil
import sys
import sysconfig
import time
from pathlib import Path
from types import ModuleType

import torch

CSRC = Path(__file__).parent / "csrc"
SOURCES = ("direction.cpp", "step.cpp", "buffers.cpp", "projection.cpp", "module.cpp")
HEADERS = ("kernels.h", "smallgemm.h", "cells.h", "recurrence.h", "backward.h", "direction.h", "buffers.h",
           "projection.h")

_module: ModuleType | None = None
_reason: str | None = None
_tried = False


def cache_root() -> Path:
    """Where built extensions are cached (``LSTMKIT_CACHE`` or the user's cache folder)."""
    env = os.environ.get("LSTMKIT_CACHE")
    if env:
        return Path(env).expanduser() / "compiled"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lstmkit" / "compiled"


def vector_flags() -> list[str]:
    """The vector extension both C++ extensions (this one and the sLSTM's) are built for:
    the one torch's own kernels use on this CPU (the loops are written for the compiler
    to vectorise), in 256-bit vectors. ``LSTMKIT_VECTOR_WIDTH=512`` builds 512-bit code
    on a CPU with AVX-512: on an AMD EPYC (GCC 12) 0.79x to 1.04x the time of the 256-bit
    build (median 0.96x, 48 rows) where H is a multiple of 16, but 1.04x to 1.22x for
    the LSTM and GRU at H = 20, where the last H mod 16 elements of every row pass run
    scalar (python benchmarks/vector_width.py; report
    benchmarks/reports/2026-12-05-vector-width.md), so it is not the default."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return []
    cap = torch.backends.cpu.get_cpu_capability()
    flags = ["-mavx2", "-mfma", "-mf16c"] if cap in ("AVX2", "AVX512") else []
    if cap == "AVX512" and os.environ.get("LSTMKIT_VECTOR_WIDTH", "").strip() == "512":
        flags += ["-mavx512f", "-mavx512vl", "-mavx512dq", "-mavx512bw", "-mprefer-vector-width=512"]
    return flags


def _flags() -> tuple[list[str], list[str]]:
    """C++ and linker flags: -O3 with :func:`vector_flags`, OpenMP for at::parallel_for."""
    cflags = ["-O3", "-DNDEBUG", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-Wno-unused-function"]
    return cflags + vector_flags(), ["-fopenmp"]


def _platform_dir() -> str:
    """One build directory per torch, Python, CPU extension and flags: ninja rebuilds
    only what changed inside it."""
    cflags, ldflags = _flags()
    h = hashlib.sha256(" ".join(cflags + ldflags).encode()).hexdigest()[:8]
    py = "".join(map(str, sys.version_info[:2]))
    cap = torch.backends.cpu.get_cpu_capability().lower()
    return f"torch{torch.__version__.replace('+', '-')}-py{py}-{platform.machine()}-{cap}-{h}"


def _source_hash() -> str:
    h = hashlib.sha256()
    for name in SOURCES + HEADERS:
        h.update(name.encode())
        h.update((CSRC / name).read_bytes())
    return h.hexdigest()


def _precheck() -> str | None:
    """Why a build cannot even start, or None."""
    if os.environ.get("LSTMKIT_COMPILED", "1").strip().lower() in ("0", "no", "off", "false"):
        return "turned off by LSTMKIT_COMPILED=0"
    from torch.utils import cpp_extension

    cxx = cpp_extension.get_cxx_compiler()
    if shutil.which(cxx) is None:
        return f"no C++ compiler: {cxx!r} is not on PATH (install g++, or set CXX)"
    if not cpp_extension.is_ninja_available():
        return "ninja is not installed (pip install ninja, or lstmkit's 'compiled' extra)"
    include = sysconfig.get_paths().get("include", "")
    if not (Path(include) / "Python.h").exists():
        return f"Python's C headers are missing (no Python.h in {include}; install python3-dev)"
    return None


def _import(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compile(verbose: bool) -> ModuleType:
    from torch.utils import cpp_extension

    name = "lstmkit_compiled"
    build_dir = cache_root() / _platform_dir()
    built, stamp = build_dir / f"{name}.so", build_dir / "sources.sha256"
    digest = _source_hash()
    if built.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return _import(name, built)
    build_dir.mkdir(parents=True, exist_ok=True)
    print(f"lstmkit: building the compiled CPU recurrence (once; about a minute) in {build_dir} ...",
          file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    cflags, ldflags = _flags()
    module = cpp_extension.load(
        name=name,
        sources=[str(CSRC / s) for s in SOURCES],
        extra_cflags=cflags,
        extra_ldflags=ldflags,
        build_directory=str(build_dir),
        verbose=verbose,
    )
    stamp.write_text(digest)
    print(f"lstmkit: compiled recurrence built in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr, flush=True)
    return module


def _summary(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    lines = [ln for ln in text.splitlines() if ln.strip()]
    errors = [ln.strip() for ln in lines if "error:" in ln.lower() or "not found" in ln.lower()]
    return f"the C++ build failed: {(errors or lines)[0][:300]}"


def load(verbose: bool = False) -> ModuleType | None:
    """The extension module, building it if needed; None (with :func:`reason` set) when it
    cannot be built or loaded. Tried once per process."""
    global _module, _reason, _tried
    if _tried:
        return _module
    _tried = True
    _reason = _precheck()
    if _reason is None:
        try:
            _module = _compile(verbose)
        except Exception as err:  # a failed build is reported through reason(), not raised
            _reason = _summary(err)
    return _module


@torch.compiler.assume_constant_result
def reason() -> str | None:
    """Why the extension is not available (after :func:`load`), or None. Under
    ``torch.compile`` dynamo runs it once while tracing and keeps the answer as a
    constant (the build cannot be traced, and may be the first thing a compiled model
    touches)."""
    load()
    return _reason


def reset() -> None:
    """Forget the outcome of the last attempt (tests; after installing a compiler)."""
    global _module, _reason, _tried
    _module, _reason, _tried = None, None, False
