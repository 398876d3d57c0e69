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

from lab.core.errors import LabError


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


def skip_dynamo_import() -> None:
    """Keep torch._dynamo unimported in runs that do not compile (~1.8 s of start-up on the dev machine).

    torch.optim wraps four Optimizer methods (add_param_group, zero_grad, state_dict,
    load_state_dict) in torch._disable_dynamo, which imports torch._dynamo on their first call to
    mark them "never trace". The wrapper caches what it calls as `fn.__dynamo_disable`; caching
    the plain method there makes the first call skip the import. Nothing is traced without
    trainer.compile, so nothing changes but the start-up; with trainer.compile the trainer does
    not call this (compiled modules never trace the optimizer either way)."""
    import sys

    if "torch._dynamo" in sys.modules:
        return
    for fn in vars(torch.optim.Optimizer).values():
        code = getattr(fn, "__code__", None)
        inner = getattr(fn, "__wrapped__", None)
        if inner is not None and code is not None and code.co_filename.endswith(os.path.join("torch", "_compile.py")):
            inner.__dynamo_disable = inner


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


# ---------------------------------------------------------------------- memory budget
class MemoryBudgetError(ValueError):
    """What a learner is about to allocate does not fit in memory; raised before it allocates it."""


GiB = 2**30


def available_memory(device: torch.device) -> int:
    """Bytes that can still be allocated: the device's free memory for cuda, else the host's
    MemAvailable (what the kernel can hand out without swapping)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def require_memory(parts: dict[str, int], device: torch.device, lower: str, *,
                   host_parts: dict[str, int] | None = None) -> None:
    """Refuse in one line when `parts` (on `device`) or `host_parts` (always in host memory) need more
    than 90% of what is available there: how much each part needs, what is free, and which keys
    (`lower`) make it smaller. Cheap to call: nothing is allocated."""
    groups = [(device, parts)] if device.type != "cpu" else [(device, {**parts, **(host_parts or {})})]
    if device.type != "cpu" and host_parts:
        groups.append((torch.device("cpu"), host_parts))
    for where, need in groups:
        total = sum(need.values())
        free = available_memory(where)
        if total > 0.9 * free:
            what = ", ".join(f"{name} {_gib(b)}" for name, b in sorted(need.items(), key=lambda kv: -kv[1]) if b)
            place = "GPU memory" if where.type == "cuda" else "memory"
            raise MemoryBudgetError(f"needs about {_gib(total)} of {place} ({what}) but {_gib(free)} is free; "
                                    f"lower {lower}")


def _gib(nbytes: float) -> str:
    return f"{nbytes / GiB:.1f} GiB" if nbytes >= 0.1 * GiB else f"{nbytes / 2**20:.0f} MiB"
