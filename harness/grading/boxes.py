"""Where LaTeX marks an answer: boxes (\\boxed, \\fbox) and math spans ($...$, \\(...\\), \\[...\\]).

Linear time: no regex below can backtrack catastrophically, and brace matching is one pass, so
1 MB of garbage or 20k open braces cost milliseconds.
"""

from __future__ import annotations

import re

_BOX_CMD = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_BRACE = re.compile(r"[{}]")
_FLAT_GROUP = re.compile(r"\{([^{}]*)\}")
# Between two boxes of one multi-part answer: separators and a few words in the same sentence
# ("\boxed{-2} and \boxed{1}", "\boxed{1} papers and \boxed{2} bins"), never a sentence end.
_BOX_SEPARATORS = re.compile(r"\\quad|\\qquad|\\text\{[^{}]{0,20}\}|\\[()]|[\s$,;]")
_WORD = re.compile(r"[A-Za-z']+")
_MAX_JOIN_WORDS, _MAX_JOIN_CHARS = 6, 80
# Opening math delimiters and their closers; "\$" is a dollar sign, not a delimiter.
_SPANS = (("$$", re.compile(r"(?<!\\)\$\$")), ("\\[", re.compile(r"\\\]")), ("\\(", re.compile(r"\\\)")),
          ("$", re.compile(r"(?<!\\)\$")))
_SPAN_OPEN = re.compile(r"(?<!\\)\$\$?|\\[\[(]")
_SPAN_JOIN = re.compile(r"\s*(?:,|and|or|,\s*and|,\s*or)\s*")


def _match_braces(text: str, start: int) -> dict[int, int]:
    """Map each '{' after `start` to its matching '}' in one pass (escaped braces pair among themselves)."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for m in _BRACE.finditer(text, start):
        if m.group() == "{":
            stack.append(m.start())
        elif stack:
            pairs[stack.pop()] = m.start()
    return pairs


def boxes(text: str) -> list[tuple[int, int, str]]:
    """All closed \\boxed{...} / \\fbox{...} / \\boxed 7, as (start, end, content), in order."""
    pairs: dict[int, int] | None = None
    out: list[tuple[int, int, str]] = []
    for m in _BOX_CMD.finditer(text):
        if out and m.start() < out[-1][1]:
            continue  # nested inside the previous box
        j = m.end()
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "{":
            simple = _FLAT_GROUP.match(text, j)  # no nested braces: the common case
            if simple:
                out.append((m.start(), simple.end(), simple.group(1).strip()))
                continue
            if pairs is None:  # braces before the first box cannot close a box
                pairs = _match_braces(text, j)
            close = pairs.get(j)
            if close is not None:
                out.append((m.start(), close + 1, text[j + 1 : close].strip()))
        elif j > m.end():  # "\boxed 7": the next token, up to space or a math delimiter
            k = j
            while k < len(text) and not text[k].isspace() and text[k] != "$":
                k += 1
            token = text[j:k].rstrip(".,;")
            if token:
                out.append((m.start(), k, token))
    return out


def _joinable(between: str) -> bool:
    if len(between) > _MAX_JOIN_CHARS:
        return False
    words = _BOX_SEPARATORS.sub(" ", between).split()
    return len(words) <= _MAX_JOIN_WORDS and all(_WORD.fullmatch(w) for w in words)


def box_groups(found: list[tuple[int, int, str]], text: str) -> list[tuple[int, str]]:
    """Boxes of one multi-part answer joined into a list: (start of the group, "a, b"), in order."""
    groups: list[tuple[int, list[str]]] = []
    prev_end = -1
    for start, end, content in found:
        if groups and _joinable(text[prev_end:start]):
            if content != groups[-1][1][-1]:
                groups[-1][1].append(content)
        else:
            groups.append((start, [content]))
        prev_end = end
    return [(start, ", ".join(parts)) for start, parts in groups]


def last_boxed(text: str) -> str | None:
    """Content of the last box; boxes of one multi-part answer come back as one list."""
    groups = box_groups(boxes(text), text)
    return groups[-1][1] if groups else None


def span_at(text: str, start: int) -> tuple[int, str] | None:
    """The math span opening at `start`, as (its end, its content), if it is closed."""
    for left, right in _SPANS:
        if text.startswith(left, start):
            m = right.search(text, start + len(left))
            if m is None:
                return None
            return m.end(), text[start + len(left) : m.start()].strip()
    return None


def spans(text: str) -> list[tuple[int, int, str]]:
    """The closed, non-empty math spans of `text`, as (start, end, content), in order."""
    out, i = [], 0
    while True:
        m = _SPAN_OPEN.search(text, i)
        if m is None:
            return out
        found = span_at(text, m.start())
        if found is None:
            i = m.end()
            continue
        if found[1]:
            out.append((m.start(), found[0], found[1]))
        i = found[0]


def joined_spans(text: str) -> str | None:
    """The content of the last math span, with the spans just before it that list one answer."""
    found = spans(text)
    if not found:
        return None
    parts = [found[-1][2]]
    for prev, nxt in zip(reversed(found[:-1]), reversed(found[1:])):
        if not _SPAN_JOIN.fullmatch(text[prev[1] : nxt[0]]):
            break
        parts.insert(0, prev[2])
    return ", ".join(parts)
