"""Shared helpers for the inference tests: lmerTest/emmeans reference values and fits
evaluated at lme4's optimum.

The reference files are tests/reference/inference/*.json (format in its README).
Comparing at lme4's own variance parameters removes the optimiser's differences
(lme4's nloptwrap stops a little short on dietox), so what is tested is the
inference itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import load_reference_data

import mixedkit as mk
from mixedkit.arguments import InferenceOptions
from mixedkit.model.estimation import std_theta
from mixedkit.model.state import FitState
from mixedkit.results import LmmFit

INFERENCE = Path(__file__).parent / "reference" / "inference"

# R formula -> the same model in mixedkit's syntax (factor(x) is C(x) in patsy)
MODELS = {
    "dietox_fac": ("Weight ~ Time + C(Evit) + C(Cu) + (Time | Pig)", "dietox"),
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    "penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin"),
    "pastes": ("strength ~ 1 + (1 | batch/cask)", "Pastes"),
    # designs made for mixedkit (make_inference_reference.R, README_extra.md)
    "ergostool": ("effort ~ Type + (1 | Subject)", "ergostool"),
    "splitplot": ("yield ~ nitro_f * Variety + (1 | Block/Variety)", "splitplot"),
    "interaction_cov": ("y ~ A * B + x + (1 | subject)", "interaction_cov"),
    "empty_cell_additive": ("y ~ A + B + (1 | g)", "empty_cell"),
    "random_slope_factor": ("y ~ group * time + (time | subject)", "random_slope_factor"),
}
EXTRA = ["ergostool", "splitplot", "interaction_cov", "empty_cell_additive",
         "random_slope_factor"]


def load_data(name: str) -> pd.DataFrame:
    """Reference data; the extra designs' factors as Categoricals in R's level order."""
    levels = json.loads((INFERENCE / "levels_extra.json").read_text()).get(name)
    if levels is None:
        return load_reference_data(name)
    data = pd.read_csv(INFERENCE.parent / "data" / f"{name}.csv",
                       dtype={col: str for col in levels})
    for col, info in levels.items():
        data[col] = pd.Categorical(data[col], categories=info["levels"])
    return data


def load_inference(spec: str) -> dict:
    return json.loads((INFERENCE / f"{spec}.json").read_text())


def r_term(name: str) -> str:
    """An lmerTest term label in mixedkit's spelling."""
    name = name.replace("(Intercept)", "Intercept")
    if name.startswith("factor(") and name.endswith(")"):
        return "C(" + name[len("factor("):-1] + ")"
    return name


def _lme4_theta(fit, ref: dict) -> np.ndarray:
    """lme4's theta (data units, lme4's packing) rebuilt from the reference VarCorr."""
    sigma2 = ref["fit"]["sigma"] ** 2
    rows = ref["fit"]["varcorr"]
    out = []
    for block in fit.state.design.blocks:
        names = {frozenset(block.group.split(":"))}
        mine = [r for r in rows if frozenset(r["group"].split(":")) in names]
        terms = block.terms
        k = len(terms)
        cov = np.zeros((k, k))
        for r in mine:
            named = [r_term(r["var1"])] + ([r_term(r["var2"])] if r.get("var2") else [])
            if not set(named) <= set(terms):  # another term on the same factor
                continue
            i = terms.index(named[0])
            j = terms.index(named[-1])
            cov[i, j] = cov[j, i] = r["vcov"]
        chol = np.linalg.cholesky(cov / sigma2 + 1e-300 * np.eye(k)) if cov.any() \
            else np.zeros((k, k))
        rr, cc = np.tril_indices(k)
        order = np.lexsort((rr, cc))
        out += list(chol[rr[order], cc[order]])
    return np.array(out)


def fit_at_reference(spec: str) -> tuple[LmmFit, dict]:
    """mixedkit's fit of ``spec``, moved to lme4's variance parameters."""
    formula, data = MODELS[spec]
    ref = load_inference(spec)
    return at_lme4_optimum(mk.fit_lmm(formula, load_data(data)), ref), ref


def at_lme4_optimum(fit: LmmFit, ref: dict) -> LmmFit:
    """``fit`` moved to lme4's variance parameters (``ref["fit"]``: sigma, varcorr)."""
    design = fit.state.design
    theta = std_theta(design, _lme4_theta(fit, ref), order="lme4")
    state = FitState(fit.state.prep, design, fit.state.estimate, True, theta,
                     design.engine.solve(theta, True))
    return LmmFit(state, InferenceOptions(fit.conf_level, fit.df_method))
