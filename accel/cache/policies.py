"""Decision rules of the step-caching policies (state lives here, hooks in ``engine.py``)."""

from __future__ import annotations

import torch

from .config import FBCacheConfig, SenCacheConfig, TeaCacheConfig


def rel_l1(new: torch.Tensor, ref: torch.Tensor) -> float:
    """``mean|new - ref| / mean|ref|`` in float32 (0 when both are zero)."""
    den = ref.float().abs().mean()
    num = (new.float() - ref.float()).abs().mean()
    return float(num / den) if float(den) > 0 else float(num > 0) * float("inf")


def tensors_in(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """Tensor arguments of a block call, positional first, then keywords in order."""
    out = [a for a in args if isinstance(a, torch.Tensor)]
    out += [v for v in kwargs.values() if isinstance(v, torch.Tensor)]
    return out


class FBCachePolicy:
    """First-block residual change against the last computed step."""

    full_skip = False

    def __init__(self, config: FBCacheConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self.ref_residual: torch.Tensor | None = None
        self.pending: torch.Tensor | None = None

    def after_first(self, residual: torch.Tensor, can_reuse: bool) -> tuple[bool, float]:
        """Decide from block 0's residual; returns (reuse, predicted error)."""
        self.pending = residual
        if self.ref_residual is None or self.ref_residual.shape != residual.shape:
            return False, float("nan")
        change = rel_l1(residual, self.ref_residual)
        return can_reuse and change < self.config.threshold, change

    def computed(self, **_: object) -> None:
        self.ref_residual = self.pending


class TeaCachePolicy:
    """Accumulated, rescaled change of the modulated input of block 0."""

    full_skip = True

    def __init__(self, config: TeaCacheConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self.prev: list[torch.Tensor] | None = None
        self.accumulated = 0.0

    def _indicator(self, block0, args, kwargs) -> list[torch.Tensor]:
        if self.config.indicator is not None:
            ind = self.config.indicator(block0, args, kwargs)
            return [ind] if isinstance(ind, torch.Tensor) else list(ind)
        if hasattr(block0, "modulated_input"):
            with torch.no_grad():
                return [block0.modulated_input(*args, **kwargs)]
        return tensors_in(args, kwargs)

    def before(self, block0, args, kwargs, x, cond, can_reuse: bool) -> tuple[bool, float]:
        cur = [t.detach() for t in self._indicator(block0, args, kwargs)]
        prev, self.prev = self.prev, cur
        if prev is None or [p.shape for p in prev] != [c.shape for c in cur]:
            self.accumulated = 0.0
            return False, float("nan")
        change = sum(rel_l1(c, p) for c, p in zip(cur, prev))
        if self.config.coefficients is not None:
            change = float(sum(c * change**i for i, c in enumerate(reversed(self.config.coefficients))))
            change = max(change, 0.0)
        self.accumulated += change
        if can_reuse and self.accumulated < self.config.threshold:
            return True, self.accumulated
        return False, self.accumulated

    def computed(self, **_: object) -> None:
        self.accumulated = 0.0


class SenCachePolicy:
    """Predicted output change = s_x * latent change + s_c * conditioning change (fitted online)."""

    full_skip = True

    def __init__(self, config: SenCacheConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self.ref_x: torch.Tensor | None = None
        self.ref_c: list[torch.Tensor] = []
        self.ref_residual: torch.Tensor | None = None
        self.obs: list[tuple[float, float, float]] = []
        self.cur: tuple[float, float] | None = None

    def _changes(self, x: torch.Tensor, cond: list[torch.Tensor]) -> tuple[float, float]:
        dx = rel_l1(x, self.ref_x)
        dc = sum(rel_l1(c, r) for c, r in zip(cond, self.ref_c)) if len(cond) == len(self.ref_c) else 0.0
        return dx, dc

    def sensitivities(self) -> tuple[float, float]:
        """Current (s_x, s_c) fit; non-negative least squares with two unknowns."""
        obs = self.obs[-self.config.history :]
        a = torch.tensor([[o[0], o[1]] for o in obs], dtype=torch.float64)
        y = torch.tensor([o[2] for o in obs], dtype=torch.float64)
        best = (float("inf"), 0.0, 0.0)
        # NNLS in 2-D: the optimum is the free LS solution if non-negative, else on an axis.
        candidates = []
        if len(obs) >= 2:
            sol = torch.linalg.lstsq(a, y[:, None]).solution[:, 0]
            candidates.append((float(sol[0]), float(sol[1])))
        for j in (0, 1):
            den = float((a[:, j] ** 2).sum())
            if den > 0:
                s = float((a[:, j] * y).sum()) / den
                candidates.append((s, 0.0) if j == 0 else (0.0, s))
        for sx, sc in candidates:
            if sx < 0 or sc < 0:
                continue
            err = float(((a @ torch.tensor([sx, sc], dtype=torch.float64) - y) ** 2).sum())
            if err < best[0]:
                best = (err, sx, sc)
        return best[1], best[2]

    def before(self, block0, args, kwargs, x: torch.Tensor, cond: list[torch.Tensor], can_reuse: bool) -> tuple[bool, float]:
        if self.ref_x is None or self.ref_x.shape != x.shape:
            self.cur = None
            return False, float("nan")
        dx, dc = self._changes(x, cond)
        self.cur = (dx, dc)
        if not self.obs:
            return False, float("nan")
        sx, sc = self.sensitivities()
        predicted = sx * dx + sc * dc
        return can_reuse and predicted < self.config.budget, predicted

    def computed(self, *, x: torch.Tensor, cond: list[torch.Tensor], residual: torch.Tensor, **_: object) -> None:
        if self.cur is not None and self.ref_residual is not None and self.ref_residual.shape == residual.shape:
            dx, dc = self.cur
            self.obs.append((dx, dc, rel_l1(residual, self.ref_residual)))
            self.obs = self.obs[-self.config.history :]
        self.ref_x = x.detach()
        self.ref_c = [c.detach() for c in cond]
        self.ref_residual = residual.detach()


POLICIES = {FBCacheConfig: FBCachePolicy, TeaCacheConfig: TeaCachePolicy, SenCacheConfig: SenCachePolicy}
