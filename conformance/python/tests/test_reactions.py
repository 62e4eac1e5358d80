"""Reactions: send, list, counts, uniqueness, delete."""

import time

from eddy_helpers import assert_recent


def test_send_reaction_with_custom_field(client, make_user, make_channel):
    ch, _, owner = make_channel()
    mid = ch.send_message({"text": "react"}, owner)["message"]["id"]
    resp = ch.send_reaction(mid, {"type": "love", "count": 42}, owner)
    r = resp["reaction"]
    assert r["type"] == "love"
    assert r["message_id"] == mid
    assert r["user_id"] == owner
    assert r["user"]["id"] == owner
    assert r["score"] == 1
    assert r["count"] == 42
    assert_recent(r["created_at"])
    m = resp["message"]
    assert m["id"] == mid
    assert m["reaction_counts"] == {"love": 1}
    assert m["reaction_scores"] == {"love": 1}
    assert [x["type"] for x in m["latest_reactions"]] == ["love"]

    got = ch.get_reactions(mid)["reactions"]
    assert len(got) == 1
    assert got[0]["type"] == "love"
    assert got[0]["user_id"] == owner
    assert got[0]["count"] == 42

    m = client.get_message(mid)["message"]
    assert m["reaction_counts"] == {"love": 1}


def test_one_reaction_per_user_and_type(client, make_user, make_channel):
    other = make_user()["id"]
    ch, _, owner = make_channel(members=[other])
    mid = ch.send_message({"text": "react"}, owner)["message"]["id"]
    ch.send_reaction(mid, {"type": "love"}, owner)
    resp = ch.send_reaction(mid, {"type": "love"}, other)
    assert resp["message"]["reaction_counts"] == {"love": 2}
    # re-sending the same type by the same user updates, not adds
    resp = ch.send_reaction(mid, {"type": "love", "score": 5, "note": "again"}, owner)
    assert resp["message"]["reaction_counts"] == {"love": 2}
    assert resp["message"]["reaction_scores"] == {"love": 6}
    resp = ch.send_reaction(mid, {"type": "like"}, owner)
    assert resp["message"]["reaction_counts"] == {"love": 2, "like": 1}
    assert len(ch.get_reactions(mid)["reactions"]) == 3


def test_get_reactions_newest_first_and_offset(client, make_user, make_channel):
    second = make_user()["id"]
    ch, _, first = make_channel(members=[second])
    mid = ch.send_message({"text": "react"}, first)["message"]["id"]
    ch.send_reaction(mid, {"type": "love"}, first)
    time.sleep(0.01)  # distinct created_at
    ch.send_reaction(mid, {"type": "love"}, second)
    got = ch.get_reactions(mid)["reactions"]
    assert [r["user_id"] for r in got] == [second, first]
    got = ch.get_reactions(mid, offset=1)["reactions"]
    assert [r["user_id"] for r in got] == [first]
    got = ch.get_reactions(mid, limit=1)["reactions"]
    assert [r["user_id"] for r in got] == [second]


def test_delete_reaction(client, make_user, make_channel):
    other = make_user()["id"]
    ch, _, owner = make_channel(members=[other])
    mid = ch.send_message({"text": "react"}, owner)["message"]["id"]
    ch.send_reaction(mid, {"type": "love"}, owner)
    ch.send_reaction(mid, {"type": "love"}, other)
    resp = ch.delete_reaction(mid, "love", owner)
    assert resp["reaction"]["type"] == "love"
    assert resp["reaction"]["user_id"] == owner
    assert resp["message"]["reaction_counts"] == {"love": 1}
    got = ch.get_reactions(mid)["reactions"]
    assert [r["user_id"] for r in got] == [other]
    ch.delete_reaction(mid, "love", other)
    assert ch.get_reactions(mid)["reactions"] == []
    m = client.get_message(mid)["message"]
    assert m["reaction_counts"] == {}
    assert m["latest_reactions"] == []
