#!/usr/bin/env python3
"""Compare regenerated lme4 reference JSON with the stored copies.

Usage:
    python tests/reference/compare_reference.py NEWDIR [STOREDDIR] [--tol REL] [--verbose]

NEWDIR     output directory of ``Rscript tests/reference/make_reference.R NEWDIR``
           (contains fits/ and anova/).
STOREDDIR  stored copies (default: the directory of this script, i.e. tests/reference).
--tol REL  exit with status 1 if any numeric field differs by more than REL (relative).
           Without --tol only structural mismatches (missing keys, null vs number,
           different array lengths) make the exit status non-zero.

Every numeric leaf of every JSON file is compared. Lists of records are matched by
their identifying field (term / group / model / optimizer), random effects by level
name (so a different ordering of near-tied levels does not matter). Timing
(``timing``), the time stamp (``generated``) and package versions (``software``) are
not compared; version strings are printed for information. Other strings (warnings,
messages, names) are compared and mismatches are listed.

Relative difference = |new - stored| / max(|new|, |stored|) (0 when both are 0). It is
large for values that are nearly zero (e.g. a coefficient of -0.016 or a random effect
close to 0), so the maximum absolute difference is printed as well.

Only the standard library and numpy are used.
"""
import argparse
import json
import math
import os
import sys
from collections import defaultdict

import numpy as np

SKIP_KEYS = {"timing", "generated", "software"}
ID_KEYS = ("term", "group", "model", "optimizer")


class Report:
    def __init__(self):
        self.num = defaultdict(list)  # (file, group) -> list of (rel, abs, path)
        self.structural = []  # (file, path, message)
        self.strings = []  # (file, path, new, stored)

    def add_num(self, fname, group, rel, ab, path):
        self.num[(fname, group)].append((rel, ab, path))


def is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def field_group(path):
    """Map a JSON path (tuple of keys; list positions are written as '[..]') to a group."""
    keys = [p for p in path if not p.startswith("[")]
    if keys and keys[0] == "fits" and len(keys) >= 3:
        fit = keys[1]
        rest = keys[2:]
        head = rest[0]
        if head == "fixef" and len(rest) >= 2:
            return f"{fit}.fixef.{rest[1]}"
        if head == "ranef" and len(rest) >= 3:
            kind = "condsd" if rest[2].startswith("condsd:") else "modes"
            return f"{fit}.ranef.{kind}"
        if head in ("logLik", "df", "AIC", "BIC", "REMLcrit", "deviance_ML", "nobs"):
            return f"{fit}.loglik_AIC_BIC"
        return f"{fit}.{head}"
    if keys and keys[0].startswith("anova_") and len(keys) >= 2:
        if keys[1] == "rows" and len(keys) >= 3:
            return f"{keys[0]}.{keys[2]}"
        return f"{keys[0]}.{keys[1]}"
    return ".".join(keys[:1]) or "<root>"


def generic_group(group):
    """Group name without the REML/ML/anova-section prefix, for the overall summary."""
    for pre in ("REML.", "ML."):
        if group.startswith(pre):
            return group[len(pre):]
    return group


def list_id_key(a, b):
    for k in ID_KEYS:
        if (a and all(isinstance(x, dict) and k in x for x in a)
                and b and all(isinstance(x, dict) and k in x for x in b)):
            return k
    return None


def compare(new, old, path, fname, rep):
    if path and path[-1] in SKIP_KEYS:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        if "levels" in old and "levels" in new and len(path) >= 2 and "ranef" in path:
            compare_ranef(new, old, path, fname, rep)
            return
        for k in old:
            if k in SKIP_KEYS:
                continue
            if k not in new:
                rep.structural.append((fname, path + (k,), "missing in regenerated file"))
                continue
            compare(new[k], old[k], path + (k,), fname, rep)
        for k in new:
            if k not in old and k not in SKIP_KEYS:
                rep.structural.append((fname, path + (k,), "extra key in regenerated file"))
        return
    if isinstance(old, list) and isinstance(new, list):
        key = list_id_key(new, old)
        if key is not None:
            nmap = {x[key]: x for x in new}
            for x in old:
                if x[key] not in nmap:
                    rep.structural.append((fname, path + (f"[{x[key]}]",), "record missing"))
                    continue
                compare(nmap[x[key]], x, path + (f"[{x[key]}]",), fname, rep)
            if len(new) != len(old):
                rep.structural.append((fname, path, f"{len(new)} records vs {len(old)} stored"))
            return
        if len(old) != len(new):
            rep.structural.append((fname, path, f"length {len(new)} vs {len(old)} stored"))
            return
        for i, (a, b) in enumerate(zip(new, old)):
            compare(a, b, path + (f"[{i}]",), fname, rep)
        return
    if is_num(old) and is_num(new):
        a, b = float(new), float(old)
        ab = abs(a - b)
        den = max(abs(a), abs(b))
        rel = 0.0 if ab == 0 else (ab / den if den > 0 else math.inf)
        rep.add_num(fname, field_group(path), rel, ab, path)
        return
    if old is None and new is None:
        return
    if isinstance(old, str) and isinstance(new, str):
        if old != new:
            rep.strings.append((fname, path, new, old))
        return
    if isinstance(old, bool) and isinstance(new, bool):
        if old != new:
            rep.structural.append((fname, path, f"boolean {new} vs {old} stored"))
        return
    rep.structural.append((fname, path, f"type/null mismatch: new={short(new)} stored={short(old)}"))


