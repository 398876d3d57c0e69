"""Where and how tensors run: device choice, seeding, threads, mixed precision, RNG state.

Shared by every learner through the trainer; nothing here knows an algorithm.
"""

from __future__ import annotations

import contextlib
import os
import random
from typing import Any

import numpy as np
import torch

from lab.errors import LabError


def select_device(name: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an explicit device that is absent is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise LabError("trainer.device=cuda but CUDA is not available here; use trainer.device=auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise LabError("trainer.device=mps but MPS is not available here; use trainer.device=auto or cpu")
    return torch.device(name)


def configure(seed: int, threads: int, deterministic: bool) -> None:
    """Seed python/numpy/torch and set the CPU thread count (before any network is built)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if threads > 0:
        # Small networks are bound by per-op overhead: 1 thread avoids contention on few cores.
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)


_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Mixed-precision context for forward passes; a no-op at full precision."""
    if precision == "32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type == "cpu":
        raise LabError("trainer.precision=fp16 needs a GPU; use trainer.precision=bf16 on CPU")
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler | None:
    """fp16 needs loss scaling to keep small gradients from underflowing; bf16 does not."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


def rng_state() -> dict[str, Any]:
    """All global RNG states, as types `torch.load(weights_only=True)` accepts."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": _to_safe(random.getstate()),
        "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "gauss": float(np_state["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_from_safe(state["python"]))
    np_state = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
                         "has_gauss": np_state["has_gauss"], "gauss": np_state["gauss"]})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_safe(obj: Any) -> Any:
    # python's random state is (version, tuple of 625 ints, gauss); tuples -> lists keep it loadable.
    if isinstance(obj, tuple):
        return [_to_safe(x) for x in obj]
    return obj


def _from_safe(obj: Any) -> Any:
    if isinstance(obj, list):
        return tuple(_from_safe(x) for x in obj)
    return obj
