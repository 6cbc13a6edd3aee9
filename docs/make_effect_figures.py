"""Make the example figure of the means and effect plots in docs/ (from anywhere).

    python docs/make_effect_figures.py

Writes ``means_dietox.png``: the marginal means of Evit by Cu (left) and the effect of
Time by Evit (right) for ``Weight ~ Time * C(Evit) + C(Cu) + (Time | Pig)``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

import mixedkit as mk
from mixedkit.plots.effects import plot_effects, plot_means

HERE = Path(__file__).resolve().parent
DPI = 100


def main() -> None:
    matplotlib.use("Agg")  # files only; no window
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        fit = mk.fit_lmm("Weight ~ Time * C(Evit) + C(Cu) + (Time | Pig)",
                         mk.load_dataset("dietox"))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.5), layout="constrained")
    plot_means(fit, "Evit", by="Cu", ax=left)
    plot_effects(fit, "Time", by="Evit", ax=right)
    path = HERE / "means_dietox.png"
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
