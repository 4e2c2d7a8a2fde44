"""Canons of math answers: what they are, and how two compare.

A *canon* is the small picklable tuple ``(kind, ...)`` that `harness.grading.canonical` makes of an
answer string (with sympy's help for some leaves, in `harness.grading.symbolic`):

=========  ==========================================================================
num        ("num", re, im) exact Fractions: integers, decimals, fractions, exact complex
approx     ("approx", re, im) a closed form with an irrational value (sqrt 2, pi), to ~50 digits
expr       ("expr", symbols, values) an expression in symbols, by its values at fixed points
eq         ("eq", symbols, values) an equation lhs = rhs, by the values of lhs-rhs up to scale
assign     ("assign", name, canon) a named answer: ``x = 3``, ``(p, q) = (3, 2)``, ``AB = 4``, ``f(3) = 7``
text       ("text", str) a word answer or a choice letter, lower case
sym        ("sym", str) an expression sympy can parse but not evaluate (unknown functions)
inf        ("inf", +1 | -1)
pct        ("pct", num | approx) a number written with a percent sign: equal to the number and to its hundredth
tuple / set / list / union   (kind, members); list = bare "a, b", compared like a set
interval   ("interval", lo, hi, lo_open, hi_open); an open (a, b) is the tuple (a, b)
matrix     ("matrix", (rows, cols), entries); a vector is a tuple
fail       ("fail", reason) no canon: "parse", "guard", "timeout" or "crash"
=========  ==========================================================================

Numbers a person writes (0.33, 1.414) stay exact rationals, so 0.33 != 1/3 and a decimal is
never equal to a surd; a float printout of a fraction (0.0833333333333333, ten or more digits)
is that fraction (`harness.grading.canonical.decimal_value`). Only values of irrational closed
forms are compared, to 25 digits.
Expressions in symbols are compared by their values at fixed points that depend only on the
symbol's name, so the same point values serve every expression, equation and assignment.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction

Canon = tuple

N_POINTS = 3  # evaluation points for expressions in symbols
REL_TOL = Fraction(1, 10**25)
ABS_TOL = Fraction(1, 10**30)
ZERO = Fraction(0)


class Rejected(Exception):
    """A guard refused the input (too long, too deep, huge numbers) or it is not an answer."""


def interval(lo: Canon, hi: Canon, lo_open: bool, hi_open: bool) -> Canon:
    """An interval canon; (a, b) open at both ends is the same object as the pair (a, b)."""
    lo_open = lo_open or lo == ("inf", -1)
    hi_open = hi_open or hi == ("inf", 1)
    if lo_open and hi_open:
        return ("tuple", (lo, hi))
    return ("interval", lo, hi, lo_open, hi_open)


# ---------------------------------------------------------------- points and equations

def point_value(name: str, k: int) -> Fraction:
    """The value of symbol `name` at evaluation point k: fixed, name-dependent, away from poles."""
    h = int.from_bytes(hashlib.blake2b(f"{name}:{k}".encode(), digest_size=8).digest(), "big")
    value = Fraction(200 + h % 2800, 997)
    return -value if (h >> 40) & 1 else value


def _values(c: Canon) -> tuple[tuple[str, ...], list]:
    """Symbols and per-point (re, im) values of a scalar canon."""
    if c[0] in ("num", "approx"):
        return (), [(c[1], c[2])] * N_POINTS
    if c[0] == "expr":
        return c[1], list(c[2])
    if c[0] == "assign":
        return _values(assign_as_equation(c))
    raise Rejected(f"not a scalar: {c[0]}")


def equation(lhs: Canon, rhs: Canon) -> Canon:
    """lhs = rhs as the values of lhs - rhs, scaled so the first nonzero one is 1."""
    lsyms, lvals = _values(lhs)
    rsyms, rvals = _values(rhs)
    syms = tuple(sorted(set(lsyms) | set(rsyms)))
    if not syms:  # "2 + 3 = 5": a computation whose result is the answer
        return rhs
    diff = [None if a is None or b is None else (a[0] - b[0], a[1] - b[1]) for a, b in zip(lvals, rvals)]
    scale = next((v for v in diff if v is not None and max(abs(v[0]), abs(v[1])) > ABS_TOL), None)
    if scale is not None:
        den = scale[0] ** 2 + scale[1] ** 2
        diff = [None if v is None else ((v[0] * scale[0] + v[1] * scale[1]) / den,
                                        (v[1] * scale[0] - v[0] * scale[1]) / den) for v in diff]
    return ("eq", syms, tuple(diff))


def assign_as_equation(c: Canon) -> Canon:
    var = ("expr", (c[1],), tuple((point_value(c[1], k), ZERO) for k in range(N_POINTS)))
    return equation(var, c[2])


# ---------------------------------------------------------------- comparison

def _close(a: Fraction, b: Fraction) -> bool:
    d = abs(a - b)
    return d <= ABS_TOL or d <= REL_TOL * max(abs(a), abs(b))


def _close_values(xs: tuple, ys: tuple) -> bool:
    return len(xs) == len(ys) and all(
        (x is None and y is None) or (x is not None and y is not None and _close(x[0], y[0]) and _close(x[1], y[1]))
        for x, y in zip(xs, ys)
    )


def _same_members(xs: tuple, ys: tuple) -> bool:
    return all(any(canon_equal(x, y) for y in ys) for x in xs) and all(
        any(canon_equal(x, y) for x in xs) for y in ys
    )


def _hundredth(c: Canon) -> Canon:
    """A number written with a percent sign, read as a fraction: 10% -> 0.1."""
    return (c[0], c[1] / 100, c[2] / 100)


_CONTAINERS = ("set", "list", "union", "tuple", "interval", "matrix")


def canon_equal(a: Canon, b: Canon) -> bool:  # one case per kind
    """Equivalence of two canons (gold and prediction play the same role)."""
    ka, kb = a[0], b[0]
    if ka == "pct" or kb == "pct":
        if ka == kb:
            return canon_equal(a[1], b[1])
        pct, other = (a, b) if ka == "pct" else (b, a)
        return canon_equal(pct[1], other) or canon_equal(_hundredth(pct[1]), other)
    if ka == "assign" or kb == "assign":
        if ka == kb:
            if a[1] == b[1]:
                return canon_equal(a[2], b[2])
            return canon_equal(assign_as_equation(a), assign_as_equation(b))
        assign, other = (a, b) if ka == "assign" else (b, a)
        if other[0] == "eq":
            return canon_equal(assign_as_equation(assign), other)
        return canon_equal(assign[2], other)
    # {5} = 5, and "15\frac{39}{40}, or \frac{639}{40}" (one value written twice) = 639/40.
    if ka in ("set", "list") and kb not in _CONTAINERS:
        return _same_members(a[1], (b,))
    if kb in ("set", "list") and ka not in _CONTAINERS:
        return _same_members((a,), b[1])
    if ka != kb:
        if {ka, kb} == {"list", "tuple"}:
            return len(a[1]) == len(b[1]) and all(map(canon_equal, a[1], b[1]))
        return {ka, kb} == {"list", "set"} and _same_members(a[1], b[1])
    if ka == "num":
        return a[1] == b[1] and a[2] == b[2]
    if ka == "approx":
        return _close(a[1], b[1]) and _close(a[2], b[2])
    if ka in ("expr", "eq"):
        return a[1] == b[1] and _close_values(a[2], b[2])
    if ka in ("tuple", "matrix"):
        return a[1:-1] == b[1:-1] and len(a[-1]) == len(b[-1]) and all(map(canon_equal, a[-1], b[-1]))
    if ka in ("set", "list", "union"):
        return _same_members(a[1], b[1])
    if ka == "interval":
        return a[3:] == b[3:] and canon_equal(a[1], b[1]) and canon_equal(a[2], b[2])
    return a == b  # text, sym, inf
