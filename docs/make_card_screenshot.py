"""Render a fit's notebook card (``fit._repr_html_()``) in headless Chromium.

Writes a Jupyter-like standalone HTML page to a temporary directory and takes a
screenshot with ``chromium --headless``.  By default it makes
``docs/card_sleepstudy.png``; ``--all OUTDIR`` also renders the singular Dyestuff2
fit and the crossed penicillin fit into OUTDIR (for checking the layout).

    python docs/make_card_screenshot.py [--all OUTDIR]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd

import mixedkit as mk

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ margin: 0; background: #fff; color: #000;
       font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       font-size: 14px; }}
.cell {{ display: flex; padding: 16px 24px 16px 8px; }}
.prompt {{ flex: 0 0 64px; color: #d84315; font-family: monospace; font-size: 13px;
          text-align: right; padding: 4px 8px 0 0; }}
.output {{ flex: 1 1 auto; min-width: 0; }}
/* the parts of JupyterLab's rendered-HTML style that act on tables and code */
.jp-RenderedHTMLCommon table {{ border-collapse: collapse; border: none; font-size: 12px;
    table-layout: fixed; margin-left: auto; margin-right: auto; margin-bottom: 1em; }}
.jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon td {{ text-align: right;
    vertical-align: middle; padding: 0.5em; line-height: normal; border: none; }}
.jp-RenderedHTMLCommon tbody tr:nth-child(odd) {{ background: #f5f5f5; }}
.jp-RenderedHTMLCommon code {{ background: #eee; padding: 0 2px; }}
</style></head>
<body><div class="cell"><div class="prompt">Out[1]:</div>
<div class="output jp-RenderedHTMLCommon">{card}</div></div></body></html>
"""


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("chromium not found: install it (Debian: apt-get install -y chromium) and rerun.")


def screenshot(card_html: str, out: Path, title: str, height: int = 900) -> Path:
    browser = find_chromium()
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "card.html"
        page.write_text(PAGE.format(title=title, card=card_html), encoding="utf-8")
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--hide-scrollbars",
               f"--user-data-dir={Path(tmp) / 'profile'}", f"--window-size=1000,{height}",
               f"--screenshot={out.resolve()}", page.as_uri()]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120)
    if not out.exists():
        sys.exit(f"chromium ran but wrote no screenshot to {out}")
    return out


def fits() -> dict[str, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "sleepstudy": mk.fit_lmm("Reaction ~ Days + (Days | Subject)",
                                     mk.load_dataset("sleepstudy")),
            "dyestuff2": mk.fit_lmm("Yield ~ 1 + (1 | Batch)",
                                    pd.read_csv(ROOT / "tests/reference/data/Dyestuff2.csv")),
            "penicillin": mk.fit_lmm("diameter ~ 1 + (1 | plate) + (1 | sample)",
                                     mk.load_dataset("penicillin")),
        }


def main(argv: list[str]) -> None:
    find_chromium()
    if argv[:1] == ["--all"]:
        outdir = Path(argv[1] if len(argv) > 1 else ".")
        outdir.mkdir(parents=True, exist_ok=True)
        for name, fit in fits().items():
            print(screenshot(fit._repr_html_(), outdir / f"card_{name}.png", name))
        return
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", mk.load_dataset("sleepstudy"))
    print(screenshot(fit._repr_html_(), HERE / "card_sleepstudy.png", "sleepstudy"))


if __name__ == "__main__":
    main(sys.argv[1:])
