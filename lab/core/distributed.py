"""Data-parallel training across processes started by torchrun (``trainer.distributed=ddp``).

    torchrun --standalone --nproc-per-node=2 -m lab agent=gan data=ring8 trainer.distributed=ddp

Every process holds the same networks (same seed, same initialisation) and draws the same
global batch from the same RNG, then keeps its own 1/world share of it (``shard``). After each
backward pass the gradients are averaged across processes, which is exactly what
``torch.nn.parallel.DistributedDataParallel`` does, so every process takes the same optimizer
step and the run equals a one-process run with the same global batch (up to float summation
order). We average with ``torch.distributed.all_reduce`` rather than wrapping the modules in
DDP because DDP's reducer hooks ``backward()`` only: losses with gradient penalties take
second-order gradients through ``autograd.grad``, and learners with several phases switch
``requires_grad`` between them, which DDP supports badly (unused-parameter errors, hooks marked ready twice).

Only rank 0 writes: the run directory, checkpoints, metrics and W&B. Decisions that end the
loop (a signal, the time limit, a NaN) are agreed on collectively, so no process waits forever
on a peer that has already left.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

import torch
import torch.distributed as dist

from lab.core.errors import LabError

TORCHRUN = "torchrun --standalone --nproc-per-node=2 -m lab ... trainer.distributed=ddp"


class DataParallel:
    """This process's place in the group and the few collectives the trainer needs."""

    def __init__(self, device: torch.device) -> None:
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            raise LabError(f"trainer.distributed=ddp needs the processes torchrun starts: {TORCHRUN}")
        self.rank, self.world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        self.is_main = self.rank == 0
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        self.device = device

    def average_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Mean of every process's gradients, in one flat all-reduce (DDP's math, one bucket)."""
        self._mean_([p.grad for p in parameters if p.grad is not None])

    def average_buffers(self, modules: Iterable[torch.nn.Module]) -> None:
        """Batch-norm running statistics are per-process (as with DDP); keep them identical."""
        self._mean_([b for m in modules for b in m.buffers() if b.is_floating_point()])

    def _mean_(self, tensors: list[torch.Tensor]) -> None:
        """Replace each tensor, in place, by its mean over the processes (one all-reduce)."""
        if not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        flat /= self.world
        torch._foreach_copy_(tensors, [c.view_as(t) for c, t in zip(flat.split([t.numel() for t in tensors]), tensors)])

    def all_true(self, flag: torch.Tensor | bool) -> bool:
        value = torch.as_tensor(flag, dtype=torch.int32, device=self._comm_device).reshape(1)
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
        return bool(value.item())

    def any_true(self, flag: bool) -> bool:
        return not self.all_true(not flag)

    def mean_metrics(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Average the float metrics of all processes (every process logs the same keys)."""
        keys = sorted(k for k, v in metrics.items() if isinstance(v, float))
        if not keys:
            return metrics
        values = torch.tensor([metrics[k] for k in keys], dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(values)
        return {**metrics, **dict(zip(keys, (values / self.world).tolist()))}

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's value of a small picklable object (a path, a run directory)."""
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self._comm_device if self.device.type == "cuda" else None)
        return box[0]

    @property
    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


def shard(rank: int, world: int, size: int) -> slice:
    """This process's rows of a global batch of `size` rows."""
    if size % world:
        raise ValueError(f"the batch of {size} does not split over {world} processes")
    share = size // world
    return slice(rank * share, (rank + 1) * share)
