"""Optional numba JIT: the game kernels are plain Python loops compiled with numba.

Numba is what makes the game fast (one compiled loop over a batch of games steps
hundreds of thousands of frames per second on one core). Without numba the same
code runs as ordinary Python: correct and deterministic, but ~1000x slower, which
is handy for debugging (`NUMBA_DISABLE_JIT=1` does the same).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

try:
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None
    HAVE_NUMBA = False


def njit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`numba.njit(cache=True)` when numba is installed, else the plain function."""
    if HAVE_NUMBA:
        # cache=True writes the compiled code next to the source (__pycache__),
        # so only the first import on a machine pays the ~10 s compile.
        return numba.njit(cache=True, nogil=True)(fn)
    warnings.warn("numba is not installed: the Mario game runs as slow pure Python", stacklevel=2)
    return fn
