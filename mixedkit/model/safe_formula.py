"""Safe formulas: refuse code in formula text that comes from outside.

patsy evaluates every term of a formula as Python (``eval``), so a formula typed into a
web form, read from a configuration file or passed on the command line can run anything:
``y ~ I(__import__('os').system('rm -rf ~')) + (1 | g)``. :func:`~mixedkit.check_formula` reads
the formula the way mixedkit and patsy will, before anything is evaluated, and accepts
only column names, numbers, arithmetic and comparisons inside calls, and an allow-list of
transforms (:data:`ALLOWED`). ``fit_lmm(..., safe_formula=True)`` runs it first, and the
command line runs it unless ``--trusted-formula`` is given.

How the text is read:

1. Column names in backticks or ``Q("...")`` are replaced by placeholders with the same
   tokenizer mixedkit uses (:mod:`mixedkit.model.formula`); given the data's columns, bare
   names that are columns (``Sepal.Length``, ``yield``) are too, as mixedkit does.
2. The rest is split the way patsy splits a formula: the operators ``~ + - * / : **``
   (and lme4's ``|``, ``||``) and parentheses at formula level separate the Python
   expressions patsy will ``eval``; a ``(`` inside an expression (a call) belongs to it.
3. Each expression is parsed with :mod:`ast` (never compiled or run) and walked:
   anything not on the allow-list is refused with a :class:`~mixedkit.FormulaError`
   that names the construct and lists what is allowed.

String literals are accepted only as arguments (``levels=``, ``reference=``, comparisons)
and only in plain quotes without brackets, quotes or backslashes inside, so that
mixedkit's own term splitting (which does not read strings) and patsy's tokenizer cut
the text at the same places.
"""

from __future__ import annotations

import ast
import io
import itertools
import keyword
import re
import tokenize
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import FormulaError, InputTypeError
from .formula import TOKEN, NameMap

__all__ = ["ALLOWED", "check_formula"]

_NUMPY = ("log", "log2", "log10", "log1p", "exp", "sqrt", "abs")


@dataclass(frozen=True)
class _Signature:
    """Parameters of an allowed call: the first takes data, the others literal options."""

    params: tuple[str, ...]
    data: tuple[str, ...] = ("x",)  # parameters that take a column expression
    varargs: bool = False  # te(smooth, smooth, ..., constraints=)


_SPLINE = ("x", "df", "knots", "lower_bound", "upper_bound", "constraints")
_STANDARDIZE = _Signature(("x", "center", "rescale", "ddof"))
# patsy's builtins (patsy.builtins.__all__ minus ContrastMatrix): there is no poly().
_CALLS: dict[str, _Signature] = {
    "C": _Signature(("data", "contrast", "levels"), data=("data",)),
    "I": _Signature(("x",)),
    "center": _Signature(("x",)),
    "standardize": _STANDARDIZE,
    "scale": _STANDARDIZE,
    "bs": _Signature(("x", "df", "knots", "degree", "include_intercept", "lower_bound",
                      "upper_bound")),
    "cr": _Signature(_SPLINE),
    "cc": _Signature(_SPLINE),
    "te": _Signature(("constraints",), data=(), varargs=True),
}
_CONTRASTS: dict[str, tuple[str, ...]] = {
    "Treatment": ("reference",), "Sum": ("omit",), "Poly": ("scores",), "Diff": (),
    "Helmert": (),
}

#: What a checked formula may contain (shown in every refusal).
#: What :func:`~mixedkit.check_formula` accepts, in words (its error messages quote this text).
ALLOWED = (
    "column names (plain, `in backticks` or Q(\"...\")), numbers, "
    "+ - * / ** and comparisons inside calls, "
    f"C(x) and C(x, contrast) with the contrasts {', '.join(_CONTRASTS)} "
    "(e.g. C(x, Treatment(reference='b')), C(x, levels=['b', 'a'])), I(...), "
    f"{', '.join('np.' + f for f in _NUMPY)}, "
    "center, standardize, scale, bs, cr, cc, te"
)
_FIX = ("if the formula is your own, skip the check: fit_lmm(..., safe_formula=False), "
        "or --trusted-formula on the command line.")

# patsy's formula operators, and lme4's bar (`||` is read as two bars).
# mmrm's residual structure terms, names only: us(visit | subject), ar1(visit | arm/subject)
_STRUCTURE_TERM = re.compile(
    r"(us|cs|csh|ar1|ar1h|toep|toeph|ad|adh|sp_exp)\s*\(\s*[A-Za-z_]\w*\s*\|\s*"
    r"(?:[A-Za-z_]\w*\s*/\s*)?[A-Za-z_]\w*\s*\)")
