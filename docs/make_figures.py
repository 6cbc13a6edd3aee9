"""Make the example figures in docs/ (run from the repository root or anywhere).

    python docs/make_figures.py
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

import mixedkit as mk
from mixedkit.plots.diagnostics import plot_diagnostics, plot_ranef, plot_shrinkage

HERE = Path(__file__).resolve().parent
DPI = 100


def _fit(formula: str, dataset: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        return mk.fit_lmm(formula, mk.load_dataset(dataset))


def _save(fig, name: str) -> None:
    import matplotlib.pyplot as plt

    path = HERE / name
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    matplotlib.use("Agg")  # files only; no window
    sleep = _fit("Reaction ~ Days + (Days | Subject)", "sleepstudy")
    dietox = _fit("Weight ~ Time + (Time | Pig)", "dietox")
    _save(plot_diagnostics(sleep), "diagnostics_sleepstudy.png")
    _save(plot_diagnostics(dietox), "diagnostics_dietox.png")
    _save(plot_ranef(sleep), "ranef_sleepstudy.png")
    _save(plot_shrinkage(sleep).figure, "shrinkage_sleepstudy.png")


if __name__ == "__main__":
    main()
