"""The sympy side of grading: LaTeX leaves to canons. Runs only inside grading worker processes.

LaTeX is parsed by latex2sympy2_extended (after its own malformed-operator fixes such as
``\\frac12`` and ``\\sqrt2``); the sympy object is then reduced to a canon (see
`harness.grading.compare`): exact rationals stay exact, other constants are evaluated to 60 digits,
expressions in symbols are evaluated at fixed points. Huge numbers are refused before sympy
tries to build them.

Importing this module warms the parser up (ANTLR builds its lookahead tables on first use, which
costs ~0.4 s): the pool's server imports it once and forks its workers from there, so every
worker, restarted ones included, starts warm.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import sympy
from latex2sympy2_extended.latex2sympy2 import NormalizationConfig, latex2sympy, normalize_latex

from harness.grading.canonical import NeedSympy, canon, fast_leaf, var_name
from harness.grading.compare import ABS_TOL, N_POINTS, ZERO, Canon, Rejected, equation, interval, point_value

PRECISION = 60  # digits for evaluating constants and expressions
SNAP_DENOMINATOR = 10**6  # a constant within 1e-40 of p/q with q <= this *is* p/q (log_2 8 = 3)
SNAP_TOL = Fraction(1, 10**40)
MAX_DIGITS = 10_000  # refuse numbers with more digits than this before sympy builds them

_FIX_OPERATORS = NormalizationConfig(
    basic_latex=False, units=False, malformed_operators=True, nits=False, boxed="none", equations=False
)
# Decimal literals become exact fractions before parsing, so sympy never sees a Float.
_DECIMAL = re.compile(r"(?<![\d.])(\d*)\.(\d+)(?![\d.])")


class _Unevaluable(Exception):
    pass


def canon_many(strings: tuple[str, ...]) -> tuple[Canon, ...]:
    """Worker entry point: the canon of each normalised string, or ("fail", reason)."""
    out = []
    for s in strings:
        try:
            out.append(canon(s, sympy_leaf))
        except (Rejected, RecursionError):
            out.append(("fail", "guard"))
        except Exception:  # any parser error means "not an answer we can read"
            out.append(("fail", "parse"))
    return tuple(out)


def sympy_leaf(s: str) -> Canon:
    try:
        return fast_leaf(s)
    except NeedSympy:
        pass
    return from_sympy(_parse(s))


def _parse(s: str) -> object:
    latex = normalize_latex(s, _FIX_OPERATORS)
    # No braces around the fraction: "{...}" would read as a set (and is 20x slower to parse).
    latex = _DECIMAL.sub(lambda m: f"\\frac{{{m.group(1)}{m.group(2)}}}{{1{'0' * len(m.group(2))}}}", latex)
    return latex2sympy(latex, normalization_config=None)


def _fraction(x: sympy.Basic) -> Fraction:
    """The exact value of a sympy Rational or Float."""
    if x.is_Rational:
        return Fraction(int(x.p), int(x.q))
    if isinstance(x, sympy.Float) and x.is_finite:
        sign, man, exp, _ = x._mpf_
        value = Fraction(man) * (Fraction(2) ** exp)
        return -value if sign else value
    raise _Unevaluable(str(x))


def _magnitude(e: sympy.Basic) -> float:
    """An upper bound on the decimal digits of a numeric subtree (symbols count as small)."""
    if e.is_Rational:
        return math.log10(max(abs(int(e.p)), abs(int(e.q)), 1))
    if e.is_Pow:
        base, exp = e.args
        digits = _magnitude(exp)
        if digits > 7:
            return math.inf
        # The exponent is known to be small, so evaluating it is safe and makes 2^{1000} pass.
        size = abs(complex(exp.evalf(15))) if exp.is_number else 10**digits
        return size * _magnitude(base)
    if isinstance(e, (sympy.factorial, sympy.factorial2, sympy.gamma)):
        digits = _magnitude(e.args[0])
        return math.inf if digits > 6 else 10**digits * digits
    return sum(_magnitude(a) for a in e.args) + 1


def from_sympy(obj: object) -> Canon:  # one case per kind of sympy object
    if isinstance(obj, sympy.MatrixBase):
        entries = tuple(from_sympy(x) for x in obj)
        return ("tuple", entries) if 1 in obj.shape else ("matrix", tuple(obj.shape), entries)
    if isinstance(obj, sympy.Tuple):
        return ("tuple", tuple(from_sympy(x) for x in obj.args))
    if isinstance(obj, sympy.FiniteSet):
        return ("set", tuple(from_sympy(x) for x in obj.args))
    if obj is sympy.S.EmptySet:
        return ("set", ())
    if isinstance(obj, sympy.Interval):
        return interval(from_sympy(obj.start), from_sympy(obj.end), bool(obj.left_open), bool(obj.right_open))
    if isinstance(obj, sympy.Union):
        return ("union", tuple(from_sympy(x) for x in obj.args))
    if isinstance(obj, sympy.Eq):
        return equation(from_sympy(obj.lhs), from_sympy(obj.rhs))
    if isinstance(obj, (sympy.core.relational.Relational, sympy.And)):
        if len(obj.free_symbols) != 1:
            raise Rejected("relation in several variables")
        return from_sympy(obj.as_set())
    if not isinstance(obj, sympy.Expr):
        raise Rejected(f"unsupported {type(obj).__name__}")
    if _magnitude(obj) > MAX_DIGITS:
        raise Rejected("number too large")
    expr = obj.xreplace({s: sympy.I for s in obj.atoms(sympy.Symbol) if s.name == "i"}).doit()
    if isinstance(expr, sympy.Symbol):
        return ("text", var_name(expr.name))
    if expr in (sympy.oo, -sympy.oo):
        return ("inf", 1 if expr == sympy.oo else -1)
    if expr.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
        raise Rejected("not finite")
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    if not symbols:
        return _number(expr)
    try:
        values = tuple(_evaluate(expr, symbols, k) for k in range(N_POINTS))
    except _Unevaluable:
        return ("sym", sympy.srepr(expr))
    return ("expr", tuple(var_name(s.name) for s in symbols), values)


def _number(expr: sympy.Expr) -> Canon:
    if expr.is_Rational:
        return ("num", _fraction(expr), ZERO)
    value = _evaluate(expr, [], 0)
    if value is None:
        raise Rejected("not finite")
    snapped = [_snap(part) for part in value]
    if snapped[0] is not None and snapped[1] is not None:
        return ("num", snapped[0], snapped[1])
    return ("approx", value[0], value[1])


def _snap(x: Fraction) -> Fraction | None:
    r = x.limit_denominator(SNAP_DENOMINATOR)
    return r if abs(x - r) <= SNAP_TOL * max(1, abs(x)) else None


def _evaluate(expr: sympy.Expr, symbols: list, k: int) -> tuple[Fraction, Fraction] | None:
    """(re, im) of expr at point k, None where it is not finite there."""
    subs = {s: sympy.Rational(point_value(var_name(s.name), k)) for s in symbols}
    value = expr.evalf(PRECISION, subs=subs) if subs else expr.evalf(PRECISION)
    if not value.is_number:
        raise _Unevaluable(str(value))
    if value.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
        return None
    re_part, im_part = value.as_real_imag()
    pair = (_fraction(re_part), _fraction(im_part))
    return tuple(ZERO if abs(x) <= ABS_TOL * ABS_TOL else x for x in pair)  # type: ignore[return-value]


def _warm_up() -> None:
    canon_many((
        r"x^2+\frac{\sqrt{3}}{2}\pi-\sin(x)", r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", r"2\sqrt{5}+1", r"1+2i",
        r"\cot x", r"\frac{11+9a}{20}", r"(a+5)(b+2)", r"3r^2", r"\log_2 8", r"6.5+1", r"a_1x^{-2}", r"2516_8",
        r"\frac{\pi^2}{8}", r"\sqrt[3]{2}", r"3!\times5!", r"\binom{5}{2}", r"|x-1|", r"\tan^{-1}(x)", r"e^{i\pi}",
        r"15\text{cm}^2", r"\dfrac{x}{y}\cdot z", r"\left(x+1\right)^{2}", r"2\pi r", r"x^{\frac{1}{2}}",
    ))


_warm_up()