_OPERATORS = frozenset({"~", "+", "-", "*", "/", ":", "**", "|"})
_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_COMPARISONS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
_SYMBOLS = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.BitOr: "|", ast.BitAnd: "&",
            ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>", ast.Not: "not", ast.Invert: "~",
            ast.And: "and", ast.Or: "or", ast.In: "in", ast.NotIn: "not in", ast.Is: "is",
            ast.IsNot: "is not", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
            ast.Eq: "==", ast.NotEq: "!=", ast.USub: "-", ast.UAdd: "+", **_ARITHMETIC}
_PLAIN_STRING = re.compile(r"""^(?:"[^"'\\()\[\]`]*"|'[^"'\\()\[\]`]*')$""")
_MAX_EXPONENT = 100
_MAX_DEPTH = 50

_CONSTRUCTS = {
    ast.Attribute: "attribute access",
    ast.Subscript: "a subscript (indexing)",
    ast.Slice: "a slice",
    ast.Lambda: "a lambda",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.NamedExpr: "an assignment expression (:=)",
    ast.Starred: "* unpacking",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.IfExp: "a conditional expression (if/else)",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class _Checker:
    """Check one formula text; every refusal names ``label`` (the argument)."""

    def __init__(self, formula: str, columns: Iterable | None, label: str):
        self.formula = formula
        self.label = label
        # columns mixedkit renames before patsy sees them (not Python names: `Sepal.Length`)
        self.renamed = None if columns is None else {
            name for name, safe in NameMap.for_columns(columns).safe.items() if safe != name}
        self.originals: dict[str, str] = {}
        self.source = ""  # the expression being walked (placeholders in)
        self.prefix = "_mkcol"  # of placeholders: a name not in the formula
        while self.prefix in formula:
            self.prefix += "x"

    # -- messages ---------------------------------------------------------------------
    def restore(self, text: str) -> str:
        for placeholder, original in self.originals.items():
            text = text.replace(placeholder, original)
        return text

    def refuse(self, what: str, why: str = "") -> FormulaError:
        why = f" ({why})" if why else ""
        shown = self.formula if len(self.formula) <= 200 else self.formula[:197] + "..."
        return FormulaError(
            f"{self.label} {shown!r}: {what} is not allowed in a checked formula{why}. "
            f"A checked formula may contain only {ALLOWED}. Rewrite the term with these; "
            f"{_FIX}"
        )

    def syntax_error(self, what: str, fix: str) -> FormulaError:
        """A formula that does not parse: said as such, as an unchecked fit says it, without
        the allow-list or the advice to skip the check (nothing in it is unsafe)."""
        shown = self.formula if len(self.formula) <= 200 else self.formula[:197] + "..."
        return FormulaError(f"{self.label}: {what} in {shown!r}; {fix}")

    def shown(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.source, node) or ast.unparse(node)
        text = self.restore(text)
        return text if len(text) <= 60 else text[:57] + "..."

    def refuse_node(self, node: ast.AST, why: str = "") -> FormulaError:
        """Refuse ``node``, named by what it is and shown as written."""
        seg = repr(self.shown(node))
        if isinstance(node, ast.Name):
            return self.refuse(f"the name {node.id!r}", why)
        if isinstance(node, ast.Call):
            if isinstance(node.func, (ast.Name, ast.Attribute)):
                return self.refuse(f"the call {self.shown(node.func)}(...)", why)
            return self.refuse_node(node.func, why)  # (lambda: ...)(), f()(), ...
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare)):
            ops = [node.op] if hasattr(node, "op") else node.ops
            op = next((op for op in ops if not isinstance(op, _COMPARISONS)), ops[0])
            sym = _SYMBOLS.get(type(op), type(op).__name__)
            return self.refuse(f"the operator {sym!r} in {seg}", why)
        if isinstance(node, ast.Constant):
            kind = "string" if isinstance(node.value, str) else "constant"
            return self.refuse(f"the {kind} {seg}", why)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and not why \
                and not node.attr.startswith("_"):
            why = "write a column name with a dot in backticks: `a.b`"
        kind = next((v for k, v in _CONSTRUCTS.items() if isinstance(node, k)),
                    type(node).__name__)
        return self.refuse(f"{kind} {seg}", why)

    # -- reading the text -------------------------------------------------------------
    def substitute(self) -> str:
        """The formula with column names in backticks / Q() (and known columns) replaced."""
        text = self.formula
        out: list[str] = []

        def placeholder(original: str) -> str:
            name = f"{self.prefix}{len(self.originals)}_"
            self.originals[name] = original
            return name

        for m in TOKEN.finditer(text):
            tok = m.group(0)
            if m.group("backtick") is not None or m.group("q") is not None:
                out.append(placeholder(tok))
            elif m.group("ident") is not None and self._bare_column(tok, text[m.end():]):
                out.append(placeholder(tok))  # as mixedkit reads a bare column name
            else:
                out.append(tok)
        return "".join(out)

    def _bare_column(self, tok: str, rest: str) -> bool:
        """Whether mixedkit replaces the bare word ``tok`` by a placeholder column name."""
        return (self.renamed is not None and tok in self.renamed
                and not rest.lstrip().startswith("("))  # not a call

    def tokens(self, text: str) -> tuple[list[tokenize.TokenInfo], bool]:
        """Python's tokens of ``text`` (as patsy reads it), and whether a bracket is open."""
        tokens = []
        try:
            stream = tokenize.generate_tokens(io.StringIO(text).readline)
            for tok in stream:
                if tok.type == tokenize.ENDMARKER:
                    break
                if tok.type in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                tokenize.DEDENT) or tok.string.isspace():
                    continue
                if tok.type == tokenize.COMMENT:
                    raise self.refuse("a comment (#)")
                if tok.type == tokenize.STRING:
                    self.check_string(tok.string)
                elif tok.type not in (tokenize.NAME, tokenize.NUMBER, tokenize.OP):
                    if tokenize.tok_name.get(tok.type, "") == "FSTRING_START":
                        # Python 3.12+ splits an f-string into tokens: refuse it whole,
                        # named as the string token of earlier Pythons names it
                        self.check_string(_whole_fstring(text, tok, stream))
                    if tokenize.tok_name.get(tok.type, "").startswith("FSTRING"):
                        raise self.refuse("an f-string")
                    raise self.refuse(f"the character {self.restore(tok.string)!r}",
                                      "an unterminated string, or a symbol formulas do not use")
                tokens.append(tok)
        except (tokenize.TokenError, SyntaxError):
            return tokens, True  # Python's tokenizer stops at the end with a bracket open
        return tokens, False

    def expressions(self, text: str) -> list[tuple[int, int]]:
        """Spans of the Python expressions in ``text``, split as patsy splits a formula.

        Formula operators and formula-level parentheses separate expressions; an
        expression runs to the next operator or ``)`` outside its own brackets.
        """
        tokens, unclosed = self.tokens(text)
        spans: list[tuple[int, int]] = []
        depth, i = 0, 0
        while i < len(tokens):
            s = tokens[i].string
            if s in _OPERATORS or s in ("(", ")"):
                depth += {"(": 1, ")": -1}.get(s, 0)
                if depth < 0:
                    raise self.syntax_error("unbalanced ')'", "open every parenthesis you close")
                i += 1
                continue
            start, level = tokens[i].start[1], 0
            end = start
            while i < len(tokens):
                s = tokens[i].string
                if level == 0 and (s in _OPERATORS or s == ")"):
                    break
                if s in ("(", "[", "{"):
                    level += 1
                elif s in (")", "]", "}"):
                    level -= 1
                    if level < 0:
                        raise self.syntax_error(f"unbalanced {s!r}", "open every bracket you close")
                end = tokens[i].end[1]
                i += 1
            spans.append((start, end))
        if depth or unclosed:
            raise self.syntax_error("unbalanced '(' or '['", "close every parenthesis")
        return spans

    def check_string(self, token: str) -> None:
        if _PLAIN_STRING.match(token):
            return
        if token[0] not in "'\"":
            raise self.refuse(f"the prefixed string {self.restore(token)}",
                              "f-strings, r'', b'' and u'' strings are refused")
        raise self.refuse(
            f"the string {self.restore(token)}",
            "strings may not contain quotes, backslashes, backticks, parentheses or brackets, "
            "nor be triple-quoted"
        )

    def run(self) -> None:
        text = self.substitute().replace("\n", " ").strip()  # patsy joins lines the same way
        if "\\" in text:
            raise self.refuse("a backslash (\\)")
        for ch in dict.fromkeys(text):
            if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch != "\t":
                raise self.refuse(f"the invisible or control character {ch!r}")
        for start, end in self.expressions(text):
            self.source = text[start:end]
            if _STRUCTURE_TERM.fullmatch(self.source.strip()):
                continue  # us(visit | subject): names only; the parser says what becomes of it
            try:
                self.term(self.parse())
            except RecursionError:
                raise self.refuse(repr(self.restore(self.source)[:60]),
                                  "nested too deeply") from None

    def parse(self) -> ast.AST:
        """The expression's syntax tree (parsed, never compiled or run)."""
        try:
            return _parse(self.source)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
            what = getattr(err, "msg", None) or str(err)
        if self.renamed is None:
            # Without the columns, a Python keyword standing alone can only be a column
            # name (`yield ~ x`), as mixedkit reads it: try it as a name.
            renamed = self.keywords_as_names(self.source)
            if renamed != self.source:
                self.source = renamed
                try:
                    return _parse(self.source)
                except (SyntaxError, ValueError, RecursionError, MemoryError):
                    pass
        raise self.syntax_error(f"{self.restore(self.source)!r} is not a valid term ({what})",
                                "correct its syntax")

    def keywords_as_names(self, source: str) -> str:
        out, pos = [], 0
        tokens = self.tokens(source)[0]
        for k, tok in enumerate(tokens):
            nxt = tokens[k + 1].string if k + 1 < len(tokens) else ""
            if tok.type == tokenize.NAME and keyword.iskeyword(tok.string) \
                    and tok.string not in ("True", "False", "None") and nxt != "(":
                name = f"{self.prefix}{len(self.originals)}_"
                self.originals[name] = tok.string
                out += [source[pos:tok.start[1]], name]
                pos = tok.end[1]
        return "".join(out) + source[pos:]

    # -- walking an expression --------------------------------------------------------
    def term(self, node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            raise self.refuse_node(node, "a string can only be an argument of a call, such "
                                         "as C(x, Treatment(reference='b'))")
        self.value(node, 0)

    def name(self, node: ast.Name) -> None:
        if node.id.startswith("__"):
            raise self.refuse_node(node, "names starting with '__' are refused; write such "
                                         "a column name in backticks")

    def value(self, node: ast.AST, depth: int) -> None:
        """A column expression: name, number, arithmetic, comparison or allowed call."""
        if depth > _MAX_DEPTH:
            raise self.refuse(repr(self.shown(node)), "nested too deeply")
        depth += 1
        if isinstance(node, ast.Name):
            self.name(node)
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
            pass
        elif isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            if isinstance(node.op, ast.Pow):
                self.power(node, depth)
            else:
                self.value(node.left, depth)
                self.value(node.right, depth)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            self.value(node.operand, depth)
        elif isinstance(node, ast.Compare) and all(isinstance(op, _COMPARISONS)
                                                   for op in node.ops):
            for operand in (node.left, *node.comparators):
                if not (isinstance(operand, ast.Constant) and isinstance(operand.value, str)):
                    self.value(operand, depth)
        elif isinstance(node, ast.Call):
            self.call(node, depth)
        else:
            raise self.refuse_node(node)

    def power(self, node: ast.BinOp, depth: int) -> None:
        """``a ** k``: a number k in [-100, 100] and no power inside ``a`` (no 9**9**9)."""
        exponent = _number(node.right)
        if exponent is None or abs(exponent) > _MAX_EXPONENT:
            raise self.refuse(f"the power {self.shown(node)!r}",
                              f"the exponent must be a number between -{_MAX_EXPONENT} and "
                              f"{_MAX_EXPONENT}")
        if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow)
               for n in ast.walk(node.left)):
            raise self.refuse(f"the nested power {self.shown(node)!r}",
                              "write (a**2)**3 as a**6")
        self.value(node.left, depth)

    def literal(self, node: ast.AST, list_ok: bool = True) -> None:
        """An option: number, string, True/False/None, or a list/tuple of those."""
        if isinstance(node, ast.Constant) and (node.value is None
                                               or type(node.value) in (int, float, bool, str)):
            return
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) \
                and _number(node) is not None:
            return
        if list_ok and isinstance(node, (ast.List, ast.Tuple)):
            for item in node.elts:
                self.literal(item, list_ok=False)
            return
        raise self.refuse_node(node, "options such as levels=, reference=, df= or knots= "
                                     "take numbers, strings, True/False/None or a list of them")

    def contrast(self, node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and node.value is None:
            return
        if isinstance(node, ast.Name) and node.id in _CONTRASTS:
            return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in _CONTRASTS:
            params = _CONTRASTS[node.func.id]
            for arg, _ in self.arguments(node, params, varargs=False):
                self.literal(arg)
            return
        raise self.refuse(f"the contrast {self.shown(node)!r} in C()",
                          f"use one of {', '.join(_CONTRASTS)}, e.g. C(x, Sum) or "
                          "C(x, Treatment(reference='b'))")

    def arguments(self, node: ast.Call, params: tuple[str, ...], varargs: bool):
        """(argument, parameter name) pairs; refuses *, ** and unknown keywords."""
        name = self.shown(node.func)
        pairs = []
        for i, arg in enumerate(node.args):
            if isinstance(arg, ast.Starred):
                raise self.refuse(f"* unpacking in {name}(...)")
            if varargs:
                pairs.append((arg, "*"))
            elif i < len(params):
                pairs.append((arg, params[i]))
            else:
                raise self.refuse(f"argument {i + 1} of {name}(...)",
                                  f"{name} takes at most {len(params)}: {', '.join(params)}")
        for kw in node.keywords:
            if kw.arg is None:
                raise self.refuse(f"** unpacking in {name}(...)")
            if kw.arg not in params:
                known = ", ".join(f"{p}=" for p in params) or "none"
                raise self.refuse(f"the keyword {kw.arg}= in {name}(...)",
                                  f"{name} takes the keywords: {known}")
            pairs.append((kw.value, kw.arg))
        return pairs

    def call(self, node: ast.Call, depth: int) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if isinstance(func.value, ast.Name) and func.value.id == "np" \
                    and func.attr in _NUMPY:
                if len(node.args) != 1 or node.keywords \
                        or isinstance(node.args[0], ast.Starred):
                    raise self.refuse(repr(self.shown(node)),
                                      f"np.{func.attr} takes one argument and no keywords")
                self.value(node.args[0], depth)
                return
            raise self.refuse_node(node)
        if not isinstance(func, ast.Name):
            raise self.refuse_node(node)
        if func.id == "Q":
            if len(node.args) == 1 and not node.keywords \
                    and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                return
            raise self.refuse(repr(self.shown(node)), 'Q takes one quoted column name: Q("name")')
        if func.id in _CONTRASTS:
            raise self.refuse(f"the contrast {self.shown(node)!r} outside C()",
                              f"use it as C(x, {func.id}(...))")
        sig = _CALLS.get(func.id)
        if sig is None:
            raise self.refuse_node(node)
        pairs = self.arguments(node, sig.params, sig.varargs)
        if not any(p == "*" or p in sig.data for _, p in pairs):
            raise self.refuse(repr(self.shown(node)), f"{func.id}() needs a column to work on")
        for arg, param in pairs:
            if param == "*" or param in sig.data:
                self.value(arg, depth)
            elif param == "contrast":
                self.contrast(arg)
            else:
                self.literal(arg)


def _parse(source: str) -> ast.AST:
    with warnings.catch_warnings():  # "invalid decimal literal" and the like: refused anyway
        warnings.simplefilter("ignore", SyntaxWarning)
        return ast.parse(source, mode="eval").body


def _number(node: ast.AST) -> float | None:
    """The value of a numeric literal expression (+ - * / of numbers), else None."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _number(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp) and type(node.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div):
        a, b = _number(node.left), _number(node.right)
        if a is None or b is None or (isinstance(node.op, ast.Div) and b == 0):
            return None
        if isinstance(node.op, ast.Mult) and abs(a) > 1e6 and abs(b) > 1e6:
            return None  # no huge integers from products of literals
        return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b, ast.Div: a / b}[type(node.op)]
    return None


def check_formula(formula: str, *, columns: Iterable | None = None) -> None:
    """Refuse a formula that could run code when patsy evaluates it.

    For formulas that come from outside the program (a web form, a configuration file,
    the command line): patsy evaluates the terms of a formula as Python, so
    ``I(__import__('os').system('...'))`` would run. The formula is parsed, never
    evaluated, and only what :data:`~mixedkit.model.safe_formula.ALLOWED` lists is accepted.

    Parameters
    ----------
    formula : str
        An lme4-style formula, e.g. ``"np.log(Reaction) ~ Days + I(Days**2) + C(Evit, Sum)
        + (Days | Subject)"``; also a statsmodels ``re_formula`` such as ``"~Days"``.
    columns : sequence of str, optional
        The data's column names. Given them, bare names that are columns but not Python
        names (``Sepal.Length``, ``yield``) are read as columns, as :func:`fit_lmm` reads
        them; without them, write such names in backticks.

    Returns
    -------
    None
        The formula is accepted.

    Raises
    ------
    FormulaError
        Naming the refused call or construct and listing what is allowed: attribute
        access (other than ``np.log`` and the other allowed NumPy functions), names
        starting with ``__``, calls outside the allow-list (``eval``, ``open``,
        ``getattr``, ``__import__``, ...), lambdas, comprehensions, subscripts,
        f-strings, ``:=``, ``*``/``**`` unpacking, keywords a transform does not take,
        comments, strings outside call arguments, and powers other than ``x**k`` with
        a number ``|k| <= 100``.
    InputTypeError
        ``formula`` is not a string.

    Notes
    -----
    Allowed: column names (plain, in backticks or ``Q("...")``), numbers, ``+ - * / **``
    and comparisons inside calls, ``C(x)`` and ``C(x, contrast)`` with patsy's contrasts
    ``Treatment``, ``Sum``, ``Diff``, ``Helmert``, ``Poly`` (and their ``reference=``,
    ``omit=``, ``scores=``), ``C(x, levels=[...])``, ``I(...)``, ``np.log``, ``np.log2``,
    ``np.log10``, ``np.log1p``, ``np.exp``, ``np.sqrt``, ``np.abs`` and patsy's stateful
    transforms ``center``, ``standardize``, ``scale``, ``bs``, ``cr``, ``cc``, ``te``.
    patsy has no ``poly()``; R's ``log(x)`` is written ``np.log(x)``.

    The check is about code, not cost: arithmetic on a text column (``I(name * 1000000)``)
    can still use much memory.

    Examples
    --------
    >>> import mixedkit as mk
    >>> mk.check_formula("np.log(Reaction) ~ Days + I(Days**2) + (Days | Subject)")
    >>> mk.check_formula("Reaction ~ I(__import__('os').getcwd()) + (1 | Subject)")
    Traceback (most recent call last):
    ...
    mixedkit.errors.FormulaError: formula ...: the call __import__(...) is not allowed ...
    """
    _check(formula, columns, "formula")


def _check(text, columns, label: str) -> None:
    if not isinstance(text, str):
        raise InputTypeError(
            f"{label} must be a string such as 'y ~ x + (1 | group)'; got {type(text).__name__}"
        )
    _Checker(text, columns, label).run()


def check_model_formulas(formula, data, re_formula=None, vc_formula=None) -> None:
    """``fit_lmm(safe_formula=True)``: check every formula argument before parsing."""
    columns = getattr(data, "columns", None)
    _check(formula, columns, "formula")
    if isinstance(re_formula, str):
        _check(re_formula, columns, "re_formula")
    if isinstance(vc_formula, dict):
        for name, text in vc_formula.items():
            if isinstance(text, str):
                _check(text, columns, f"vc_formula[{name!r}]")


def check_translated(prep) -> None:
    """Check the exact texts patsy will evaluate, after mixedkit's translation.

    A second line of defence for ``safe_formula=True``: :func:`check_model_formulas`
    has accepted what the user wrote; this checks the fixed-effects formula and the
    random terms' formulas handed to patsy (column placeholders in).
    """
    texts = [prep.parsed.fixed_formula] + [t.re_formula for t in prep.random if t.exprs]
    for text in texts:
        try:
            _Checker(text, None, "formula").run()
        except FormulaError as err:
            raise FormulaError(prep.names.restore(str(err))) from None


def _whole_fstring(text: str, start, stream) -> str:
    """The f-string that begins at the ``FSTRING_START`` token ``start`` (Python 3.12+),
    read to its matching ``FSTRING_END`` from the token ``stream``."""
    depth = 1
    for tok in stream:
        name = tokenize.tok_name.get(tok.type, "")
        depth += {"FSTRING_START": 1, "FSTRING_END": -1}.get(name, 0)
        if depth == 0:
            lines = text.splitlines(keepends=True)
            offsets = [0, *itertools.accumulate(len(line) for line in lines)]
            return text[offsets[start.start[0] - 1] + start.start[1]:
                        offsets[tok.end[0] - 1] + tok.end[1]]
    return start.string