def compare_ranef(new, old, path, fname, rep):
    """Random effects of one grouping factor: align rows by level name."""
    nl, ol = new["levels"], old["levels"]
    if sorted(nl) != sorted(ol):
        rep.structural.append((fname, path + ("levels",), "different level sets"))
        return
    pos = {lev: i for i, lev in enumerate(nl)}
    for col in old:
        if col == "levels":
            continue
        if col not in new:
            rep.structural.append((fname, path + (col,), "missing in regenerated file"))
            continue
        for j, lev in enumerate(ol):
            compare(new[col][pos[lev]], old[col][j], path + (col, f"[{lev}]"), fname, rep)
    for col in new:
        if col not in old:
            rep.structural.append((fname, path + (col,), "extra key in regenerated file"))


def short(x, n=60):
    s = json.dumps(x)
    return s if len(s) <= n else s[: n - 3] + "..."


def fmt_path(path):
    out = ""
    for p in path:
        out += p if p.startswith("[") else ("." + p if out else p)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("newdir")
    ap.add_argument("storeddir", nargs="?", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--tol", type=float, default=None)
    ap.add_argument("--verbose", action="store_true", help="print every field group of every file")
    args = ap.parse_args()

    rep = Report()
    versions = {}
    files = []
    for sub in ("fits", "anova"):
        sdir = os.path.join(args.storeddir, sub)
        for name in sorted(os.listdir(sdir)):
            if not name.endswith(".json"):
                continue
            rel = f"{sub}/{name}"
            files.append(rel)
            newp = os.path.join(args.newdir, sub, name)
            if not os.path.exists(newp):
                rep.structural.append((rel, (), "file not regenerated"))
                continue
            with open(os.path.join(sdir, name)) as fh:
                old = json.load(fh)
            with open(newp) as fh:
                new = json.load(fh)
            if "software" in new and "software" in old:
                versions.setdefault("stored", old["software"])
                versions.setdefault("regenerated", new["software"])
            compare(new, old, (), rel, rep)

    if versions:
        print("software versions")
        for k in sorted(versions["stored"]):
            print(f"  {k:12s} stored {versions['stored'][k]!s:45s} regenerated {versions['regenerated'].get(k)}")
        print()

    print("max relative / absolute difference per file and field group")
    print(f"  {'file':38s} {'field group':40s} {'n':>5s} {'max rel':>10s} {'max abs':>10s}")
    overall = defaultdict(lambda: [0, 0.0, 0.0, None])
    per_file = defaultdict(lambda: [0, 0.0, 0.0])
    for (fname, group), vals in sorted(rep.num.items()):
        rels = np.array([v[0] for v in vals])
        abss = np.array([v[1] for v in vals])
        i = int(np.argmax(rels))
        mr, ma = float(rels.max()), float(abss.max())
        g = overall[generic_group(group)]
        g[0] += len(vals)
        if mr >= g[1]:
            g[3] = (fname, vals[i][2])
        g[1] = max(g[1], mr)
        g[2] = max(g[2], ma)
        pf = per_file[fname]
        pf[0] += len(vals)
        pf[1] = max(pf[1], mr)
        pf[2] = max(pf[2], ma)
        if args.verbose or mr > 0:
            print(f"  {fname:38s} {group:40s} {len(vals):5d} {mr:10.3g} {ma:10.3g}")
    if not args.verbose:
        print("  (groups with zero difference omitted; --verbose lists all)")
    print()
    print("per file")
    for fname in files:
        n, mr, ma = per_file.get(fname, [0, 0.0, 0.0])
        print(f"  {fname:38s} {n:5d} numbers  max rel {mr:10.3g}  max abs {ma:10.3g}")
    print()
    print("per field group, over all files")
    for group in sorted(overall):
        n, mr, ma, where = overall[group]
        loc = f"  at {where[0]}:{fmt_path(where[1])}" if mr > 0 else ""
        print(f"  {group:62s} {n:6d}  max rel {mr:10.3g}  max abs {ma:10.3g}{loc}")
    allrel = max((v[1] for v in overall.values()), default=0.0)
    nnum = sum(v[0] for v in overall.values())
    print()
    print(f"compared {nnum} numbers in {len(files)} files; overall max relative difference {allrel:.3g}")

    if rep.strings:
        print()
        print(f"{len(rep.strings)} string field(s) differ:")
        for fname, path, a, b in rep.strings:
            print(f"  {fname}:{fmt_path(path)}\n    new:    {a!r}\n    stored: {b!r}")
    if rep.structural:
        print()
        print(f"{len(rep.structural)} structural mismatch(es):")
        for fname, path, msg in rep.structural:
            print(f"  {fname}:{fmt_path(path)}: {msg}")

    status = 0
    if rep.structural:
        status = 1
    if args.tol is not None and allrel > args.tol:
        print(f"\nFAIL: max relative difference {allrel:.3g} > tol {args.tol:g}")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
