"""Final-answer extraction: where a generated solution states its answer, and what that answer is.

Plain string work in the calling process, linear time, no sympy. The rules are in
docs/grading.md; in short, in the default mode ("strict") a sample has an answer only where it
states one:

1. the last box group (`\\boxed{...}`, `\\fbox{...}`; the boxes of one multi-part answer form a list),
2. or a later answer phrase (`final answer is ...`, `Final Answer: ...`, `the answer is ...`,
   `Answer: ...`, `#### N`, a `# Answer` heading), read as the value the phrase states,
3. else a closing statement: the last sentence, opening with "Therefore", "Thus", "So", ..., that
   states one math expression (or, for number answers, one number).

Mode "flexible" reads as "strict" and then falls back to the last number in the text, for prompts
that ask for no marked answer. What differs between datasets is their declared `AnswerRule`
(`harness.data.dataset`: numeric answers, and whether "#### N" ends the solution).
"""

from __future__ import annotations

import re

from harness.data.dataset import DATASETS, AnswerRule
from harness.grading.boxes import box_groups, boxes, joined_spans, span_at, spans

MODES = ("strict", "flexible")


def answer_rule(dataset: str | AnswerRule) -> AnswerRule:
    """How ``dataset``'s solutions state answers: a registered dataset's declared rule, or the rule itself."""
    return dataset if isinstance(dataset, AnswerRule) else DATASETS.get(dataset).answer


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown extraction mode {mode!r}; expected one of {MODES} (runner.extraction)")
    return mode


# ---------------------------------------------------------------- runoff

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
_CALC = re.compile(r"<<[^<>\n]{0,200}>>")  # GSM8K calculator notes: <<48/2=24>>


def truncate_runoff(text: str) -> str:
    """Cut the text where the model starts a new question or turn after its answer."""
    for pattern in (_RUNOFF_LINE, _RUNOFF_TOKEN):
        m = pattern.search(text, 1)
        if m:
            text = text[: m.start()]
    end = text.find(_HOPE)
    return text if end < 0 else text[: end + len(_HOPE)]


# ---------------------------------------------------------------- reading a stated value

# Answer phrases. A bare "answer" counts only where it heads a line (before ":", "=" or maths:
# "Answer $$ 9 $$") or follows "the": "we may check our answer: $17 \cdot 44 = 748$" and "my
# answer is correct" state no answer; a bare "final answer" only right before its answer ("before
# the final answer, 3 steps" states none).
_PHRASE = re.compile(
    r"(?i:\bfinal\s+answer\b(?:\s*\*\*)?(?:[ \t]*(?:(?:is|would\s+be|will\s+be)\b[ \t]*:?|[:=])"
    r"|(?=[ \t*]*(?:\n|\$|\\[(\[a-z]|-?\d)))"  # a bare "Final Answer" heading its answer
    r"|\bthe\s+(?:correct\s+)?answer\s*(?:is|would\s+be|will\s+be)\b[ \t]*:?"
    r"|(?m:^)[ \t]*(?:\*\*|#{1,3}[ \t]*)?answer(?:\s*\*\*)?[ \t]*(?:[:=]|(?=\$|\\[(\[])))"
    r"|####(?=[ \t]*[-+$\\\d.])(?![ \t]*\d+[.)][ \t]+[A-Za-z])"
    r"|(?im:^#{1,3}[ \t]*answer[ \t]*:?[ \t]*$)"
)
_SENTENCE_END = re.compile(r"\.(?=\s|$)|[!?](?=\s|$)|\n|I hope")
# Where a stated value ends and a remark about it begins ("7.5 hours, which is 7 and a half").
_CLAUSE = re.compile(r",?\s+(?:which|i\.e\.|that is|because|since|so that)\b|,\s+(?:or|so|but)\s|\s\(|;")
_COPULA = re.compile(r"\s(?:is|are|equals|equal to|was|will be|would be)\s+")
_CONCLUSION = re.compile(
    r"(?:^|(?<=[.!?:]\s)|(?<=[.!?:]\s\s)|(?<=\n))[ \t]*(?:\*\*)?(?i:therefore|thus|hence|so|finally|in conclusion"
    r"|in total|altogether|overall|in summary|as a result|consequently)\b,?\s"
    # After a display or span with no full stop of its own, only a capital opens a new sentence.
    r"|(?<=\$\s|\]\s)(?:Therefore|Thus|Hence|So|Finally|In conclusion|In total|Altogether|Overall|In summary"
    r"|As a result|Consequently)\b,?\s"
)
# A math span left open (what is left of a sentence once its closed spans are masked); "$5" is money.
_UNCLOSED = re.compile(r"(?<!\\)\$(?!\d)|\\[\[(]")
# The Llama-3 evaluation format's last sentence, after the one stating the answer.
_HOPE_SENTENCE = re.compile(r"\s*I hope it is correct\.?\s*$")
# The format a prompt shows, copied with no answer in it: "\boxed{answer}", "[answer]", "...".
_PLACEHOLDER = re.compile(r"(?i)\s*(?:\\(?:boxed|Box|fbox|text)\s*\{)?\s*\[?\s*(?:your\s+|the\s+|final\s+)?"
                          r"answer\s*\]?\s*\}?\s*|\s*(?:\.\.\.|\?)?\s*")
