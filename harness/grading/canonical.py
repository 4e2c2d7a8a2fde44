"""Canonical forms of normalised answers: their structure, and plain numbers without sympy.

A normalised answer (`harness.grading.normalization`) is split into its structure (lists,
tuples, intervals, sets, unions, ratios, labelled values, equations, inequalities) and each leaf
becomes a canon (see `harness.grading.compare`). The leaf parser is a parameter: the calling
process passes `fast_leaf` (numbers, fractions, mixed numbers, scientific notation, repeating
decimals; no sympy), the worker processes pass the sympy parser of `harness.grading.symbolic`, so
both build identical canons.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction
from math import isqrt

from harness.grading.compare import ZERO, Canon, Rejected, equation, interval
from harness.grading.normalization import MAX_LEN

Leaf = Callable[[str], Canon]

MAX_DEPTH = 24  # bracket nesting


class NeedSympy(Exception):
    """The fast leaf parser cannot handle this leaf; a worker must."""


# ---------------------------------------------------------------- structure

_OPEN, _CLOSE = "([{", ")]}"
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_BASE = re.compile(r"(\d[0-9A-Za-z]*)_\{?(\d{1,2})\}?")
_TEXT = re.compile(r"\\text\{([^{}]*)\}")
_WORDS = re.compile(r"[A-Za-z][A-Za-z ']*")
_CHOICE = re.compile(r"\(([A-Za-z])\)|([A-Z])\)?")
_SYMBOL = r"(?:[A-Za-z]|\\[a-zA-Z]+)(?:_\{?[A-Za-z0-9]+\}?)?"  # x, \alpha, a_1, V_{12}
_VAR = re.compile(rf"{_SYMBOL}|[A-Za-z]\([a-z]\)")
# What may stand left of "=" as the name of the answer rather than as part of an equation: a
# variable, a function value f(3), a segment AB (|AB|, an angle \angle ABC, a ratio of segments
# \frac{NO}{BO}), and tuples (p, q) or ratios V_1:V_2 of those.
_SEGMENT = r"[A-Z]{2,3}|\\overline\{[A-Z]{2}\}"
_NAME = (rf"{_SYMBOL}|[A-Za-z](?:\^\{{?-1\}}?)?\([^()=,]+\)|{_SEGMENT}|\|(?:{_SEGMENT})\|"
         rf"|\\angle ?[A-Z]{{1,3}}|\\frac\{{[A-Z]{{2,3}}\}}\{{[A-Z]{{2,3}}\}}")
_LABEL = re.compile(rf"(?:{_NAME})|\((?:{_NAME})(?:, ?(?:{_NAME}))+\)|(?:{_NAME})(?::(?:{_NAME}))+")
_IN = re.compile(rf"{_SYMBOL}\\in(?![a-zA-Z])")
_EQ = re.compile(r"(?<![<>!\\])=")
_PROSE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,} [a-zA-Z]{2,}")
_RATIO = re.compile(r"(?<!:):(?![:=])")
_INEQ = re.compile(r"\\le(?![a-zA-Z])|\\ge(?![a-zA-Z])|<|>")


def _depth_guard(s: str) -> None:
    depth = 0
    for ch in s:
        if ch in _OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise Rejected("nesting too deep")
        elif ch in _CLOSE:
            depth -= 1


def _group_end(s: str, start: int) -> int:
    """Index of the bracket closing the one at `start` (any bracket kinds), or -1."""
    depth = 0
    for i in range(start, len(s)):
        if s[i] in _OPEN:
            depth += 1
        elif s[i] in _CLOSE:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _split_top(s: str, sep: re.Pattern[str] | str) -> list[str]:
    """Split on `sep` where it is outside all brackets."""
    parts, depth, last, i = [], 0, 0, 0
    while i < len(s):
        ch = s[i]
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif depth == 0:
            m = sep.match(s, i) if isinstance(sep, re.Pattern) else None
            if m or (isinstance(sep, str) and s.startswith(sep, i)):
                end = m.end() if m else i + len(sep)
                if m is None or end > i:
                    parts.append(s[last:i])
                    last = i = end
                    continue
        i += 1
    parts.append(s[last:])
    return [p.strip() for p in parts]


def _expand_pm(item: str) -> list[str]:
    parts = _split_top(item, re.compile(r"\\(?:pm|mp)(?![a-zA-Z])"))
    if len(parts) != 2:
        return [item]
    return [f"{parts[0]}+{parts[1]}", f"{parts[0]}-{parts[1]}"]


def _text_answer(s: str) -> str | None:
    """A word answer or choice letter (lower case), else None."""
    m = _TEXT.fullmatch(s)
    inner = m.group(1).strip() if m else s
    m2 = _CHOICE.fullmatch(inner)
    if m2:
        return (m2.group(1) or m2.group(2)).lower()
    if _WORDS.fullmatch(inner) and (m or sum(c.isalpha() for c in inner) >= 2):
        return " ".join(inner.lower().split())
    if len(inner) == 1 and inner.isalpha() and inner not in "ei":  # e and i are numbers
        return inner.lower()
    return None


def var_name(var: str) -> str:
    """The symbol name latex2sympy gives a variable (lower case, no backslash, braces or spaces)."""
    return var.replace("\\", "").replace("{", "").replace("}", "").replace(" ", "").lower()


def canon(s: str, leaf: Leaf) -> Canon:
    """The canon of a normalised answer string; raises Rejected, NeedSympy or parser errors."""
    if not s:
        raise Rejected("empty")
    if len(s) > MAX_LEN:
        raise Rejected("too long")
    _depth_guard(s)
    return _canon(s, leaf)


def _members(items: list[str], leaf: Leaf) -> tuple[Canon, ...]:
    return tuple(_canon(x, leaf) for item in items for x in _expand_pm(item))


def _canon(s: str, leaf: Leaf) -> Canon:  # one flat dispatch on the answer's shape
    s = s.strip()
    while s.startswith("{") and _group_end(s, 0) == len(s) - 1:
        s = s[1:-1].strip()
    if not s:
        raise Rejected("empty")
    if s.endswith("%"):  # normalize() keeps a closing percent sign as this suffix
        value = _canon(s[:-1], leaf)
        return ("pct", value) if value[0] in ("num", "approx") else value
    text = _text_answer(s)
    if text is not None:
        return ("text", text)
    m = _TEXT.fullmatch(s)
    if m:
        return _canon(m.group(1), leaf)
    if _THOUSANDS.fullmatch(s):
        return ("num", Fraction(s.replace(",", "")), ZERO)
    m = _BASE.fullmatch(s)
    if m and 2 <= int(m.group(2)) <= 36:  # a numeral in base b: its digits are the answer
        digits = m.group(1)
        return ("num", Fraction(int(digits)), ZERO) if digits.isdigit() else ("text", digits.lower())
    parts = _split_top(s, "\\cup")
    if len(parts) > 1:
        return ("union", tuple(_canon(p, leaf) for p in parts))
    m = _IN.match(s)
    if m:
        return _canon(s[m.end() :], leaf)
    items = _split_top(s, ",")
    if len(items) > 1:
        return ("list", _members(items, leaf))
    if s[0] in "([" and s[-1] in ")]" and _group_end(s, 0) == len(s) - 1:
        items = _split_top(s[1:-1], ",")
        if len(items) == 1:
            return _canon(items[0], leaf)
        members = tuple(_canon(x, leaf) for x in items)
        if len(members) == 2 and not (s[0] == "(" and s[-1] == ")"):
            return interval(members[0], members[1], s[0] == "(", s[-1] == ")")
        return ("tuple", members)
    if s.startswith("\\{") and s.endswith("\\}") and _group_end(s, 1) == len(s) - 1:
        inner = s[2:-2].strip()
        return ("set", _members(_split_top(inner, ","), leaf) if inner else ())
    pm = _expand_pm(s)
    if len(pm) == 2:
        return ("set", tuple(_canon(x, leaf) for x in pm))
    sides = _split_top(s, _EQ)
    if len(sides) > 1:
        lhs, rhs = sides[0], sides[-1]
        if not lhs or not rhs:
            raise Rejected("equation with an empty side")
        if _LABEL.fullmatch(lhs):  # "x = 5", "(p, q) = (3, 2)", "AB = 4": a named answer
            return ("assign", var_name(lhs), _canon(rhs, leaf))
        return equation(_canon(lhs, leaf), _canon(rhs, leaf))
    ratio = _split_top(s, _RATIO)
    if len(ratio) == 2:  # "11:21" is the number 11/21
        return _ratio(_canon(ratio[0], leaf), _canon(ratio[1], leaf))
    if _INEQ.search(s):
        return _inequality(s, leaf)
    if _PROSE.search(s):  # "the larger of the two" is not an expression; spare the parser
        raise Rejected("prose")
    return leaf(s)


def _ratio(a: Canon, b: Canon) -> Canon:
    if a[0] != "num" or b[0] != "num" or a[2] or b[2] or not b[1]:
        raise Rejected("ratio of non-numbers")
    return ("num", a[1] / b[1], ZERO)


def _inequality(s: str, leaf: Leaf) -> Canon:
    """x > a, a <= x, a < x <= b (one variable) as the interval of solutions; any other
    relation goes to the leaf parser (sympy's solution set)."""
    ops = [m.group(0).strip() for m in _INEQ.finditer(s)]
    terms = [t.strip() for t in _INEQ.split(s)]
    if len(terms) != len(ops) + 1 or len(ops) > 2 or not all(terms):
        raise Rejected("inequality")
    var_at = [i for i, t in enumerate(terms) if _VAR.fullmatch(t)]
    if len(var_at) != 1 or (len(ops) == 2 and var_at != [1]):
        return leaf(s)  # "-x > -1", "1 \le |z|": sympy solves a relation in one variable
    less = [op in ("<", "\\le") for op in ops]
    if len(ops) == 2 and less[0] != less[1]:
        raise Rejected("inequality")
    bounds = [_canon(t, leaf) for i, t in enumerate(terms) if i != var_at[0]]
    strict = [op in ("<", ">") for op in ops]
    if len(ops) == 2:  # a < x < b (or b > x > a)
        lo, hi = (bounds[0], bounds[1]) if less[0] else (bounds[1], bounds[0])
        lo_open, hi_open = (strict[0], strict[1]) if less[0] else (strict[1], strict[0])
        return interval(lo, hi, lo_open, hi_open)
    upper = less[0] == (var_at[0] == 0)  # x < a or a > x: the bound is an upper bound
    if upper:
        return interval(("inf", -1), bounds[0], True, strict[0])
    return interval(bounds[0], ("inf", 1), strict[0], True)


# ---------------------------------------------------------------- fast leaves

_INT = r"[+-]?\d+"
_ARG = r"(?:\{\s*([+-]?\d+)\s*\}|(\d))"
_RE_DEC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_RE_REPEATING = re.compile(r"([+-]?)(\d*)\.(\d*)\\overline\{?(\d+)\}?")
_RE_SCI = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d{1,3})|(?:\\times|\\cdot|\*)10\^\{?([+-]?\d{1,3})\}?)")
_RE_FRAC = re.compile(rf"([+-]?)\\frac{_ARG}{_ARG}")
_RE_SLASH = re.compile(rf"({_INT})/(\d+)")
_RE_MIXED = re.compile(rf"([+-]?)(\d+)\\frac{_ARG}{_ARG}")


