"""Small helpers over ``torch.distributed`` for data-parallel training and split estimators.

pgmdbn never launches processes: ``torchrun`` (or any launcher) starts them, and the process
group is initialised by the caller (``torch.distributed.init_process_group``) or by ``init()``,
which reads torchrun's environment variables. Every helper works without a process group, as one
process of world size 1, and then does nothing: the single-process path is unchanged.
"""
from __future__ import annotations

import os

import torch
from torch import Tensor

from .errors import ArgumentError

ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")  # what torchrun sets for every process


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher setting its variables)."""
    return all(name in os.environ for name in ENV)


def init(backend: str | None = None) -> bool:
    """Initialise the default process group from torchrun's environment variables, once.

    ``backend`` defaults to "nccl" when CUDA is available and "gloo" otherwise; with NCCL the
    process's device is ``cuda:LOCAL_RANK``. Returns whether a process group is now active (False
    when the variables are absent: a plain single process)."""
    if is_active():
        return True
    if not launched():
        return False
    import torch.distributed as dist

    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)
    return True


def shutdown() -> None:
    """Wait for every rank, then destroy the default process group (if one is active): a rank
    that exits while another still holds the group's connections can abort it at exit."""
    if is_active():
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()


def is_active() -> bool:
    """Whether a default process group is initialised."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (0 without a process group)."""
    import torch.distributed as dist

    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    import torch.distributed as dist

    return dist.get_world_size() if is_active() else 1


def is_main() -> bool:
    """Whether this is rank 0, the process that writes files and shows progress."""
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist

        dist.barrier()


def shard(n: int, parts: int | None = None, index: int | None = None) -> slice:
    """The contiguous rows of ``n`` that rank ``index`` of ``parts`` takes (default: this rank of
    the world): the first ``n % parts`` ranks take one row more than the others."""
    parts = world_size() if parts is None else parts
    index = rank() if index is None else index
    size, extra = divmod(n, parts)
    start = index * size + min(index, extra)
    return slice(start, start + size + (index < extra))


def owns(index: int) -> bool:
    """Whether this rank takes work item ``index``: items are dealt round-robin, rank r taking
    r, r + world, … (every item on a single process)."""
    return index % world_size() == rank()


def gather_items(mine: dict, device=None) -> list[Tensor]:
    """The items every rank computed ({index: tensor} from ``owns``), merged in index order on
    every rank (on ``device``): the list one process would have built alone."""
    if world_size() > 1:
        mine = {i: t for part in gather_objects(mine) for i, t in part.items()}
    return [mine[i].to(device) if device is not None else mine[i] for i in sorted(mine)]


def _group_device():
    import torch.distributed as dist

    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce_sum(x: Tensor) -> Tensor:
    """The sum of ``x`` over ranks (a new tensor on ``x``'s device; ``x`` itself without a group)."""
    if world_size() == 1:
        return x
    import torch.distributed as dist

    out = x.detach().to(_group_device(), copy=True)
    dist.all_reduce(out)
    return out.to(x.device)


def average_gradients(params, rows: int, loss: Tensor | None = None) -> Tensor | None:
    """Make every parameter's gradient the row-weighted mean over ranks of the ranks' gradients
    (each of the mean loss over its ``rows`` rows), so the step equals one process's on the global
    batch; a rank with no rows contributes nothing. One flat all-reduce. Returns ``loss`` averaged
    the same way (the global batch's mean loss)."""
    params = [p for p in params if p.requires_grad]
    if world_size() == 1:
        return loss
    like = params[0]
    flat = [(p.grad if p.grad is not None and rows else torch.zeros_like(p)).reshape(-1) * rows for p in params]
    value = loss.detach().reshape(1).to(like) * rows if loss is not None and rows else torch.zeros(1).to(like)
    summed = all_reduce_sum(torch.cat([*flat, value, torch.tensor([float(rows)]).to(like)]))
    total = max(summed[-1].item(), 1.0)
    offset = 0
    for p in params:
        part = (summed[offset:offset + p.numel()] / total).view_as(p)
        offset += p.numel()
        if p.grad is None:
            p.grad = part.clone()
        else:
            p.grad.copy_(part)
    return None if loss is None else (summed[offset] / total).to(loss.dtype)


def broadcast_module(module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers into every rank's ``module`` (as DDP does at
    the start), so all ranks step from the same state."""
    if world_size() == 1:
        return
    import torch.distributed as dist

    with torch.no_grad():
        for t in module.state_dict().values():
            if isinstance(t, Tensor) and t.is_floating_point():
                buf = t.detach().to(_group_device(), copy=True)
                dist.broadcast(buf, src)
                t.copy_(buf.to(t.device))


def gather_objects(value) -> list:
    """Every rank's ``value`` (picklable; tensors travel on the CPU), in rank order, on every rank."""
    if world_size() == 1:
        return [value]
    import torch.distributed as dist

    out = [None] * world_size()
    dist.all_gather_object(out, _to_cpu(value))
    return out


def broadcast_object(value, src: int = 0):
    """Rank ``src``'s ``value`` on every rank."""
    if world_size() == 1:
        return value
    import torch.distributed as dist

    box = [_to_cpu(value)]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather_cat(x: Tensor, dim: int = 0) -> Tensor:
    """The ranks' tensors (sizes may differ along ``dim``) concatenated in rank order, on every rank."""
    if world_size() == 1:
        return x
    return torch.cat([part.to(x.device) for part in gather_objects(x)], dim)


def block_seed(seed: int, block: int) -> int:
    """The seed of block ``block`` of chains or samples: ``seed`` itself for block 0 (so one block
    is the single-process run), a distinct stream for every other block."""
    return seed if block == 0 else (seed * 1_000_003 + 0x9E3779B97F4A7C15 * block) % 2 ** 63


def check_world_size(saved: int | None, what: str) -> None:
    """Refuse to resume a checkpoint written at another world size."""
    if saved is not None and int(saved) != world_size():
        raise ArgumentError(f"{what} was written by a run of {int(saved)} process(es); this run has {world_size()}. "
                            f"Resume at the same world size (torchrun --nproc_per_node={int(saved)}, or "
                            f"{int(saved)} processes in all): the persistent chains and random streams are per rank")


def _to_cpu(value):
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value
