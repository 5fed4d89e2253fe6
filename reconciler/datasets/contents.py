"""One row of a Gemini supervised-tuning dataset (Vertex AI's JSONL format), checked: what is wrong with it, where
in its line, and how many characters of text it holds.

The format, from the Vertex AI guide "Prepare supervised fine-tuning data for Gemini models":
`{"systemInstruction"?: Content, "contents": [Content, ...], "tools"?: [...]}`, a Content being
`{"role": "user" | "model", "parts": [Part, ...]}` and a Part holding one kind of data (`text`, `fileData`, ...).
The guide's examples always alternate user and model turns, starting with the user and ending with the answer the
model is to learn; a system prompt goes in `systemInstruction` (whose role the service ignores), never in
`contents`. proto3 JSON parsers accept snake_case names too, so `system_instruction` is accepted as well.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from reconciler.manifest.diagnostics import brief, did_you_mean

ROW_FIELDS = ("contents", "systemInstruction", "system_instruction", "tools")
MESSAGE_FIELDS = ("role", "parts")
ROLES = ("user", "model")
DATA_FIELDS = ("text", "fileData", "inlineData", "functionCall", "functionResponse", "executableCode",
               "codeExecutionResult")
PART_FIELDS = (*DATA_FIELDS, "thought", "thoughtSignature", "videoMetadata")
Column = Callable[[], int]
SHAPE = '{"contents": [{"role": "user", "parts": [{"text": ...}]}, {"role": "model", "parts": [...]}]}'


@dataclass(frozen=True)
class Problem:
    message: str
    col: int = 1


class RowError(Exception):
    def __init__(self, message: str, col: int = 1):
        super().__init__(message)
        self.problem = Problem(message, col)


class Located:
    """Finds where a value sits in the raw line, cheaply: by searching the text for its key (and value), never by
    parsing it again. Good enough to point an editor at it; 1 when nothing matches."""

    def __init__(self, text: str):
        self.text = text
        contents = text.find('"contents"')
        self.contents = max(contents, 0)

    def key(self, key: str, occurrence: int = 0, start: int = 0) -> int:
        position = start - 1
        for _ in range(occurrence + 1):
            position = self.text.find(f'"{key}"', position + 1)
            if position < 0:
                return 1
        return position + 1

    def value(self, key: str, value: Any, start: int = 0) -> int:
        """The column of `value` written as the value of `key` (the first such pair from `start`), else of `key`."""
        written = re.escape(json.dumps(value, ensure_ascii=False))
        found = re.compile(rf'"{re.escape(key)}"\s*:\s*({written})').search(self.text, start)
        return found.start(1) + 1 if found else self.key(key, 0, start)

    def message(self, index: int, key: str) -> int:
        """The column of `key` in the `index`-th message of contents (counting that key's occurrences)."""
        return self.key(key, index, self.contents)


def _known(value: dict, fields: tuple[str, ...], at: str, where: Located, start: int = 0) -> None:
    """Every key of `value` one of `fields`: else "unknown field", with what it may have meant, at the key."""
    for key in value:
        if key not in fields:
            raise RowError(f"{at}unknown field {key!r}{did_you_mean(key, fields)}", where.key(key, 0, start))


def check_row(row: Any, where: Located) -> int:
    """The characters of text in a valid row; raises RowError for the first problem found."""
    if not isinstance(row, dict):
        raise RowError(f"expected a JSON object {SHAPE}")
    _known(row, ROW_FIELDS, "", where)
    if "contents" not in row:
        raise RowError(f"missing field 'contents': {SHAPE}")
    characters = _contents(row["contents"], where)
    for key in ("systemInstruction", "system_instruction"):
        if key in row:
            characters += _system_instruction(row[key], key, where)
    if "tools" in row and not isinstance(row["tools"], list):
        raise RowError("'tools' must be a list of tool declarations", where.key("tools"))
    return characters


def _contents(contents: Any, where: Located) -> int:
    if not isinstance(contents, list) or not contents:
        raise RowError("'contents' must be a non-empty list of messages", where.key("contents"))
    characters, previous = 0, None
    for index, message in enumerate(contents):
        role = _role(message, index, where)
        if previous is None and role != "user":
            raise RowError(f"contents[0]: the conversation must start with a 'user' message, not {role!r}",
                           where.message(0, "role"))
        if role == previous:
            raise RowError(f"contents[{index}]: two {role!r} messages in a row; roles must alternate user, model, "
                           "user, ...", where.message(index, "role"))
        previous = role
        characters += _parts(message["parts"], f"contents[{index}].parts", where,
                             lambda index=index: where.message(index, "parts"))
    if previous != "model":
        last = len(contents) - 1
        raise RowError(f"contents[{last}]: the conversation must end with a 'model' message (the answer the model "
                       "is to learn)", where.message(last, "role"))
    return characters


def _role(message: Any, index: int, where: Located) -> str:
    at = f"contents[{index}]"
    if not isinstance(message, dict):
        raise RowError(f'{at} must be an object {{"role": "user" | "model", "parts": [...]}}', where.contents + 1)
    _known(message, MESSAGE_FIELDS, f"{at}: ", where, where.contents)
    if "role" not in message:
        raise RowError(f"{at}: missing field 'role' ('user' or 'model')", where.message(index, "parts"))
    if "parts" not in message:
        raise RowError(f"{at}: missing field 'parts'", where.message(index, "role"))
    role = message["role"]
    if role == "system":
        raise RowError(f"{at}: 'system' is not a message role; move the system prompt to the row's top-level "
                       '"systemInstruction": {"parts": [{"text": ...}]}', where.value("role", role, where.contents))
    if role not in ROLES:
        raise RowError(f"{at}: role {brief(role)} must be 'user' or 'model'{did_you_mean(role, ROLES)}",
                       where.value("role", role, where.contents) if isinstance(role, str)
                       else where.message(index, "role"))
    return role


def _system_instruction(instruction: Any, key: str, where: Located) -> int:
    column = where.key(key)
    if not isinstance(instruction, dict):
        raise RowError(f'{key!r} must be an object {{"parts": [{{"text": ...}}]}}', column)
    _known(instruction, MESSAGE_FIELDS, f"{key}: ", where, column - 1)
    if "role" in instruction and not isinstance(instruction["role"], str):
        raise RowError(f"{key}.role must be a string (the service ignores it)", where.key("role", 0, column - 1))
    if "parts" not in instruction:
        raise RowError(f"{key}: missing field 'parts'", column)
    for index, part in enumerate(instruction["parts"] if isinstance(instruction["parts"], list) else ()):
        if isinstance(part, dict) and set(part) - {"text"}:
            raise RowError(f"{key}.parts[{index}]: a system instruction holds text parts only",
                           where.key("parts", 0, column - 1))
    return _parts(instruction["parts"], f"{key}.parts", where, lambda: where.key("parts", 0, column - 1))


def _parts(parts: Any, at: str, where: Located, column: Column) -> int:
    """`column`: where the parts are, computed only for a message (searching the line costs more than checking)."""
    if not isinstance(parts, list) or not parts:
        raise RowError(f"{at} must be a non-empty list of parts", column())
    characters = 0
    for index, part in enumerate(parts):
        text = part.get("text") if type(part) is dict and len(part) == 1 else None
        if type(text) is str and text and not text.isspace():  # the common case, quickly
            characters += len(text)
        else:
            characters += _part(part, f"{at}[{index}]", where, column())
    return characters


def _part(part: Any, at: str, where: Located, column: int) -> int:
    if not isinstance(part, dict):
        raise RowError(f'{at} must be an object such as {{"text": ...}}', column)
    _known(part, PART_FIELDS, f"{at}: ", where, column - 1)
    data = [key for key in DATA_FIELDS if key in part]
    if not data:
        raise RowError(f"{at} holds no data: expected one of {', '.join(repr(k) for k in DATA_FIELDS[:3])}, ...",
                       column)
    if len(data) > 1:
        raise RowError(f"{at} holds both {data[0]!r} and {data[1]!r}; a part holds one kind of data",
                       where.key(data[1], 0, column - 1))
    if "text" in part:
        text = part["text"]
        if not isinstance(text, str):
            raise RowError(f"{at}.text must be a string, not {brief(text)}", where.key("text", 0, column - 1))
        if not text.strip():
            raise RowError(f"{at}.text is empty", where.value("text", text, column - 1))
        return len(text)
    if "fileData" in part:
        _file_data(part["fileData"], at, where, column)
    return 0


def _file_data(data: Any, at: str, where: Located, column: int) -> None:
    column = where.key("fileData", 0, column - 1)
    if not isinstance(data, dict):
        raise RowError(f'{at}.fileData must be an object {{"mimeType": ..., "fileUri": ...}}', column)
    for key in ("mimeType", "fileUri"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise RowError(f"{at}.fileData.{key} must be a non-empty string", column)
