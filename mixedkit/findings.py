"""Findings: the unit of every report mixedkit gives in words.

A :class:`Finding` says what was found, why it matters and what to do.  A
:class:`Report` is a ranked list of findings with a one-word verdict; the pre-fit
:func:`~mixedkit.check_data` report and ``fit.health`` are both reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["SEVERITIES", "Finding", "Report"]

# Ranked from worst to best; the verdict is the worst severity present.
SEVERITIES = ("error", "warning", "note", "ok")
_BADGE = {"error": "✗", "warning": "!", "note": "i", "ok": "✓"}


@dataclass(frozen=True)
class Finding:
    """One check and its outcome.

    Attributes
    ----------
    check : str
        Short machine name of the check, e.g. ``"convergence"``.
    severity : {"error", "warning", "note", "ok"}
    what : str
        What was found, in plain words with the numbers.
    why : str
        Why it matters (empty for checks that passed).
    fix : str
        What to do about it (empty when nothing is needed).
    """

    check: str
    severity: str
    what: str
    why: str = ""
    fix: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}; got {self.severity!r}")

    def details(self, sep: str = " ") -> str:
        """What, why and fix joined by ``sep`` (empty parts left out)."""
        parts = [self.what, self.why, f"Fix: {self.fix}" if self.fix else ""]
        return sep.join(p for p in parts if p)

    def line(self) -> str:
        """One line: a badge for the severity, the check's name and :meth:`details`."""
        return f"[{_BADGE[self.severity]}] {self.check}: {self.details()}"


@dataclass
class Report:
    """A ranked list of :class:`~mixedkit.findings.Finding` with a verdict.

    ``verdict`` is ``"ok"`` when every finding is ok or a note, ``"warning"`` when
    the worst is a warning and ``"error"`` when any check failed. Iterating gives the
    findings worst first; ``report["convergence"]`` is the finding of that check.

    Attributes
    ----------
    title : str
        What was checked, e.g. ``"model health"``.
    findings : list of Finding
        The findings in the order they were added.
    """

    title: str
    findings: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        """Append a finding."""
        self.findings.append(finding)

    @property
    def ranked(self) -> list[Finding]:
        """The findings, worst first (error, warning, note, ok)."""
        return sorted(self.findings, key=lambda f: SEVERITIES.index(f.severity))

    @property
    def verdict(self) -> str:
        """``"ok"``, ``"warning"`` or ``"error"``: the worst severity (a note counts as ok)."""
        if not self.findings:
            return "ok"
        worst = self.ranked[0].severity
        return "ok" if worst in ("note", "ok") else worst

    @property
    def ok(self) -> bool:
        """True when no check failed or warned."""
        return self.verdict == "ok"

    @property
    def problems(self) -> list[Finding]:
        """The findings that warn or fail, worst first."""
        return [f for f in self.ranked if f.severity in ("error", "warning")]

    def __getitem__(self, check: str) -> Finding:
        for f in self.findings:
            if f.check == check:
                return f
        raise KeyError(f"no finding named {check!r}; have {[f.check for f in self.findings]}")

    def __iter__(self):
        return iter(self.ranked)

    def __len__(self) -> int:
        return len(self.findings)

    def to_frame(self) -> pd.DataFrame:
        """Findings as a table with columns ``check, severity, what, why, fix``."""
        cols = ["check", "severity", "what", "why", "fix"]
        return pd.DataFrame([[getattr(f, c) for c in cols] for f in self.ranked], columns=cols)

    def __str__(self) -> str:
        lines = [f"{self.title}: {self.verdict}"]
        lines += ["  " + f.line() for f in self.ranked]
        return "\n".join(lines)

    __repr__ = __str__
