"""Modules that moved into wings answer at their old paths for one release, with a
DeprecationWarning that names the new path (mixedkit/_moved.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mixedkit._moved import MOVED


def test_old_import_paths_give_the_moved_modules_and_warn_once_each():
    """In a fresh interpreter (an import is done once per process): every old path."""
    code = (
        "import importlib, json, warnings\n"
        "from mixedkit._moved import MOVED\n"
        "out = {}\n"
        "for old, new in MOVED.items():\n"
        "    with warnings.catch_warnings(record=True) as caught:\n"
        "        warnings.simplefilter('always')\n"
        "        module = importlib.import_module('mixedkit.' + old)\n"
        "    same = module is importlib.import_module('mixedkit.' + new)\n"
        "    out[old] = [same] + [str(w.message) for w in caught\n"
        "                         if w.category is DeprecationWarning]\n"
        "print(json.dumps(out))\n"
    )
    result = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                       text=True, check=True).stdout)
    assert sorted(result) == sorted(MOVED)
    for old, (same, *texts) in result.items():
        assert same, old
        assert len(texts) == 1, (old, texts)
        assert texts[0].startswith(f"mixedkit.{old} moved to mixedkit.{MOVED[old]}; import it")


def test_the_warning_points_at_the_user_line():
    code = ("import warnings\nwarnings.simplefilter('always')\n"
            "from mixedkit.many import ManyFits\n"
            "import mixedkit as mk\nmk.plotting\n")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stderr
    assert "<string>:3: DeprecationWarning: mixedkit.many moved to mixedkit.scale.many" in err
    assert "<string>:5: DeprecationWarning: mixedkit.plotting moved to " \
           "mixedkit.plots.diagnostics" in err
    assert err.count("DeprecationWarning") == 2


def test_new_paths_and_public_names_do_not_warn():
    code = ("import warnings\nwarnings.simplefilter('error')\n"
            "import mixedkit as mk\nimport mixedkit.scale.many\nfrom mixedkit.plots import effects\n"
            "mk.fit_many, mk.plot_means, mk.power_lmm, mk.simulate_lmm\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_names_still_raise_attribute_error():
    import mixedkit

    with pytest.raises(AttributeError, match="has no attribute 'nonsense'"):
        mixedkit.nonsense  # noqa: B018
