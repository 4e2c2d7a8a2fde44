"""JSON Lines files, read and written the one way every stage uses."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.errors import UserError


class JsonlError(UserError):
    pass


def read_jsonl(path: Path, fix: str, torn_tail_ok: bool = True) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, one per line ([] if the file does not exist).

    With ``torn_tail_ok`` an unterminated, unparsable last line (what a kill mid-write leaves) is
    ignored. Any other corrupt line is an error naming the file, the line and ``fix``.
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    rows = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            if torn_tail_ok and lineno == len(lines):  # no newline after it: torn write
                break
            raise JsonlError(f"{path}:{lineno}: corrupt JSON line ({err.msg}); {fix}") from None
        if not isinstance(row, dict):
            raise JsonlError(f"{path}:{lineno}: expected a JSON object per line; {fix}")
        rows.append(row)
    return rows


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Replace ``path`` by ``rows`` through a synced temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