_PROSE = re.compile(r"(?<![\\a-zA-Z{])[a-zA-Z]{2,}\s+[a-zA-Z]{2,}")
# A word that only stresses the value after it: "the answer is indeed 21", "is simply $5$".
_EMPHASIS = re.compile(r"^\s*(?i:indeed|simply|just|exactly|clearly|actually|obviously|definitely|really|still)\b,?\s*")
_WORDS_AFTER_VALUE = re.compile(r"(?<=[\d}).])\s+[a-zA-Z][a-zA-Z \t']*$")
_MATHY = re.compile(r"\d|\\[a-zA-Z]|^\(?[A-Z]\)?$|[a-zA-Z]\s*[=<>^]|[=<>^]\s*[a-zA-Z]")
# A box the box reader did not take (cut off, "$\boxed", or empty) is no answer, not the text "\boxed".
_BOX_LEFT = re.compile(r"\\(?:boxed|fbox|Box)(?![a-zA-Z])")
# Characters that never occur in a real answer: decoding noise and control characters.
_NOISE = re.compile(r"[\ufffd\x00-\x08\x0b-\x1f\x7f]")
# A number as written in prose: optional sign and $, thousands groups, decimals.
_NUMBER = re.compile(r"(?<![\w.])-?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|(?<![\w.])-?\.\d+")
# Thousands separators as LaTeX writes them: 14{,}916, 14\\,916, 10,\\!080.
_SEPARATOR = re.compile(r"(?<=\d)(?:\{,\}|,\\!|\\,|\\!|\\ |~)(?=\d{3}(?!\d))")
# "#### 18", not a markdown heading ("#### Step 1", "#### 1. The eggs").
_HASHES_LINE = re.compile(r"####(?![ \t]*\d+[.)][ \t]+[A-Za-z])[ \t]*[-+$\\\d.][^\n]*")


def clean_number(answer: str) -> str | None:
    """The single number in a short answer ("$1,234.50 per week" -> "1234.50", "3 + 4 = 7" -> "7")."""
    text = _SEPARATOR.sub(",", answer)
    text = re.sub(r"\\text\{[^{}]*\}|\\mbox\{[^{}]*\}|\\[$%!,;]|\\(?:d|t)?frac", " ", text)
    text = text.rsplit("=", 1)[-1]
    numbers = _NUMBER.findall(text)
    if len(numbers) != 1:
        return None
    return numbers[0].replace("$", "").replace(",", "").replace(" ", "")


def _is_placeholder(answer: str) -> bool:
    return bool(_PLACEHOLDER.fullmatch(answer))


def _value(statement: str, rules: AnswerRule) -> str | None:
    """The value a sentence states: "The largest $n$ is 34" -> "34"; None if it states none."""
    if _NOISE.search(statement):
        return None
    statement = _EMPHASIS.sub("", statement)
    statement = _CLAUSE.split(statement, 1)[0]
    after = _COPULA.split(statement)[-1]
    # "The largest $n$ is 34" states 34; "$x \geq 5$ is the solution" states its span.
    value = (after if spans(after) or _MATHY.search(after) else statement).strip().strip("*").strip()
    number = clean_number(value) if rules.numeric else None
    if number is not None:
        return number
    math = joined_spans(value)
    if math is not None:
        return math
    value = _WORDS_AFTER_VALUE.sub("", value).strip().rstrip(".,;:")
    if not value or _PROSE.search(value) or not _MATHY.search(value):
        return None
    return value


def _box_answer(content: str, rules: AnswerRule) -> bool:
    return not _is_placeholder(content) and (not rules.numeric or bool(re.search(r"\d", content)))


def _read_after(text: str, start: int, rules: AnswerRule) -> str | None:
    """The answer stated right after an answer phrase ending at `start`."""
    head = text[start : start + 600].lstrip(" \t*:")
    if head.startswith("\n"):  # the answer on the next line, after at most one blank line
        stripped = head.lstrip(" \t\n*")
        if head[: len(head) - len(stripped)].count("\n") > 2:
            return None
        head = stripped
    found = boxes(head)
    if found and found[0][0] <= 3:  # "\boxed{5}", "$\boxed{5}$", "\[\boxed{5}"
        content = box_groups(found, head)[0][1]
        return content if _box_answer(content, rules) else None
    span = span_at(head, 0)
    if span is not None:
        return clean_number(span[1]) if rules.numeric else span[1] or None
    m = _SENTENCE_END.search(head)
    statement = head[: m.start()] if m else head
    # "Final Answer: Jane started growing Sphere 3 hours ago": the one number the sentence states.
    stated = _CLAUSE.split(statement, 1)[0]
    return _value(statement, rules) or (None if spans(stated) else clean_number(stated))


def _stated_box(text: str, rules: AnswerRule) -> tuple[int, str] | None:
    groups = box_groups([b for b in boxes(text) if _box_answer(b[2], rules)], text)
    return groups[-1] if groups else None


