"""Small example data sets shipped with mixedkit."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from ..errors import DataError, did_you_mean

__all__ = ["DATASETS", "SOURCES", "load_dataset"]

DATASETS = {
    "sleepstudy": "Reaction time (ms) of 18 subjects over 10 days of sleep deprivation "
    "(lme4's sleepstudy; Belenky et al. 2003). Reaction ~ Days + (Days | Subject).",
    "dietox": "Weight (kg) of 72 pigs over 12 weeks (statsmodels' dietox). "
    "Weight ~ Time + (Time | Pig).",
    "dyestuff": "Yield of dyestuff from 6 batches, 5 preparations each (lme4's Dyestuff). "
    "Yield ~ 1 + (1 | Batch).",
    "penicillin": "Diameter of growth inhibition, 24 plates x 6 samples, crossed "
    "(lme4's Penicillin). diameter ~ 1 + (1 | plate) + (1 | sample).",
    "pastes": "Paste strength, 3 casks nested in each of 10 batches (lme4's Pastes). "
    "strength ~ 1 + (1 | batch/cask).",
    "ergostool": "Effort (Borg scale) to arise from 4 stool types (T1-T4), each rated once by 9 "
    "subjects (nlme's ergoStool; Pinheiro & Bates 2000). effort ~ Type + (1 | Subject).",
    "oats": "Yield of 3 oat varieties at 4 nitrogen levels in 6 blocks, a split plot "
    "(nlme's Oats; Yates 1935). yield ~ Variety * factor(nitro) + (1 | Block/Variety).",
    "fev_data": "Simulated two-arm trial (mmrm's fev_data): FEV1 of 200 patients at 4 visits "
    "(VIS1-VIS4), 263 visits missing. FEV1 ~ RACE + SEX + ARMCD * AVISIT + "
    "us(AVISIT | USUBJID), the MMRM.",
}

# Where each data set comes from. All but fev_data are R data sets distributed under the GPL
# (>= 2) with their packages, the numbers themselves published experimental data; fev_data
# is simulated, from the R package mmrm (Apache License 2.0).
SOURCES = {
    "sleepstudy": "R package lme4 (Belenky et al. 2003, J. Sleep Res. 12:1-12)",
    "dietox": "statsmodels' datasets (Lauridsen et al. 1999), also R package geepack",
    "dyestuff": "R package lme4 (Davies & Goldsmith 1972)",
    "penicillin": "R package lme4 (Davies & Goldsmith 1972)",
    "pastes": "R package lme4 (Davies & Goldsmith 1972)",
    "ergostool": "R package nlme (Pinheiro & Bates 2000, Mixed-Effects Models in S and "
                 "S-PLUS, Springer)",
    "oats": "R package nlme (Yates 1935, J. R. Stat. Soc. Suppl. 2:181-247)",
    "fev_data": "R package mmrm 0.3.18 (openpharma; Apache License 2.0), simulated data",
}

# Grouping codes that R stores as factors; read them as text so they are never
# mistaken for numbers in a formula.
_AS_TEXT = {"sleepstudy": ["Subject"], "dietox": [], "dyestuff": ["Batch"],
            "penicillin": ["plate", "sample"], "pastes": ["batch", "cask", "sample"],
            "ergostool": ["Subject", "Type"], "oats": ["Block", "Variety"],
            "fev_data": ["USUBJID", "AVISIT", "ARMCD", "RACE", "SEX"]}


def load_dataset(name: str) -> pd.DataFrame:
    """Load a bundled example data set as a new DataFrame.

    Parameters
    ----------
    name : str
        One of ``"sleepstudy"``, ``"dietox"``, ``"dyestuff"``, ``"penicillin"``,
        ``"pastes"``, ``"ergostool"``, ``"oats"``, ``"fev_data"`` (see ``mixedkit.datasets.DATASETS`` for
        descriptions and ``SOURCES`` for where each comes from); R's spelling works too
        (``"ergoStool"``, ``"Oats"``).

    Returns
    -------
    DataFrame
    """
    if isinstance(name, str) and name.lower() in DATASETS:
        name = name.lower()
    if name not in DATASETS:
        raise DataError(f"load_dataset: unknown data set {name!r}; "
                        f"{did_you_mean(name, list(DATASETS)).replace('columns', 'data sets')}")
    path = resources.files(__package__).joinpath(f"{name}.csv")
    with path.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype={c: str for c in _AS_TEXT[name]})
