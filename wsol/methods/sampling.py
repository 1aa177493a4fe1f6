"""Random draws driven by an explicit ``torch.Generator``; nothing here touches images.

Every draw happens on the generator's device (``generator.device``) and is moved by the caller. The number of
values each function consumes from the generator depends only on its arguments (never on the values drawn), so a
method's consumption of the stream is the same whatever happens inside it.

Beta sampling
-------------
``torch.distributions.Beta`` / ``torch._standard_gamma`` do not accept a generator. :func:`sample_beta` therefore
draws **one** 63-bit integer from the torch generator and uses it to seed a ``numpy.random.Generator`` (PCG64),
whose ``beta`` sampler (exact, well tested, valid for every ``alpha, beta > 0`` including the small ``alpha`` of
Mixup) produces the values. The same torch generator state hence gives the same Beta values, and the torch stream
advances by exactly one draw per call, whatever the size.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from wsol.methods.base import check_positive

__all__ = ["sample_beta", "uniform", "randint_below", "permutation", "numpy_generator"]


def numpy_generator(generator: torch.Generator) -> np.random.Generator:
    """A ``numpy.random.Generator`` seeded by one 63-bit draw from ``generator`` (advances it by one draw)."""
    seed = torch.randint(0, 2 ** 63 - 1, (1,), generator=generator, device=generator.device, dtype=torch.int64)
    return np.random.default_rng(int(seed.item()))


def sample_beta(size: int, a: float, b: float, *, generator: torch.Generator) -> Tensor:
    """``size`` independent draws from Beta(a, b).

    Args:
        size: number of draws (>= 0).
        a, b: positive shape parameters.
        generator: torch generator; advanced by exactly one draw (see the module docstring).

    Returns:
        float64 ``(size,)`` on the CPU, values in [0, 1].
    """
    a = check_positive("a", a)
    b = check_positive("b", b)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size must be a non-negative int, got {size!r}")
    values = numpy_generator(generator).beta(a, b, size=size)
    return torch.from_numpy(np.asarray(values, dtype=np.float64))


def uniform(shape: tuple[int, ...], *, generator: torch.Generator) -> Tensor:
    """float64 uniform draws in [0, 1) on the generator's device."""
    return torch.rand(shape, generator=generator, device=generator.device, dtype=torch.float64)


def randint_below(high: Tensor | int, shape: tuple[int, ...], *, generator: torch.Generator) -> Tensor:
    """int64 draws uniform on ``{0, ..., high - 1}`` (``high`` may be a tensor broadcastable to ``shape``, >= 1).

    Uses ``floor(u * high)`` with float64 ``u`` so a per-element upper bound costs one uniform draw per element.
    """
    u = uniform(shape, generator=generator)
    high_t = torch.as_tensor(high, dtype=torch.float64, device=u.device)
    out = torch.floor(u * high_t).to(torch.int64)
    return torch.minimum(out, high_t.to(torch.int64) - 1)


def permutation(n: int, *, generator: torch.Generator) -> Tensor:
    """int64 random permutation of ``0..n-1`` on the generator's device."""
    return torch.randperm(n, generator=generator, device=generator.device)
