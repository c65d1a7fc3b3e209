"""Multi-process training through torch.distributed: DDP or FSDP, launched by ``torchrun``.

    torchrun --nproc_per_node 8 -m mixwise train MANIFEST --model NAME            # DDP
    torchrun --nproc_per_node 8 -m mixwise train MANIFEST --model NAME --set strategy=fsdp

Each process reads the whole manifest, builds the same sequence plan, and takes
every ``world_size``-th micro-batch of each optimizer step; the loss of a step
is normalised by the trained tokens of the *whole* step, so N processes compute
the same update as one process with the same global batch. The backend is NCCL
on GPUs and gloo on CPU (which is how CI checks two processes agree).
FSDP uses ``torch.distributed.fsdp.fully_shard`` (FSDP2) per decoder layer.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device: str | None) -> tuple[Dist, str]:
    """Join the process group when launched by torchrun; returns (Dist, device string)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if world <= 1:
        return Dist(), device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        device = f"cuda:{local}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return Dist(rank, world, local), device


def wrap(module: torch.nn.Module, layers: list[torch.nn.Module], d: Dist, strategy: str, device: str):
    """The module to run forward/backward through: itself, DDP, or FSDP2-sharded."""
    if not d.enabled:
        return module
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for layer in layers:
            fully_shard(layer)
        fully_shard(module)
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(module, device_ids=[torch.device(device).index] if device.startswith("cuda") else None)


def no_sync(wrapped, last: bool):
    """Skip gradient all-reduce on all but the last micro-batch of a step (DDP only)."""
    if last or not hasattr(wrapped, "no_sync"):
        return nullcontext()
    return wrapped.no_sync()


def all_sum(value: float, d: Dist, device: str) -> float:
    if not d.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item())


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def cleanup(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()
