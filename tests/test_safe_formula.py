"""Formulas from outside: code is refused before patsy evaluates anything.

``mk.check_formula``, ``fit_lmm(..., safe_formula=True)`` and the command line (on by
default, ``--trusted-formula`` to lift it).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedkit as mk
from mixedkit.cli import main
from mixedkit.model.formula import NameMap
from mixedkit.model.safe_formula import ALLOWED, check_translated

TOUCH = "I(__import__('os').system('touch pwned'))"

# Every formula the test suite fits (collected by wrapping mixedkit's parser during a full
# run of the suite), plus the transforms patsy provides by default.
LEGIT = [
    "Reaction ~ Days + (Days | Subject)",
    "Reaction ~ Days + (1 | Subject)",
    "Reaction ~ 1 + (1 | Subject)",
    "Reaction ~ 1 + (Days | Subject)",
    "Reaction ~ Days + (Days || Subject)",
    "Reaction ~ Days + (0 + Days | Subject)",
    "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
    "Reaction ~ Days + x + (1 | Subject)",
    "Reaction ~ C(Days) + (Days | Subject)",
    "np.log(Reaction) ~ Days + (1 | Subject)",
    "Reaction ~ np.log1p(Days) + I(Days > 4) + (1 | Subject)",
    "Reaction ~ Days + I(Days**2) + (1 | Subject)",
    "np.log(Reaction) ~ Days + I(Days**2) + C(Evit, Sum) + (Days | Subject)",
    "Weight ~ Time + (Time | Pig)",
    "Weight ~ Time + (1 | Pig)",
    "Weight ~ Time + Evit + (1 | Pig)",
    "Weight ~ Time + Evit + Cu + (Time | Pig)",
    "Weight ~ Time + C(Evit) + (Time | Pig)",
    "Weight ~ Time + C(Cu) + (1 | Pig)",
    "Weight ~ Time + C(Evit) + C(Cu) + (Time | Pig)",
    "Weight ~ Time * C(Evit) + (Time | Pig)",
    "Weight ~ Time * C(Evit) + C(Cu) + (Time | Pig)",
    "Weight ~ Time * C(Evit, Sum) + C(Cu, Sum) + (Time | Pig)",
    "Weight ~ Time + C(Evit) * C(Cu) + (1 | Pig)",
    "Yield ~ 1 + (1 | Batch)",
    "diameter ~ 1 + (1 | plate)",
    "diameter ~ 1 + (1 | plate) + (1 | sample)",
    "diameter ~ 1 + (1 | plate) + (x | sample)",
    "diameter ~ sample + (1 | plate)",
    "strength ~ 1 + (1 | batch/cask)",
    "strength ~ 1 + (1 | batch) + (1 | batch:cask)",
    "strength ~ 1 + (1 | batch) + (1 | sample)",
    "yield ~ `days of sleep` + (`days of sleep` | `subject id`)",
    "yield ~ nitro_f * Variety + (1 | Block/Variety)",
    "effort ~ Type + (1 | Subject)",
    "score_t2 ~ score_t1 + (1 | subject)",
    "y ~ A * B + (1 | s)",
    "y ~ A * B + (1 | g)",
    "y ~ A + B + (1 | g)",
    "y ~ A * B + x + (1 | subject)",
    "y ~ C(A, Sum) * C(B, Sum) + (1 | s)",
    "y ~ group * time + (time | subject)",
    "y ~ sex + (1 | subject)",
    "y ~ sex + (sex | subject)",
    "y ~ time + (1 | subject)",
    "y ~ time + time2 + (1 | subject)",
    "y ~ time + (time | subject) + (1 | subject)",
    "y ~ x + (1 | g)",
    "y ~ x + (x | g)",
    "y ~ x + (x || g)",
    "y ~ x + (-1 + x | g)",
    "y ~ 1 + (1 | g/h)",
    "y ~ 1 + (1 | g:h)",
    "y ~ x*z - 1 + (1 | g) + (1 | h)",
    "y ~ x1 + x2 + (x1 + x2 | g)",
    "y ~ x + (x | a) + (1 | a:b) + (1 | a:c)",
    "y ~ x + (x || a) + (1 | a:b)",
    "y ~ x + (1 | f1) + (1 | f2) + (1 | f3)",
    "y ~ x + (x || f1) + (1 | f2)",
    "y ~ x + trt + (1 | a) + (1 | b)",
    "y ~ x + (x | g) + (1 | g:h)",
    "y ~ x + f + (x | g)",
    "y ~ 1 + (1 | a) + (1 | b)",
    'Q("my y") ~ x + (1|g)',
    "`my y` ~ x + C(f, Treatment('b')) + (1 | g)",
    # patsy's contrasts and stateful transforms, options as literals
    "y ~ C(f, Treatment(reference='b')) + C(f, levels=['b', 'a']) + C(f, Sum(omit=1)) + (1 | g)",
    "y ~ C(f, Diff) + C(f, Helmert()) + C(f, Poly(scores=[1, 2, 4])) + (1 | g)",
    "y ~ center(x) + standardize(x, rescale=False) + scale(x, ddof=1) + (1 | g)",
    "y ~ bs(x, df=4, degree=2) + cr(x, 3) + te(cr(x, df=3), cc(z, df=4)) + (1 | g)",
    "y ~ np.log2(x) + np.log10(x) + np.exp(-x) + np.sqrt(np.abs(x - 1)) + (1 | g)",
    "y ~ I(x**-1) + I(x**0.5) + I(x**(1/3)) + I((x - 2) * z / 3) + I(sex == 'f') + (1 | g)",
    "y ~ (x + z)**2 + (1 | g)",
    "~Days",
    "0 + C(cask)",
]


@pytest.mark.parametrize("formula", LEGIT)
def test_legitimate_formulas_are_accepted(formula):
    assert mk.check_formula(formula) is None


def _fitted_formulas() -> list[tuple[str, str]]:
    """String literals passed to fit_lmm in the test files (outside pytest.raises)."""
    found = []
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        raising = {id(n) for w in ast.walk(tree) if isinstance(w, ast.With)
                   and "raises" in ast.unparse(w.items[0].context_expr)
                   for n in ast.walk(w)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and id(node) not in raising and node.args \
                    and ast.unparse(node.func).split(".")[-1] == "fit_lmm" \
                    and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                found.append((path.name, node.args[0].value))
    return found


def test_every_formula_the_suite_fits_is_accepted():
    found = _fitted_formulas()
    assert len(found) > 30
    for where, formula in found:
        try:
            mk.check_formula(formula)
        except mk.FormulaError as err:  # pragma: no cover - the message says which
            pytest.fail(f"{where}: {formula!r} refused: {err}")


# formula -> what the message must name
INJECTIONS = [
    (f"y ~ x + {TOUCH} + (1 | g)", r"the call __import__\('os'\)\.system\(\.\.\.\)"),
    ("y ~ __import__('os') + (1 | g)", r"the call __import__\(\.\.\.\)"),
    ("y ~ x.__class__ + (1 | g)", r"attribute access 'x\.__class__'"),
    ("y ~ I(x.__class__.__mro__) + (1 | g)", r"attribute access 'x\.__class__\.__mro__'"),
    ("y ~ __builtins__ + (1 | g)", r"the name '__builtins__'.*names starting with '__'"),
    ("y ~ I(().__class__.__bases__) + (1 | g)", r"attribute access '\(\)\.__class__"),
    ("y ~ ().__class__.__bases__[0] + (1 | g)", r"'\.__class__\.__bases__\[0\]'.*not a valid"),
    ("y ~ eval('1 + 1') + (1 | g)", r"the call eval\(\.\.\.\)"),
    ("y ~ exec('x = 1') + (1 | g)", r"the call exec\(\.\.\.\)"),
    ("y ~ open('/etc/passwd') + (1 | g)", r"the call open\(\.\.\.\)"),
    ("y ~ I(open('/etc/passwd').read()) + (1 | g)", r"the call open\('/etc/passwd'\)\.read"),
    ("y ~ getattr(x, 'mean') + (1 | g)", r"the call getattr\(\.\.\.\)"),
    ("y ~ importlib.import_module('os') + (1 | g)", r"the call importlib\.import_module"),
    ("y ~ I(__import__('importlib').import_module('os')) + (1 | g)",
     r"the call __import__\('importlib'\)\.import_module"),
    ("y ~ np.load('x.npy', allow_pickle=True) + (1 | g)", r"the call np\.load\(\.\.\.\)"),
    ("y ~ os.system('touch pwned') + (1 | g)", r"the call os\.system\(\.\.\.\)"),
    ("y ~ I((lambda: 1)()) + (1 | g)", r"a lambda 'lambda: 1'"),
    ("y ~ I(lambda: 1) + (1 | g)", r"a lambda"),
    ("y ~ I([a for a in x]) + (1 | g)", r"a list comprehension '\[a for a in x\]'"),
    ("y ~ I(sum(a for a in x)) + (1 | g)", r"the call sum\(\.\.\.\)"),
    ("y ~ I({a: 1 for a in x}) + (1 | g)", r"a dict comprehension"),
    ("y ~ x[0] + (1 | g)", r"a subscript \(indexing\) 'x\[0\]'"),
    ("y ~ I(x[::2]) + (1 | g)", r"a subscript"),
    ("y ~ I(f'{x}') + (1 | g)", r"the prefixed string f'\{x\}'.*f-strings"),
    # Python 3.12+ tokenizes f-strings piece by piece: the same message, the whole string
    ('y ~ I(f"{f\'{x}\'}!") + (1 | g)', r"the prefixed string f\"\{f'\{x\}'\}!\".*f-strings"),
    ("y ~ I((a := x)) + (1 | g)", r"an assignment expression \(:=\) 'a := x'"),
    ("y ~ C(*x) + (1 | g)", r"\* unpacking in C\(\.\.\.\)"),
    ("y ~ C(x, **opts) + (1 | g)", r"\*\* unpacking in C\(\.\.\.\)"),
    ("y ~ C(x, exit) + (1 | g)", r"the contrast 'exit' in C\(\)"),  # C() calls a callable
    ("y ~ C(x, contrast=breakpoint) + (1 | g)", r"the contrast 'breakpoint' in C\(\)"),
    ("y ~ np.log(x, out=z) + (1 | g)", r"'np\.log\(x, out=z\)'.*one argument and no keywords"),
    ("y ~ np.exp(x, z) + (1 | g)", r"np\.exp takes one argument"),  # positional out=
    ("y ~ C(x, Treatment(reference=__import__('os'))) + (1 | g)",
     r"the call __import__\(\.\.\.\).*options such as levels="),
    ("y ~ bs(x, knots=open('k')) + (1 | g)", r"the call open\(\.\.\.\)"),
    ("y ~ C(x, foo=1) + (1 | g)", r"the keyword foo= in C\(\.\.\.\).*contrast=, levels="),
    ("y ~ I(x if z else w) + (1 | g)", r"a conditional expression \(if/else\)"),
    ("y ~ I(x or z) + (1 | g)", r"the operator 'or' in 'x or z'"),
    ("y ~ I(x in z) + (1 | g)", r"the operator 'in' in 'x in z'"),
    ("y ~ I(x // 2) + (1 | g)", r"the operator '//' in 'x // 2'"),
    ("y ~ I(9**9**9) + (1 | g)", r"the power '9\*\*9\*\*9'.*between -100 and 100"),
    ("y ~ I((x**2)**50) + (1 | g)", r"the nested power"),
    ("y ~ I('a' * 100) + (1 | g)", r"the string \"'a'\""),
    ("y ~ 'text' + (1 | g)", r"a string can only be an argument of a call"),
    ("y ~ x + (1 | g) # comment", r"a comment \(#\)"),
    ("y ~ x; import os", r"'x; import os'.*not a valid term"),
    ("y ~ I('a\\x41') + (1 | g)", r"a backslash"),
    ('y ~ C(x, levels=["a)"]) + (1 | g)', r"strings may not contain .*parentheses"),
    ('y ~ I("""a""") + (1 | g)', r"nor be triple-quoted"),
    ("y ~ I(b'x') + (1 | g)", r"the prefixed string b'x'"),
    ("y ~ x\u202e + (1 | g)", r"the invisible or control character '\\u202e'"),
    ("y ~ \uff45\uff56\uff41\uff4c('1') + (1 | g)", r"the call \uff45\uff56\uff41\uff4c"),
    ("y ~ Sum(x) + (1 | g)", r"the contrast 'Sum\(x\)' outside C\(\)"),
    ("y ~ Q(name) + (1 | g)", r"Q takes one quoted column name"),
    ("y ~ (x + 1 | g) + I(`a`.__class__)", r"attribute access '`a`\.__class__'"),
    ("y ~ x + (I(__import__('os').getpid()) | g)", r"the call __import__\('os'\)\.getpid"),
    ("y ~ log(x) + (1 | g)", r"the call log\(\.\.\.\)"),
    ("y ~ x + (1 | g", r"unbalanced '\('"),
]


@pytest.mark.parametrize("formula,message", [
    ("y ~ x + (1 | g", (r"^formula: unbalanced '\(' or '\[' in 'y ~ x \+ \(1 \| g'; close every "
                       r"parenthesis$")),
    ("y ~ x + 1 | g)", (r"^formula: unbalanced '\)' in 'y ~ x \+ 1 \| g\)'; open every parenthesis "
                       r"you close$")),
    ("y ~ C(x] + (1 | g)", (r"^formula: 'C\(x\]' is not a valid term \(closing parenthesis '\]' "
                           r"does not match opening parenthesis '\('\) in .*; correct its syntax$")),
])
def test_a_syntax_error_is_said_as_one_without_the_allow_list(formula, message):
    """A formula that does not parse is a syntax error, not an unsafe formula: the checked
    path says it as the unchecked one does, without the allow-list or --trusted-formula."""
    with pytest.raises(mk.FormulaError, match=message) as info:
        mk.check_formula(formula)
    assert ALLOWED not in str(info.value) and "trusted" not in str(info.value)


@pytest.mark.parametrize("formula,message", INJECTIONS)
def test_code_in_a_formula_is_refused_naming_it(formula, message):
    with pytest.raises(mk.FormulaError, match=message):
        mk.check_formula(formula)


def test_message_names_the_argument_lists_the_allowed_and_gives_the_fix():
    with pytest.raises(mk.FormulaError) as info:
        mk.check_formula(f"y ~ {TOUCH} + (1 | g)")
    text = str(info.value)
    assert text.startswith(f"formula {f'y ~ {TOUCH} + (1 | g)'!r}: the call __import__")
    assert ALLOWED in text and "np.log" in text and "C(x, contrast)" in text
    assert "safe_formula=False" in text and "--trusted-formula" in text


def test_not_a_string_is_a_type_error():
    with pytest.raises(mk.InputTypeError, match=r"formula must be a string .*got int"):
        mk.check_formula(3)


def test_columns_make_bare_dotted_and_keyword_names_columns():
    with pytest.raises(mk.FormulaError, match=r"attribute access 'Sepal\.Length'.*backticks"):
        mk.check_formula("y ~ Sepal.Length + (1 | g)")
    mk.check_formula("y ~ Sepal.Length + (1 | g)", columns=["y", "Sepal.Length", "g"])
    mk.check_formula("y ~ `Sepal.Length` + (1 | g)")
    mk.check_formula("yield ~ x + (1 | g)")  # a keyword alone can only be a column
    mk.check_formula("yield ~ x + (1 | g)", columns=["yield", "x", "g"])
    with pytest.raises(mk.FormulaError, match=r"attribute access 'x\.__class__'"):
        mk.check_formula("y ~ x.__class__ + (1 | g)", columns=["y", "x", "g"])


_PIECES = list("yx~+-*/:|()[]{}`'\"._, =#\\!@%^&<>0123aIC") + [
    "np.log", "__", "lambda", "Q(", "\n", "if", "C(", "I(", "Treatment", "**", "||"]


@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
@settings(max_examples=300, deadline=None)
def test_any_text_is_accepted_or_refused_with_a_formula_error(text):
    try:
        mk.check_formula(text)
    except mk.FormulaError:
        pass


# --- fit_lmm -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ss():
    return mk.load_dataset("sleepstudy")


def test_fit_lmm_refuses_before_evaluating(ss, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mk.FormulaError, match=r"the call __import__\('os'\)\.system"):
        mk.fit_lmm(f"Reaction ~ Days + {TOUCH} + (1 | Subject)", ss, safe_formula=True)
    with pytest.raises(mk.FormulaError, match=r"re_formula .~I\(__import__"):
        mk.fit_lmm("Reaction ~ Days", ss, groups="Subject", re_formula=f"~{TOUCH}",
                   safe_formula=True)
    with pytest.raises(mk.FormulaError, match=r"vc_formula\['d'\] .0 \+ I\(__import__"):
        mk.fit_lmm("Reaction ~ Days", ss, groups="Subject", vc_formula={"d": f"0 + {TOUCH}"},
                   safe_formula=True)
    assert not (tmp_path / "pwned").exists()


def test_fit_lmm_with_a_safe_formula_fits_as_usual(ss):
    formula = "np.log(Reaction) ~ Days + I(Days**2) + (Days || Subject)"
    safe = mk.fit_lmm(formula, ss, safe_formula=True)
    plain = mk.fit_lmm(formula, ss)
    assert safe.loglik == pytest.approx(plain.loglik, rel=1e-12)
    renamed = ss.rename(columns={"Days": "days of sleep", "Subject": "Sepal.Length"})
    fit = mk.fit_lmm("Reaction ~ `days of sleep` + (1 | Sepal.Length)", renamed,
                     safe_formula=True)
    assert fit.n_groups == {"Sepal.Length": 18}


def test_fit_lmm_default_still_takes_any_patsy_call(ss):
    fit = mk.fit_lmm("Reaction ~ np.square(Days) + (1 | Subject)", ss)
    assert "np.square(Days)" in fit.fixed_effects["term"].tolist()
    with pytest.raises(mk.FormulaError, match=r"the call np\.square\(\.\.\.\)"):
        mk.fit_lmm("Reaction ~ np.square(Days) + (1 | Subject)", ss, safe_formula=True)


def test_the_translated_formula_is_checked_too():
    # a second line of defence: the texts mixedkit hands to patsy are checked again
    names = NameMap({"y": "y", "my x": "_mk1_"})
    bad = SimpleNamespace(parsed=SimpleNamespace(fixed_formula="y ~ _mk1_ + eval('1')"),
                          random=(), names=names)
    with pytest.raises(mk.FormulaError, match=r"formula .y ~ my x \+ eval\('1'\).: the call eval"):
        check_translated(bad)
    term = SimpleNamespace(exprs=("x.__class__",), re_formula="1 + x.__class__")
    bad = SimpleNamespace(parsed=SimpleNamespace(fixed_formula="y ~ 1"), random=(term,),
                          names=names)
    with pytest.raises(mk.FormulaError, match=r"attribute access 'x\.__class__'"):
        check_translated(bad)


# --- command line --------------------------------------------------------------------------

@pytest.fixture
def csv(tmp_path) -> Path:
    path = tmp_path / "sleep.csv"
    mk.load_dataset("sleepstudy").to_csv(path, index=False)
    return path


def test_console_script_refuses_code_in_one_line_and_runs_nothing(csv, tmp_path):
    formula = f"Reaction ~ Days + {TOUCH} + (1 | Subject)"
    exe = Path(sys.executable).parent / "mixedkit"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "mixedkit"]
    out = subprocess.run([*cmd, "fit", str(csv), formula], capture_output=True, text=True,
                         timeout=300, check=False, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith("mixedkit: error: formula ") and out.stderr.count("\n") == 1
    assert "the call __import__('os').system(...) is not allowed" in out.stderr
    assert "--trusted-formula" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("command", [
    ["fit", "{csv}", "{bad}"],
    ["check", "{csv}", "{bad}"],
    ["compare", "{csv}", "Reaction ~ Days + (1 | Subject)", "{bad}"],
    ["anova", "{csv}", "{bad}"],
    ["means", "{csv}", "{bad}", "Days"],
])
def test_every_command_checks_the_formula(command, csv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    bad = f"Reaction ~ Days + {TOUCH} + (1 | Subject)"
    args = [a.replace("{csv}", str(csv)).replace("{bad}", bad) for a in command]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("mixedkit: error: formula ") and "__import__" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "pwned").exists()


def test_trusted_formula_lets_a_benign_call_through(csv, capsys):
    formula = "Reaction ~ np.square(Days) + (1 | Subject)"
    assert main(["fit", str(csv), formula]) == 2
    assert "the call np.square(...) is not allowed" in capsys.readouterr().err
    assert main(["fit", str(csv), formula, "--trusted-formula", "--json"]) == 0
    assert "np.square(Days)" in capsys.readouterr().out
    assert main(["check", str(csv), formula, "--trusted-formula"]) == 0


def test_bare_dotted_column_names_pass_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "iris_like.csv"
    mk.load_dataset("sleepstudy").rename(columns={"Days": "Sleep.Days"}).to_csv(path, index=False)
    assert main(["check", str(path), "Reaction ~ Sleep.Days + (1 | Subject)"]) == 0
    assert main(["fit", str(path), "Reaction ~ Sleep.Days + (1 | Subject)", "--json"]) == 0
    assert '"term": "Sleep.Days"' in capsys.readouterr().out