def _frac(num: str, den: str) -> Fraction:
    if int(den) == 0:
        raise Rejected("division by zero")
    return Fraction(int(num), int(den))


# A decimal this long is a machine printout (a float), not a person's rounding: it stands for
# the fraction it prints, when one with a small denominator lies less than a unit of its last
# digit (or double-precision noise) away.
LONG_DECIMAL_DIGITS = 10
_DOUBLE_EPS = Fraction(1, 2**52)


def decimal_value(s: str) -> Fraction:
    """The value of a decimal: exact, or the fraction a long decimal prints (docs/grading.md)."""
    value = Fraction(s)
    whole, _, decimals = s.lstrip("+-").partition(".")
    if not decimals or len((whole + decimals).lstrip("0")) < LONG_DECIMAL_DIGITS:
        return value
    window = max(Fraction(1, 10 ** len(decimals)), abs(value) * _DOUBLE_EPS)
    # Fractions with denominators up to this bound lie > 10^4 windows apart: a match is no accident.
    bound = max(1, isqrt(int(1 / window)) // 100)
    near = value.limit_denominator(bound)
    return near if abs(near - value) < window else value


def _repeating(m: re.Match[str]) -> Fraction:
    """0.08\\overline{3} = 1/12: the digits before the bar, then the repeating block."""
    sign, whole, fixed, block = m.groups()
    value = int(whole or 0) + Fraction(int(fixed + block) - int(fixed or 0), 10 ** len(fixed) * (10 ** len(block) - 1))
    return -value if sign == "-" else value


def fast_leaf(s: str) -> Canon:
    """Integers, decimals, scientific notation, fractions and mixed numbers without sympy."""
    if _RE_DEC.fullmatch(s):
        return ("num", decimal_value(s), ZERO)
    m = _RE_REPEATING.fullmatch(s)
    if m:
        return ("num", _repeating(m), ZERO)
    m = _RE_SCI.fullmatch(s)
    if m:
        return ("num", Fraction(m.group(1)) * Fraction(10) ** int(m.group(2) or m.group(3)), ZERO)
    m = _RE_FRAC.fullmatch(s)
    if m:
        value = _frac(m.group(2) or m.group(3), m.group(4) or m.group(5))
        return ("num", -value if m.group(1) == "-" else value, ZERO)
    m = _RE_SLASH.fullmatch(s)
    if m:
        return ("num", _frac(m.group(1), m.group(2)), ZERO)
    m = _RE_MIXED.fullmatch(s)
    if m:
        value = int(m.group(2)) + _frac(m.group(3) or m.group(4), m.group(5) or m.group(6))
        return ("num", -value if m.group(1) == "-" else value, ZERO)
    if s in ("\\infty", "+\\infty", "-\\infty"):
        return ("inf", -1 if s[0] == "-" else 1)
    raise NeedSympy(s)
