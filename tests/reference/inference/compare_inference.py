#!/usr/bin/env python3
"""Compare regenerated inference reference JSONs with the stored ones.

Usage:
    python tests/reference/inference/compare_inference.py NEWDIR [MODEL_ID ...]
        [--ref REFDIR] [--sections anova,emmeans,...] [--tol REL] [--verbose]

NEWDIR is an output directory of make_inference_reference.R; REFDIR defaults to the
directory of this script. For every <model_id>.json present in both, numbers are
compared field by field (lists by position), and the largest absolute and relative
differences are printed per section (top-level key; `anova_*` sections separately).
Keys present in only one file are listed (keys the stored file lacks are "extra"
fields of the new script, e.g. trt_vs_ctrl). Differing strings are listed, except in
`generated`, `software` and `how`/`note` texts (listed with --verbose).
Exit status 1 if a number differs by more than --tol (relative, with an absolute floor
of --tol as well) or a stored key is missing from the new file.
Standard library only.
"""
import argparse
import json
import math
import os
import sys

SKIP_SECTIONS = {"generated", "software"}
SOFT_STRING_KEYS = {"how", "note", "anova_note", "data_csv_note", "contrasts", "fitted_with"}


def walk(ref, new, path, out):
    if isinstance(ref, dict) and isinstance(new, dict):
        for k in ref:
            if k not in new:
                out["missing"].append(path + [k])
            else:
                walk(ref[k], new[k], path + [k], out)
        for k in new:
            if k not in ref:
                out["extra"].append(path + [k])
    elif isinstance(ref, list) and isinstance(new, list):
        if len(ref) != len(new):
            out["structure"].append((path, f"list length {len(ref)} vs {len(new)}"))
        for i, (a, b) in enumerate(zip(ref, new)):
            walk(a, b, path + [i], out)
    elif isinstance(ref, bool) or isinstance(new, bool):
        if ref != new:
            out["strings"].append((path, ref, new))
    elif isinstance(ref, (int, float)) and isinstance(new, (int, float)):
        d = abs(ref - new)
        rel = d / max(abs(ref), 1e-300) if ref != 0 else (0.0 if new == 0 else math.inf)
        out["numbers"].append((path, ref, new, d, rel))
    elif ref is None or new is None:
        if ref is not new:
            out["structure"].append((path, f"{ref!r} vs {new!r}"))
    elif isinstance(ref, str) and isinstance(new, str):
        if ref != new:
            out["strings"].append((path, ref, new))
    else:
        out["structure"].append((path, f"type {type(ref).__name__} vs {type(new).__name__}"))


def fmt(path):
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "[")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("newdir")
    ap.add_argument("models", nargs="*")
    ap.add_argument("--ref", default=here)
    ap.add_argument("--sections", default="", help="comma list of top-level keys to compare (default all)")
    ap.add_argument("--tol", type=float, default=None)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()

    sections = [s for s in a.sections.split(",") if s]
    models = a.models or sorted(f[:-5] for f in os.listdir(a.newdir)
                                if f.endswith(".json") and f != "levels_extra.json"
                                and os.path.exists(os.path.join(a.ref, f)))
    bad = False
    overall = {}
    for mid in models:
        with open(os.path.join(a.ref, mid + ".json")) as fh:
            ref = json.load(fh)
        with open(os.path.join(a.newdir, mid + ".json")) as fh:
            new = json.load(fh)
        for k in SKIP_SECTIONS:
            ref.pop(k, None), new.pop(k, None)
        if sections:
            ref = {k: v for k, v in ref.items() if k in sections}
            new = {k: v for k, v in new.items() if k in sections}
        out = {"missing": [], "extra": [], "structure": [], "strings": [], "numbers": []}
        walk(ref, new, [], out)
        print(f"== {mid}")
        per = {}
        for path, r, n, d, rel in out["numbers"]:
            sec = path[0]
            cur = per.setdefault(sec, [0.0, 0.0, None, 0])
            cur[3] += 1
            cur[0] = max(cur[0], d)
            if rel > cur[1]:
                cur[1], cur[2] = rel, fmt(path)
            if a.tol is not None and d > a.tol * max(1.0, abs(r)):
                bad = True
        for sec, (d, rel, where, cnt) in per.items():
            print(f"   {sec:32s} n={cnt:5d}  max|abs|={d:.3g}  max rel={rel:.3g}  ({where})")
            o = overall.setdefault(sec, [0.0, 0.0, 0])
            o[0], o[1], o[2] = max(o[0], d), max(o[1], rel), o[2] + cnt
        for p in out["missing"]:
            print("   MISSING in new:", fmt(p))
            bad = True
        extra_top = sorted({fmt(p[:1]) if len(p) == 1 else fmt(p) for p in out["extra"]})
        if extra_top:
            print("   extra in new (not in stored):", ", ".join(extra_top[:12]) + (" ..." if len(extra_top) > 12 else ""))
        for p, msg in out["structure"]:
            print("   STRUCTURE", fmt(p), msg)
            bad = True
        for p, r, n in out["strings"]:
            if (p and p[-1] in SOFT_STRING_KEYS) and not a.verbose:
                continue
            print(f"   string {fmt(p)}: {r!r} vs {n!r}")
    print("== overall (max over models)")
    for sec, (d, rel, cnt) in overall.items():
        print(f"   {sec:32s} n={cnt:5d}  max|abs|={d:.3g}  max rel={rel:.3g}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
