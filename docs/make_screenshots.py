"""Screenshots of the built documentation site, taken in headless Chromium.

Writes ``docs/screenshot_landing.png`` (the landing page) and ``docs/screenshot_api.png``
(the API page of ``LmmFit``), 1280 x 900, for the README. Build the site first::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html
    python docs/make_screenshots.py

Chromium comes from Debian: ``apt-get install -y chromium``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SITE = HERE / "_build" / "html"
PAGES = {
    "screenshot_landing.png": "index.html",
    "screenshot_api.png": "api/generated/mixedkit.LmmFit.html",
}
WINDOW = "1280,900"


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("chromium not found: install it (Debian: apt-get install -y chromium) and rerun.")


def screenshot(browser: str, page: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--hide-scrollbars", f"--user-data-dir={Path(tmp) / 'p'}",
               f"--window-size={WINDOW}", f"--screenshot={out}", page.as_uri()]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120)
    if not out.exists():
        sys.exit(f"chromium ran but wrote no screenshot to {out}")


def main() -> int:
    missing = [page for page in PAGES.values() if not (SITE / page).exists()]
    if missing:
        sys.exit(f"{SITE} has no {missing[0]}: build the site first "
                 "(python -m sphinx -W --keep-going -b html docs docs/_build/html)")
    browser = find_chromium()
    for name, page in PAGES.items():
        out = HERE / name
        out.unlink(missing_ok=True)
        screenshot(browser, SITE / page, out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
