"""Adam, written out: the arithmetic of ``torch.optim.Adam`` with its defaults on the CPU (the same results to the
bit, tested), as seven multi-tensor operations a step. ``torch.optim``'s optimizers import ``torch._dynamo`` the
first time they are used, 1.4 s of every training process (measured with ``benchmarks/training.py``); this one
does not. It rests on torch's private multi-tensor operations (``torch._foreach_*``), so it stays behind a switch:
:func:`make_adam` falls back to ``torch.optim.Adam`` (the same numbers) when ``PIPELINE_OPTIMIZER=torch`` or when a
torch lacks one of them."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from pipeline import settings

FOREACH_OPS = ("_foreach_lerp_", "_foreach_mul_", "_foreach_addcmul_", "_foreach_sqrt", "_foreach_div_",
               "_foreach_add_", "_foreach_addcdiv_")


class Adam:
    """Adam (Kingma & Ba) without weight decay or AMSGrad; ``zero_grad``/``step`` like a torch optimizer."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.lr, (self.beta1, self.beta2), self.eps = float(lr), betas, eps
        self.steps = 0
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients of the last step."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter from its gradient."""
        self.steps += 1
        grads = [p.grad for p in self.params if p.grad is not None]
        if len(grads) < len(self.params):
            raise ValueError("Adam.step() without a gradient for every parameter (call backward() first)")
        torch._foreach_lerp_(self.exp_avg, grads, 1 - self.beta1)
        torch._foreach_mul_(self.exp_avg_sq, self.beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, value=1 - self.beta2)
        step_size = self.lr / (1 - self.beta1 ** self.steps)
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, (1 - self.beta2 ** self.steps) ** 0.5)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(list[torch.Tensor](self.params), self.exp_avg, denom, value=-step_size)


def make_adam(params: Iterable[torch.nn.Parameter], lr: float) -> Adam | torch.optim.Adam:
    """The optimizer of a training: :class:`Adam`, or ``torch.optim.Adam`` when ``PIPELINE_OPTIMIZER`` is ``torch``
    or this torch lacks an operation :class:`Adam` uses."""
    if settings.optimizer() == "torch" or not all(hasattr(torch, name) for name in FOREACH_OPS):
        return torch.optim.Adam(params, lr=lr)
    return Adam(params, lr=lr)