def _stated_phrase(text: str, rules: AnswerRule, after: int) -> tuple[int, str] | None:
    """The last answer phrase that states a value, looking only from `after` on."""
    tail = text[after:].lower()
    if "answer" not in tail and "####" not in tail:  # the common case, without a regex scan
        return None
    for m in reversed(list(_PHRASE.finditer(text, after))):
        answer = _read_after(text, m.end(), rules)
        if answer:
            return m.start(), answer
    return None


def _mask_spans(text: str) -> str:
    """`text` with each math span blanked out (same length), so its inside never ends a sentence."""
    for start, end, _ in spans(text):
        text = text[:start] + "\x00" * (end - start) + text[end:]
    return text


def _closing_statement(text: str, rules: AnswerRule) -> str | None:
    """The value of the last sentence, when it opens with a conclusion word and states one."""
    text = _HOPE_SENTENCE.sub("", text).rstrip()
    last = None
    for last in _CONCLUSION.finditer(text, max(0, len(text) - 800)):
        pass
    if last is None:
        return None
    sentence = text[last.end() :]
    # Dollars are money in number answers; elsewhere a math span may hold full stops and lines.
    shape = sentence if rules.numeric else _mask_spans(sentence)
    if shape[-1:] in (".", "!"):
        shape = shape[:-1]
    elif not shape.endswith("\x00"):
        return None  # cut off mid-sentence, as a truncated sample is
    if _SENTENCE_END.search(shape):
        return None  # the conclusion word opens an earlier sentence, not the last one
    if not rules.numeric and _UNCLOSED.search(shape):
        return None  # maths opened and never closed: cut off, not a statement
    sentence = sentence[: len(shape)]
    if not rules.numeric and not spans(sentence):
        # "So the largest n is 34."; "Thus the probability is 2/3.": the value after its last "is".
        parts = _COPULA.split(sentence)
        plain = len(parts) > 1 and "$" not in parts[-1]
        return clean_number(sentence) or (_value(parts[-1], rules) if plain else None)
    return _value(sentence, rules)


# A last line that ends in a computation and its result, a few words and a full stop after it at most:
# "11 + 10 = 21", "3 \\times 4 = 12.", "So Li has 11 - 9 = 2 apples left.". The operands are numbers,
# so an equation to solve ("x + 3 = 5") computes nothing; a number or a clause after the result
# ("= 8, which ...") makes it a step of an argument, and words without a full stop may be cut off.
_NUM = r"\(?-?\d+(?:\.\d+)?\)?"
_OP = r"(?:[+\-*/×÷^x]|\\times|\\div|\\cdot)"
_COMPUTATION_END = re.compile(rf"(?:^|[\s(:\"'])(?:{_NUM}\s*{_OP}\s*)+{_NUM}\s*=\s*(-?\d+(?:\.\d+)?)"
                              rf"(?:(?:\s+[A-Za-z']+){{1,5}}\s*[.!]|\s*[.!]?)[\"']?\s*$")
# A whole reply that is one number ("15"): the answer, as the question asked for it.
_ONLY_A_NUMBER = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*\.?\s*")


def _closing_computation(text: str) -> str | None:
    """The result of a last line that ends in a computation (plain numbers, no math delimiters),
    or of a reply that is only a number."""
    if m := _ONLY_A_NUMBER.fullmatch(text):
        return m.group(1)
    m = _COMPUTATION_END.search(text.rstrip().rsplit("\n", 1)[-1])
    return m.group(1) if m else None


def extract_answer(text: str, dataset: str | AnswerRule, mode: str = "strict") -> str | None:
    """The answer the solution `text` states, or None when it states none (docs/grading.md).

    `dataset` names a registered dataset ("gsm8k", "math", ...: the answer rule it declares applies)
    or is an `AnswerRule`; `mode` is "strict" (the default: a box, an answer phrase or a closing
    statement) or "flexible" (as strict, else the last number in the text). Numbers of numeric
    answers (GSM8K's) come back without thousands separators, "$", units or "%". In both modes,
    text after the model starts inventing a next question is ignored.
    """
    rules = answer_rule(dataset)
    check_mode(mode)
    if not text:
        return None
    text = _CALC.sub("", truncate_runoff(text))
    if rules.hashes_end_solution:
        m = _HASHES_LINE.search(text)
        if m:
            text = text[: m.end()]
    box = _stated_box(text, rules)
    # A phrase counts only after the last box; one just before it ("the answer is $\boxed{5}$") is that box.
    phrase = _stated_phrase(text, rules, box[0] if box else 0)
    stated = phrase or box
    answer = stated[1] if stated else _closing_statement(text, rules) or _closing_computation(text)
    if answer is None and mode == "flexible":
        numbers = _NUMBER.findall(text)
        answer = clean_number(numbers[-1]) if numbers else None
    if answer is None or _NOISE.search(answer) or _is_placeholder(answer) or _BOX_LEFT.search(answer):
        return None
    return (clean_number(answer) or answer) if rules.numeric else answer
