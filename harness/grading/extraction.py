"""Final-answer extraction from a generated solution: plain string work, linear time, no sympy.

Everything here runs in the calling process (it is cheap and cannot hang: no regex below can
backtrack catastrophically, and brace matching is one pass), so only the sympy part of grading
needs the process pool.
"""

from __future__ import annotations

import re

DATASETS = ("gsm8k", "math")

# Where a model that did not stop starts inventing the next exercise (few-shot formats, chat
# turns, special tokens printed as text). Everything from the first such marker on is ignored.
# (Two patterns, each starting with a literal character, so the regex engine can skip ahead.)
_RUNOFF_LINE = re.compile(
    r"\n[ \t]*(?:#{1,4}[ \t]*)?(?:\*\*)?"
    r"(?i:Question|Problem|Q|Human|User|Exercise|Instruction)(?:[ \t]*\d+)?(?:\*\*)?[ \t]*:"
)
_RUNOFF_TOKEN = re.compile(r"<(?:\|(?:eot_id|end_of_text|endoftext|im_end|im_start|user|start_header_id)\|>|/s>)")
# The Llama-3 evaluation format ends its answer with this sentence; anything after it is runoff.
_HOPE = "hope it is correct"

_BOX_CMD = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
# Between two boxes that together form one answer ("\boxed{-2} and \boxed{1}").
_BOX_JOIN = re.compile(r"^(?:\s|\$|,|;|\\quad|\\qquad|\\text\{\s*(?:and|or)\s*\}|and|or|\\\)|\\\()*$")
_FINAL_IS = re.compile(r"final answer is[:\s]*", re.IGNORECASE)
_ANSWER_IS = re.compile(r"answer is[:\s]*", re.IGNORECASE)
_HASHES = re.compile(r"####\s*(?=[-+$\\\d.])")  # not a markdown "#### Step 1" heading
# Math delimiters around an answer phrase; "\$" inside is a dollar sign, not a delimiter.
_DELIMITERS = [("$$", re.compile(r"(?<!\\)\$\$")), ("$", re.compile(r"(?<!\\)\$")),
               ("\\(", re.compile(r"\\\)")), ("\\[", re.compile(r"\\\]"))]
_CALC = re.compile(r"<<[^<>\n]{0,200}>>")
# A number as written in prose: optional sign and $, thousands groups, decimals.
_NUMBER = re.compile(r"(?<![\w.])-?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|(?<![\w.])-?\.\d+")


def check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown grading dataset {dataset!r}; expected one of {DATASETS}")


def truncate_runoff(text: str) -> str:
    """Cut the text where the model starts a new question or turn after its answer."""
    for pattern in (_RUNOFF_LINE, _RUNOFF_TOKEN):
        m = pattern.search(text, 1)
        if m:
            text = text[: m.start()]
    end = text.find(_HOPE)
    return text if end < 0 else text[: end + len(_HOPE)]


_BRACE = re.compile(r"[{}]")
_FLAT_GROUP = re.compile(r"\{([^{}]*)\}")


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


def last_boxed(text: str) -> str | None:
    """Content of the last box; adjacent boxes joined only by separators count as one list."""
    found = boxes(text)
    if not found:
        return None
    parts = [found[-1][2]]
    for prev, nxt in zip(reversed(found[:-1]), reversed(found[1:])):
        if not _BOX_JOIN.match(text[prev[1] : nxt[0]]):
            break
        if prev[2] != parts[0]:
            parts.insert(0, prev[2])
    return ", ".join(parts)


def _answer_after(text: str, start: int) -> str | None:
    """The answer phrase that starts at `start`: a $...$ / \\(...\\) group or the rest of the sentence."""
    line = text[start : start + 400].split("\n", 1)[0]
    boxed = last_boxed(line)
    if boxed is not None:
        return boxed
    for left, right in _DELIMITERS:
        if line.startswith(left):
            m = right.search(line, len(left))
            if m and m.start() > len(left):
                return line[len(left) : m.start()].strip()
    m = re.search(r"\.(?:\s|$)|I hope", line)
    return (line[: m.start()] if m else line).strip().rstrip(".,;:") or None


def _last_match_answer(pattern: re.Pattern[str], text: str) -> str | None:
    matches = list(pattern.finditer(text))
    for m in reversed(matches):
        answer = _answer_after(text, m.end())
        if answer:
            return answer
    return None


def _first_match_answer(pattern: re.Pattern[str], text: str) -> str | None:
    for m in pattern.finditer(text):
        answer = _answer_after(text, m.end())
        if answer:
            return answer
    return None


def clean_number(answer: str) -> str | None:
    """The single number in a short GSM8K answer ("$1,234.50 per week" -> "1234.50"), else None."""
    text = re.sub(r"\\text\{[^{}]*\}|\\mbox\{[^{}]*\}|\\[$%!,;]|\\(?:d|t)?frac", " ", answer)
    numbers = _NUMBER.findall(text)
    if len(numbers) != 1:
        return None
    return numbers[0].replace("$", "").replace(",", "").replace(" ", "")


def extract_answer(text: str, dataset: str) -> str | None:
    """The model's final answer as a string, or None when it gave none.

    MATH: the last \\boxed{} / \\fbox{} (nested braces; adjacent boxes form a list), then
    "final answer is ...", then the last "the answer is ...". GSM8K: the first "#### N", then the
    first "the answer is N", then the boxed form, then the last number in the text; numbers come
    back without thousands separators, "$", units or "%". In both, text after the model starts
    inventing a next question is ignored.
    """
    check_dataset(dataset)
    if not text:
        return None
    text = truncate_runoff(text)
    if dataset == "math":
        return (
            last_boxed(text)
            or _last_match_answer(_FINAL_IS, text)
            or _last_match_answer(_ANSWER_IS, text)
        )
    text = _CALC.sub("", text)
    m = _HASHES.search(text)
    if m:
        line = text[m.end() :].split("\n", 1)[0].strip()
        if line:
            return clean_number(line) or line
    answer = _first_match_answer(_ANSWER_IS, text)
    if answer is None:
        # A box with no number in it (a model parroting the prompt's "\boxed{answer}") is no
        # answer: it must not outvote the numbers.
        answer = next((box for _, _, box in boxes(text) if _NUMBER.search(box)), None)
    if answer is not None:
        return clean_number(answer) or answer
    numbers = _NUMBER.findall(text)
    return clean_number(numbers[-1]) if numbers else None
