"""Message search (GET /search) through the Python SDK: full-text query, message filters, cursors, refusals."""

import pytest

from eddy_helpers import api_error, assert_api_error


def test_search_by_text_and_filters(client, make_user, make_channel):
    ch, _, owner = make_channel()
    other, _, _ = make_channel()
    texts = ["the quick brown fox", "a lazy dog sleeps", "Quick thinking, quick acting", "nothing here"]
    ids = [ch.send_message({"text": t, "kind": "note" if i % 2 else "idea"}, owner)["message"]["id"] for i, t in enumerate(texts)]
    other.send_message({"text": "quick but elsewhere"}, owner)

    found = client.search({"cid": ch.cid}, "quick")["results"]
    assert {r["message"]["id"] for r in found} == {ids[0], ids[2]}
    assert all(r["message"]["channel"]["cid"] == ch.cid for r in found)

    both = client.search({"cid": {"$in": [ch.cid, other.cid]}}, "QUICK")["results"]
    assert len(both) == 3

    notes = client.search({"cid": ch.cid}, {"kind": "note"})["results"]
    assert {r["message"]["id"] for r in notes} == {ids[1], ids[3]}

    combined = client.search({"cid": ch.cid}, {"$and": [{"text": {"$q": "quick"}}, {"kind": "idea"}]})["results"]
    assert {r["message"]["id"] for r in combined} == {ids[0], ids[2]}

    client.delete_message(ids[0])
    after_delete = client.search({"cid": ch.cid}, "quick")["results"]
    assert [r["message"]["id"] for r in after_delete] == [ids[2]]


def test_search_pages_with_next_cursor(client, make_channel):
    ch, _, owner = make_channel()
    for i in range(5):
        ch.send_message({"text": f"page item {i}"}, owner)
    first = client.search({"cid": ch.cid}, "item", limit=2, sort=[{"field": "created_at", "direction": 1}])
    assert [r["message"]["text"] for r in first["results"]] == ["page item 0", "page item 1"]
    second = client.search({"cid": ch.cid}, "item", limit=2, next=first["next"], sort=[{"field": "created_at", "direction": 1}])
    assert [r["message"]["text"] for r in second["results"]] == ["page item 2", "page item 3"]


def test_search_refuses_bad_input(client, make_channel):
    ch, _, _ = make_channel()
    exc = api_error(client.search, {"cid": ch.cid}, {"text": {"$regex": "x"}})
    assert "$regex" in assert_api_error(exc, 4, 400)["message"]
    exc = api_error(client.search, {}, "hello")
    assert_api_error(exc, 4, 400)
    with pytest.raises(ValueError):
        client.search({"cid": ch.cid}, "x", sort=[{"field": "created_at", "direction": 1}], offset=2)
