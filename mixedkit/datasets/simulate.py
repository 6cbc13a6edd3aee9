"""Simulated long-format data from parameters a teacher thinks in."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..arguments import check_positive_int
from ..errors import InputValueError

__all__ = ["simulate_lmm"]


def simulate_lmm(n_groups: int, n_per_group: int, *, icc: float = 0.3, slope_sd: float = 0.0,
                 effects: dict[str, float] | None = None, intercept: float = 0.0,
                 sigma: float = 1.0, treatment_effect: float | None = None,
                 seed=None) -> pd.DataFrame:
    """Simulate data from a linear mixed model with a random intercept (and slope).

    The generative model, for observation i of group j::

        y_ij = intercept + delta * t_j + sum_k effects[k] * x_kij + u_0j + u_1j * x_1ij + e_ij
        x_kij ~ N(0, 1)                 independent predictors, one column per effect
        u_0j  ~ N(0, tau^2),  tau^2 = sigma^2 * icc / (1 - icc)
        u_1j  ~ N(0, slope_sd^2)        random slope of the first effect (if slope_sd > 0)
        e_ij  ~ N(0, sigma^2)
        t_j   = 0, 1, 0, 1, ...         a treatment arm constant within groups (only with
                                        ``treatment_effect=delta``: a cluster-randomised trial)

    u_0 and u_1 are independent, so ``icc`` is the intraclass correlation at x = 0:
    tau^2 / (tau^2 + sigma^2).

    Parameters
    ----------
    n_groups, n_per_group : int
        Number of groups and rows per group (balanced).
    icc : float, default 0.3
        Intraclass correlation of the random intercept, in [0, 1).
    slope_sd : float, default 0
        SD of the random slope of the first effect (0: no random slope).
    effects : dict, optional
        Predictor name -> fixed effect; default ``{"x": 0.5}``.
    intercept, sigma : float
        Fixed intercept and residual SD.
    treatment_effect : float, optional
        Adds a column ``treatment`` (0/1, alternating over groups, so the arms are
        balanced when ``n_groups`` is even) with this effect: a two-arm
        cluster-randomised trial. With ``effects={}`` it is the only predictor.
    seed : int or numpy Generator, optional

    Returns
    -------
    DataFrame
        Columns ``group`` (text labels ``g001``, ...), ``treatment`` (with
        ``treatment_effect``), one column per effect, ``y``.
        ``.attrs["truth"]`` holds the parameters (intercept, effects, tau, slope_sd,
        sigma, icc) and ``.attrs["formula"]`` the matching mixedkit formula.

    The frame can stand in for a pilot study in :func:`~mixedkit.power_lmm`: the power
    is then computed at the parameters in ``.attrs["truth"]``.

    Notes
    -----
    Validated by recovery: fitting the formula in ``.attrs["formula"]`` to simulated
    data puts the true ICC and fixed effects inside their intervals at close to the
    nominal rate (tests/test_simulate.py).
    """
    n_groups = check_positive_int(n_groups, "n_groups")
    n_per_group = check_positive_int(n_per_group, "n_per_group")
    if not 0 <= icc < 1:
        raise InputValueError(f"icc must be in [0, 1); got {icc!r}")
    if slope_sd < 0 or sigma <= 0:
        raise InputValueError(f"slope_sd must be >= 0 and sigma > 0; got {slope_sd!r}, {sigma!r}")
    effects = {"x": 0.5} if effects is None else dict(effects)
    if not effects and slope_sd > 0:
        raise InputValueError("slope_sd > 0 needs at least one effect to carry the slope")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n = n_groups * n_per_group
    width = len(str(n_groups))
    group = np.repeat(np.arange(n_groups), n_per_group)
    tau = sigma * np.sqrt(icc / (1 - icc))
    data = {"group": np.array([f"g{j + 1:0{width}d}" for j in group])}
    y = intercept + rng.normal(0, tau, n_groups)[group] + rng.normal(0, sigma, n)
    if treatment_effect is not None:
        if not np.isfinite(treatment_effect):
            raise InputValueError(f"treatment_effect must be a finite number; got "
                                  f"{treatment_effect!r}")
        arm = group % 2
        data["treatment"] = arm
        y += float(treatment_effect) * arm
    for k, (name, beta) in enumerate(effects.items()):
        x = rng.normal(size=n)
        data[name] = x
        y += beta * x
        if k == 0 and slope_sd > 0:
            y += rng.normal(0, slope_sd, n_groups)[group] * x
    data["y"] = y
    frame = pd.DataFrame(data)
    first = next(iter(effects), None)
    rhs = " + ".join((["treatment"] if treatment_effect is not None else []) + list(effects)) \
        or "1"
    random = f"({first} | group)" if slope_sd > 0 else "(1 | group)"
    frame.attrs["formula"] = f"y ~ {rhs} + {random}"
    frame.attrs["truth"] = {
        "intercept": float(intercept), "effects": {k: float(v) for k, v in effects.items()},
        "tau": float(tau), "slope_sd": float(slope_sd), "sigma": float(sigma),
        "icc": float(icc),
        "treatment_effect": None if treatment_effect is None else float(treatment_effect)}
    return frame
