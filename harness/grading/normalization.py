"""Normalisation: formatting-only clean-up of an answer string, before any parsing.

Two answers with equal normalised strings are equivalent without parsing, and the normalised
string is the key every cache of canonical forms uses.
"""

from __future__ import annotations

import re
from functools import lru_cache

MAX_LEN = 400  # normalised characters; real answers are far shorter, parsers are super-linear

_UNICODE = str.maketrans({"−": "-", "–": "-", "×": r"\times ", "·": r"\cdot ", "π": r"\pi ",
                          "√": r"\sqrt", "∞": r"\infty ", "≤": r"\le ", "≥": r"\ge ", "°": ""})
_DELIMS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_SUBS = [
    (re.compile(r"(?<=\d)\s*\{\s*,\s*\}\s*(?=\d)"), ","),  # 14{,}916: a thousands separator as LaTeX writes it
    (re.compile(r"\\[dtc]frac(?![a-zA-Z])"), r"\\frac"),
    (re.compile(r"\\(?:left|right|[bB]igg?[lr]?)(?:\.|(?![a-zA-Z]))"), ""),
    (re.compile(r"\\(?:displaystyle|textstyle|quad|qquad)(?![a-zA-Z])"), " "),
    (re.compile(r",\\!\s*"), ","),  # 10,\!080: a thousands separator, whatever the spacing
    (re.compile(r"(?<!\\)\\[!,;:> ]|~"), " "),  # spacing, but not the row break \\
    (re.compile(r"\\(?:text(?:bf|it|rm|normal|sf)?|math(?:rm|bf|it|sf)|mbox)\s*\{"), r"\\text{"),
    (re.compile(r"\\text\{\s*([a-zA-Z])\s*\}"), r"\1"),  # \mathrm{i}, \text{e}: a letter in math
    (re.compile(r"\\imath(?![a-zA-Z])"), "i"),
    (re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])"), ""),
    (re.compile(r"\\?%|\\?\$"), ""),
    (re.compile(r"\\langle(?![a-zA-Z])"), "("),
    (re.compile(r"\\rangle(?![a-zA-Z])"), ")"),
    (re.compile(r"\\(?:infinity|inf)(?![a-zA-Z])|(?<![a-zA-Z\\])infinity(?![a-zA-Z])"), r"\\infty"),
    (re.compile(r"\\(?:leq|leqslant|le)(?![a-zA-Z])|<="), r"\\le "),
    (re.compile(r"\\(?:geq|geqslant|ge)(?![a-zA-Z])|>="), r"\\ge "),
    (re.compile(r"\\lt(?![a-zA-Z])"), "<"),
    (re.compile(r"\\gt(?![a-zA-Z])"), ">"),
    (re.compile(r"!="), r"\\neq "),
    # Several answers joined by "and" / "or" / ";" form a list: "6 \text{ and } 8", "(11,7)or(7,11)".
    (re.compile(r"\s*\\text\{\s*(?:and|or)\s*\}\s*|\s+(?:and|or)\s+|(?<=[)\]])\s*(?:and|or)\s*(?=[(\[])|;"),
     ", "),
    # A matrix written as an array in brackets: \left[\begin{array}{cc} 1 & 2 \\ 3 & 4 \end{array}\right].
    (re.compile(r"[(\[]\s*\\begin\{array\}\{[^{}]*\}(.*?)\\end\{array\}\s*[)\]]", re.DOTALL),
     r"\\begin{pmatrix}\1\\end{pmatrix}"),
]
# A unit after the number: "\text{ cm}^2", "\mbox{inches}", "5 dollars", "3 square feet".
_TEXT_UNIT = re.compile(r"\\text\{[^{}]*\}(?:\^\{?\d\}?)?\s*$")
# An answer that ends in a percent: "10\%", "10%", "10 percent", "10 \text{percent}".
_PERCENT = re.compile(r"(?:\\?%|(?<![a-zA-Z])(?:\\text\{\s*)?percent\s*\}?)\s*\.?\s*$")
_WORD_UNIT = re.compile(r"(?<=[\d}).])\s+[a-zA-Z]{2,}\.?(?:\s+[a-zA-Z]{2,}\.?)*(?:\^\{?\d\}?)?\s*$")


def _unwrap_delims(s: str) -> str:
    changed = True
    while changed:
        changed = False
        for left, right in _DELIMS:
            if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
                s, changed = s[len(left) : -len(right)].strip(), True
    return s


_BACKSLASH_RUN = re.compile(r"\\+")


def _undouble_escapes(s: str) -> str:
    """\\\\frac{1}{5} (a string escaped twice) -> \\frac{1}{5}, when every backslash is doubled."""
    runs = _BACKSLASH_RUN.findall(s)
    if runs and all(len(r) % 2 == 0 for r in runs) and re.search(r"\\\\[a-zA-Z]", s):
        return _BACKSLASH_RUN.sub(lambda m: "\\" * (len(m.group()) // 2), s)
    return s


def _squeeze_spaces(s: str) -> str:
    """Drop spaces except "a b" between letters (\\cot x) and the space that marks a list ("1, 234")."""
    s = re.sub(r",\s+", ",\x00", re.sub(r"\s+", " ", s))
    s = re.sub(r"(?<![a-zA-Z]) | (?![a-zA-Z])", "", s)
    return s.replace("\x00", " ")


@lru_cache(maxsize=1 << 16)  # a run repeats the same few answers many times
def normalize(answer: str) -> str:
    """Formatting-only clean-up; equal outputs are equivalent answers (used as the cache key)."""
    s = answer.translate(_UNICODE).strip()
    if len(s) > 4 * MAX_LEN:
        return s  # canon() rejects it; do not spend regex time on it
    # A stray trailing backslash ("185\\") or row break is no part of the answer.
    s = _unwrap_delims(_undouble_escapes(s).rstrip("\\").strip())
    percent = _PERCENT.search(s) is not None
    for pattern, repl in _SUBS:
        s = pattern.sub(repl, s)
    s = s.strip().rstrip(".").strip()
    for _ in range(3):  # "5 \text{ m}^2", "15 square feet": strip units only after a value
        t = _TEXT_UNIT.sub("", s).strip()
        t = _WORD_UNIT.sub("", t).strip()
        if not t or t == s or t.endswith(("=", "\\")):
            break
        s = t
    s = _squeeze_spaces(s.rstrip(".").strip())
    # A closing percent sign survives as one "%" suffix: the canon reads "10%" as 10 and as 0.1.
    return s + "%" if percent and s else s
