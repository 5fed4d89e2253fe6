"""Listing pages recalled by their bytes (`clients.pagememo`): a page answered with the bytes of a page read clean
before is not parsed or read again, whatever page token it carries; any other byte, a reader or code that
changed, or a page that did not read clean, and it is read; the envelope of every answer is checked every time.
Then a plan against the emulator: the second reads no listed item, and plans the same."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from reconciler import operations, pickles
from reconciler.clients import pagememo
from reconciler.clients.http import Session
from reconciler.errors import BadResponse
from tests.testing.manifests import write_manifests

URL = "https://vertex.test/v1/projects/p/locations/l/tuningJobs"
ITEMS = [{"n": 1, "note": 'a "nextPageToken": "x"}'}, {"n": 2}]


@pytest.mark.parametrize(("body", "head", "token"), [
    (b'{"items": [1], "nextPageToken": "abc"}', b'{"items": [1], ', "abc"),
    (b'{"items":[1],"nextPageToken":"abc"}\n', b'{"items":[1],', "abc"),
    (b'{"items": [1], "nextPageToken": ""}', b'{"items": [1], ', ""),
    (b'{"items": [1]}', b'{"items": [1]}', None),                                      # the last page
    (b'{"nextPageToken": "abc", "items": [1]}', b'{"nextPageToken": "abc", "items": [1]}', None),  # not last
    (b'{"items": [1], "nextPageToken": "a\\u003db"}', b'{"items": [1], "nextPageToken": "a\\u003db"}', None),  # escaped
    (b'{"items": [{"nextPageToken": "abc"}]}', b'{"items": [{"nextPageToken": "abc"}]}', None),  # an item's, not last
])
def test_the_token_is_set_apart_only_when_it_is_the_last_member_and_unescaped(body, head, token):
    assert pagememo.split(body) == (head, token)


class Server:
    """Pages as raw bytes by page token; counts the requests and the tokens asked for."""

    def __init__(self, pages: dict[str | None, bytes], content_type: str = "application/json"):
        self.pages, self.content_type, self.asked = pages, content_type, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("pageToken")
        self.asked.append(token)
        return httpx.Response(200, content=self.pages[token], headers={"content-type": self.content_type})


def page(items: list, token: str | None = None) -> bytes:
    return json.dumps({"items": items, **({"nextPageToken": token} if token is not None else {})}).encode()


class Reader:
    calls = 0

    @classmethod
    def read(cls, item: dict) -> tuple:
        cls.calls += 1
        if not isinstance(item.get("n"), int):
            raise BadResponse(f"item {item!r} has no number n")
        return ("item", item["n"])


def listed(server: Server, *, memo: bool = True) -> list:
    Reader.calls = 0
    session = Session(httpx.Client(transport=httpx.MockTransport(server)))
    return list(session.pages(URL, "items", {"pageSize": 2}, read=Reader.read, memo=memo))


def test_pages_with_the_bytes_read_before_are_recalled_whatever_their_token(cache_dir):
    first = Server({None: page(ITEMS, "t1"), "t1": page([{"n": 3}])})
    assert listed(first) == [("item", 1), ("item", 2), ("item", 3)] and Reader.calls == 3
    again = Server({None: page(ITEMS, "other"), "other": page([{"n": 3}])})  # a new token for the same items
    assert listed(again) == [("item", 1), ("item", 2), ("item", 3)]
    assert Reader.calls == 0 and again.asked == [None, "other"]  # the token this answer carried is followed
    changed = Server({None: page(ITEMS, "t1"), "t1": page([{"n": 4}])})
    assert listed(changed) == [("item", 1), ("item", 2), ("item", 4)] and Reader.calls == 1  # only the changed page


def test_nothing_is_recalled_without_memo_or_when_the_code_changed(cache_dir, monkeypatch):
    pages = {None: page(ITEMS)}
    listed(Server(pages), memo=False)
    assert not cache_dir.exists() or not list(cache_dir.glob("pages-*"))
    listed(Server(pages))
    listed(Server(pages))
    assert Reader.calls == 0
    monkeypatch.setattr(pickles, "_CODE", "another version of reconciler")
    listed(Server(pages))
    assert Reader.calls == 2


def test_a_page_that_did_not_read_clean_is_read_again_and_refused_again(cache_dir):
    hostile = Server({None: page([{"n": 1}, {"n": "two"}])})
    for _ in range(2):
        with pytest.raises(BadResponse) as refused:
            listed(hostile)
        assert refused.value.url == URL and "no number" in str(refused.value)
    assert not list(cache_dir.glob("pages-*"))


def test_the_envelope_of_a_recalled_page_is_checked_every_time(cache_dir):
    listed(Server({None: page(ITEMS)}))
    with pytest.raises(BadResponse, match="content type 'text/html'"):
        listed(Server({None: page(ITEMS)}, content_type="text/html"))


def test_a_page_whose_token_is_not_last_is_recalled_only_with_the_same_bytes(cache_dir):
    first = b'{"nextPageToken": "t1", "items": [{"n": 1}]}'
    listed(Server({None: first, "t1": page([{"n": 2}])}))
    listed(Server({None: first, "t1": page([{"n": 2}])}))
    assert Reader.calls == 0
    listed(Server({None: first.replace(b"t1", b"t2"), "t2": page([{"n": 2}])}))
    assert Reader.calls == 1


def test_a_second_plan_reads_no_listed_item_and_plans_the_same(tmp_path, cache_dir, emulator, monkeypatch):
    root = tmp_path / "m"
    write_manifests(root, 3, 1, project="memo-project", location="us-central1")  # and one Gemini API tune
    with operations.open_workspace(str(root), api_endpoint=emulator.base_url, emulator=True) as workspace:
        result = operations.apply(workspace, None, operations.ApplyOptions(), operations.Silent(), threading.Event())
        assert not result.failed
    emulator.advance(3600)
    reads = []  # the listed items read (Session.read_at: every reader a listing runs), by reader
    read_at = Session.read_at

    def counted(url, read, item):
        reads.append(read.__qualname__)
        return read_at(url, read, item)
    monkeypatch.setattr(Session, "read_at", staticmethod(counted))

    def plan() -> tuple:
        reads.clear()
        with operations.open_workspace(str(root), api_endpoint=emulator.base_url, emulator=True) as workspace:
            workspace.refresh()
            planned = workspace.plan()
            return planned.has_changes, sorted(g.key for g in workspace.observed.generations)

    first = plan()
    assert sorted(set(reads)) == ["Endpoint.read", "Job.read", "Model.read", "tuned_model"]
    assert first[0] is False and len(first[1]) == 4
    assert plan() == first and reads == []
