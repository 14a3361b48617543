"""Multi-process training under ``torchrun``: process group set-up and the few collectives the trainer
needs.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "all_reduce_sum", "broadcast_object", "cleanup", "setup"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: torch.device) -> DistInfo:
    """Join the process group ``torchrun`` describes in the environment (gloo on CPU, nccl on CUDA).

    Without ``WORLD_SIZE`` > 1 in the environment this is a single-process run and nothing is initialised.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def cleanup(*, synchronize: bool = True) -> None:
    """Leave the process group: wait for every rank (``synchronize``), then destroy it.

    The collector runs first so DDP's reducer, which sits in reference cycles, releases its gloo work
    objects while the interpreter is fully alive: left to interpreter shutdown they can abort the process
    ("terminate called without an active exception"). Pass ``synchronize=False`` on an error path, where the
    other ranks may never arrive at the barrier.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    gc.collect()
    if synchronize:
        dist.barrier()
    dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank (e.g. the run folder name)."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
