"""The Vertex AI dataset checker: a corpus of broken files, each with its exact located messages; streaming
(rows split across chunks, CRLF, a byte order mark, a blank last line); the counts and the limits."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from reconciler.datasets import vertex_jsonl
from reconciler.datasets.lines import Line, lines
from reconciler.datasets.vertex_jsonl import DataSummary, check_file, check_stream, chunked, row_digests
from reconciler.manifest.diagnostics import Diagnostics

CORPUS = Path(__file__).resolve().parent / "corpus"
FEW = "warning: only {} training examples; at least 100 are recommended for good results"
SHAPE = '{"contents": [{"role": "user", "parts": [{"text": ...}]}, {"role": "model", "parts": [...]}]}'

# corpus file -> every diagnostic, as "line:col: message" (0:0: not located at a line)
EXPECTED: dict[str, list[str]] = {
    "invalid_json.jsonl": [
        "2:98: row 2: invalid JSON: Expecting ',' delimiter",
        "3:18: row 3: invalid JSON: Expecting property name enclosed in double quotes",
        "4:1: row 4: invalid JSON: Expecting value",
        "0:0: " + FEW.format(4)],
    "many_errors.jsonl": [
        *(f"{n}:15: row {n}: contents[0]: the conversation must start with a 'user' message, not 'model'"
          for n in range(1, 21)),
        "0:0: 5 more rows are invalid",
        "0:0: " + FEW.format(25)],
    "not_utf8.jsonl": ["1:50: row 1: not UTF-8 (byte 0xe9); save the file as UTF-8", "0:0: " + FEW.format(1)],
    "parts.jsonl": [
        "1:29: row 1: contents[0].parts must be a non-empty list of parts",
        "2:46: row 2: contents[0].parts[0].text is empty",
        "3:51: row 3: contents[0].parts[0] holds both 'text' and 'fileData'; a part holds one kind of data",
        "4:39: row 4: contents[0].parts[0].fileData.mimeType must be a non-empty string",
        "5:29: row 5: contents[0].parts[0] holds no data: expected one of 'text', 'fileData', 'inlineData', ...",
        "6:39: row 6: contents[0].parts[0].text must be a string, not 42",
        "7:15: row 7: contents[0]: missing field 'parts'",
        "0:0: " + FEW.format(7)],
    "roles.jsonl": [
        "1:15: row 1: contents[0]: the conversation must start with a 'user' message, not 'model'",
        "2:55: row 2: contents[1]: two 'user' messages in a row; roles must alternate user, model, user, ...",
        "3:15: row 3: contents[0]: the conversation must end with a 'model' message (the answer the model is to "
        "learn)",
        "4:62: row 4: contents[1]: role 'assistant' must be 'user' or 'model'",
        "5:62: row 5: contents[1]: role 'modle' must be 'user' or 'model'; did you mean 'model'?",
        "0:0: " + FEW.format(5)],
    "shapes.jsonl": [
        f"1:1: row 1: expected a JSON object {SHAPE}",
        f"2:1: row 2: missing field 'contents': {SHAPE}",
        "3:2: row 3: 'contents' must be a non-empty list of messages",
        "4:2: row 4: 'contents' must be a non-empty list of messages",
        '5:2: row 5: contents[0] must be an object {"role": "user" | "model", "parts": [...]}',
        "0:0: " + FEW.format(5)],
    "system_in_contents.jsonl": [
        "1:22: row 1: contents[0]: 'system' is not a message role; move the system prompt to the row's top-level "
        '"systemInstruction": {"parts": [{"text": ...}]}',
        "0:0: " + FEW.format(2)],
    "system_instruction.jsonl": [
        "1:2: row 1: 'systemInstruction' must be an object {\"parts\": [{\"text\": ...}]}",
        "2:23: row 2: systemInstruction.parts[0]: a system instruction holds text parts only",
        "3:23: row 3: systemInstruction: unknown field 'part'; did you mean 'parts'?",
        "0:0: " + FEW.format(3)],
    "unknown_fields.jsonl": [
        "1:2: row 1: unknown field 'contnets'; did you mean 'contents'?",
        "2:99: row 2: unknown field 'systemInstructions'; did you mean 'systemInstruction'?",
        "3:15: row 3: contents[0]: unknown field 'rol'; did you mean 'role'?",
        "4:39: row 4: contents[0].parts[0]: unknown field 'txt'; did you mean 'text'?",
        "0:0: " + FEW.format(4)],
}


def row(question: str = "Hi", answer: str = "Hello", system: str | None = None) -> dict:
    found = {"contents": [{"role": "user", "parts": [{"text": question}]},
                          {"role": "model", "parts": [{"text": answer}]}]}
    return {"systemInstruction": {"role": "system", "parts": [{"text": system}]}, **found} if system else found


def jsonl(rows: list[dict], end: str = "\n") -> bytes:
    return "".join(json.dumps(r) + end for r in rows).encode()


def located(diagnostics: Diagnostics) -> list[str]:
    return [f"{d.line}:{d.col}: {'warning: ' if d.severity == 'warning' else ''}{d.message}"
            for d in diagnostics.items]


def check(data: bytes, chunk: int = 1 << 20, **options) -> tuple[DataSummary, list[str]]:
    diagnostics = Diagnostics(secrets=())
    summary = check_stream(chunked(data, chunk), "data.jsonl", diagnostics, **options)
    return summary, located(diagnostics)


def test_the_corpus_is_covered_by_the_table():
    assert sorted(p.name for p in CORPUS.glob("*.jsonl")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_broken_file_says_where_and_what(name):
    diagnostics = Diagnostics(secrets=())
    summary = check_file(CORPUS / name, f"corpus/{name}", diagnostics)
    assert located(diagnostics) == EXPECTED[name]
    assert {d.path for d in diagnostics.items} == {f"corpus/{name}"}
    data = (CORPUS / name).read_bytes()
    assert (summary.sha256, summary.size) == (hashlib.sha256(data).hexdigest(), len(data))


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_rows_split_across_chunks_read_the_same(chunk):
    data = "\ufeff".encode() + jsonl([row("Grüß dich", "¡Hola! 👋"), row(system="Be brief.")], end="\r\n") + b"\n"
    summary, messages = check(data, chunk)
    assert messages == ["0:0: " + FEW.format(2)]
    assert summary == DataSummary(hashlib.sha256(data).hexdigest(), len(data), rows=2,
                                  characters=len("Grüß dich¡Hola! 👋") + len("HiHello") + len("Be brief."))


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
def test_a_problem_keeps_its_line_and_column_whatever_the_chunks(chunk):
    data = b"\xef\xbb\xbf" + jsonl([row()]) + b"\r\n  \n" + b'{"contents": [], "x": 1}\r\n' + jsonl([row()])[:-1]
    summary, messages = check(data, chunk)
    assert messages[0] == "4:18: row 4: unknown field 'x'"
    assert summary.rows == 3 and summary.invalid == 1


def test_a_last_line_without_newline_and_blank_lines_count_as_they_should():
    assert check(jsonl([row()] * 3)[:-1])[0].rows == 3
    assert check(jsonl([row()] * 3) + b"\n\n   \n")[0].rows == 3


def test_no_examples_is_an_error():
    assert check(b"")[1] == ["0:0: the dataset holds no examples"]
    assert check(b"\n \r\n")[1] == ["0:0: the dataset holds no examples"]


def test_a_hundred_examples_are_enough_for_no_warning():
    assert check(jsonl([row()] * 99))[1] == ["0:0: " + FEW.format(99)]
    assert check(jsonl([row()] * 100))[1] == []


def test_a_validation_dataset_holds_at_most_256_examples_and_has_no_minimum():
    assert check(jsonl([row()] * 3), validation=True)[1] == []
    assert check(jsonl([row()] * 256), validation=True)[1] == []
    summary, messages = check(jsonl([row()] * 300), validation=True)
    assert messages == ["257:1: row 257: more than 256 examples; Vertex AI accepts at most 256 in a validation "
                        "dataset"]
    assert summary.rows == 300


def test_a_file_over_the_cap_stops_the_reading():
    data = jsonl([row()] * 50)
    summary, messages = check(data, 100, max_bytes=1000)
    assert messages == ["0:0: more than 1000 bytes: Vertex AI accepts a training dataset of at most 1 GB of JSONL; "
                        "stopped reading after 1100 bytes"]
    assert summary.size == 1100 and summary.sha256 == hashlib.sha256(data[:1100]).hexdigest()


def test_an_overlong_row_is_dropped_not_held(monkeypatch):
    monkeypatch.setattr(vertex_jsonl, "MAX_ROW_BYTES", 200)
    data = jsonl([row(), row("x" * 500), row()])
    summary, messages = check(data, 16)
    assert messages[0].startswith("2:1: row 2: longer than 200 bytes") and summary.rows == 3 and summary.invalid == 1


def test_the_text_of_an_overlong_line_is_never_held():
    assert list(lines(chunked(b"x" * 500 + b"\nok\n", 16), 200)) == [Line(1, b"", True), Line(2, b"ok")]


def test_a_credential_in_a_row_is_reported_once_and_never_quoted():
    secret = "ya29.very-secret-token"
    diagnostics = Diagnostics(secrets=(("GOOGLE_OAUTH_ACCESS_TOKEN", secret),))
    data = jsonl([row(), row(f"my token is {secret}"), row(secret)])
    check_stream(chunked(data, 10), "d.jsonl", diagnostics)
    [error] = diagnostics.errors
    assert (error.line, error.col) == (2, 1 + jsonl([row(f"my token is {secret}")]).decode().index(secret))
    assert error.message.startswith("row 2 contains the value of GOOGLE_OAUTH_ACCESS_TOKEN")
    assert all(secret not in d.message for d in diagnostics.items)


def test_a_missing_file_is_a_located_error(tmp_path):
    diagnostics = Diagnostics(secrets=())
    summary = check_file(tmp_path / "nope.jsonl", "nope.jsonl", diagnostics)
    assert located(diagnostics) == ["0:0: cannot read the dataset: No such file or directory"]
    assert summary.size == 0


def test_row_digests_compare_versions_of_a_file():
    before = jsonl([row("a"), row("b"), row("b")])
    after = b'{"contents": [{"parts": [{"text": "a"}], "role": "user"}, {"role": "model", "parts": [{"text": ' \
            b'"Hello"}]}]}\r\n' + jsonl([row("b"), row("c")]) + b"\n"
    old, new = row_digests(chunked(before, 3)), row_digests(chunked(after, 5))
    assert sum((new - old).values()) == 1 and sum((old - new).values()) == 1  # +1 row ("c"), -1 row (a "b")
    assert all(len(k) == 16 for k in new)


def test_a_valid_sample_dataset_passes():
    rows = [row(f"question {i}", f"answer {i}", system="Answer briefly." if i % 2 else None) for i in range(120)]
    multimodal = {"contents": [{"role": "user", "parts": [{"fileData": {"mimeType": "image/png",
                                                                        "fileUri": "gs://b/cat.png"}},
                                                          {"text": "What is this?"}]},
                               {"role": "model", "parts": [{"text": "A cat."}]},
                               {"role": "user", "parts": [{"text": "Sure?"}]},
                               {"role": "model", "parts": [{"text": "Yes."}]}]}
    summary, messages = check(jsonl([*rows, multimodal]))
    assert messages == [] and summary.rows == 121 and summary.invalid == 0
