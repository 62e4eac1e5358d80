"""Messages: send/get/update/partial/pin/delete, threads, mentions, limits."""

import uuid
from datetime import timedelta

from eddy_helpers import api_error, assert_api_error, assert_recent, parse_ts


def test_send_message_flat_custom_field(client, make_channel):
    ch, _, owner = make_channel()
    resp = ch.send_message({"text": "hi", "custom_field": 1}, owner)
    m = resp["message"]
    assert isinstance(m["id"], str) and m["id"]
    assert m["text"] == "hi"
    assert m["html"] == "<p>hi</p>\n"
    assert m["type"] == "regular"
    assert m["cid"] == ch.cid
    assert m["user"]["id"] == owner
    assert m["custom_field"] == 1
    assert m["attachments"] == []
    assert m["mentioned_users"] == []
    assert m["latest_reactions"] == []
    assert m["own_reactions"] == []
    assert m["reaction_counts"] == {}
    assert m["reply_count"] == 0
    assert m["pinned"] is False
    assert "pinned_at" in m and m["pinned_at"] is None
    assert "pinned_by" in m and m["pinned_by"] is None
    assert m["silent"] is False
    assert m["shadowed"] is False
    assert_recent(m["created_at"])
    assert_recent(m["updated_at"])


def test_send_message_with_client_id_and_duplicate(client, make_channel):
    ch, _, owner = make_channel()
    mid = "msg-" + uuid.uuid4().hex
    resp = ch.send_message({"id": mid, "text": "mine"}, owner)
    assert resp["message"]["id"] == mid
    exc = api_error(ch.send_message, {"id": mid, "text": "again"}, owner)
    assert_api_error(exc, 4, 400)


def test_send_message_requires_user_server_side(client, make_channel):
    ch, _, _ = make_channel()
    exc = api_error(client.post, f"{ch.url}/message", data={"message": {"text": "anon"}})
    assert_api_error(exc, 4, 400)


def test_get_message(client, make_channel):
    ch, _, owner = make_channel()
    sent = ch.send_message({"text": "get me", "custom_field": "x"}, owner)["message"]
    m = client.get_message(sent["id"])["message"]
    assert m["id"] == sent["id"]
    assert m["text"] == "get me"
    assert m["custom_field"] == "x"
    assert m["user"]["id"] == owner
    assert m["created_at"] == sent["created_at"]
    assert m["channel"]["cid"] == ch.cid


def test_get_unknown_message_is_16(client):
    exc = api_error(client.get_message, "nope-" + uuid.uuid4().hex)
    assert_api_error(exc, 16, 404)


def test_update_message_full_replace(client, make_channel):
    ch, _, owner = make_channel()
    sent = ch.send_message({"text": "v1", "custom_field": 1, "keep": "no"}, owner)["message"]
    resp = client.update_message({"id": sent["id"], "text": "v2", "other": True, "user_id": owner})
    m = resp["message"]
    assert m["id"] == sent["id"]
    assert m["text"] == "v2"
    assert m["other"] is True
    assert "custom_field" not in m
    assert "keep" not in m
    assert m["user"]["id"] == owner
    assert parse_ts(m["updated_at"]) >= parse_ts(sent["updated_at"])
    got = client.get_message(sent["id"])["message"]
    assert got["text"] == "v2"
    assert "custom_field" not in got


def test_update_message_partial(client, make_channel):
    ch, _, owner = make_channel()
    sent = ch.send_message({"text": "p", "custom_field": 1}, owner)["message"]
    resp = client.update_message_partial(
        sent["id"], {"set": {"awesome": True, "text": "p2"}, "unset": ["custom_field"]}, owner
    )
    m = resp["message"]
    assert m["awesome"] is True
    assert m["text"] == "p2"
    assert "custom_field" not in m
    got = client.get_message(sent["id"])["message"]
    assert got["awesome"] is True
    assert "custom_field" not in got


def test_pin_and_unpin(client, make_channel):
    ch, _, owner = make_channel()
    sent = ch.send_message({"text": "pin me"}, owner)["message"]
    m = client.pin_message(sent["id"], owner)["message"]
    assert m["pinned"] is True
    assert_recent(m["pinned_at"])
    assert m["pinned_by"]["id"] == owner
    assert m.get("pin_expires") is None

    m = client.unpin_message(sent["id"], owner)["message"]
    assert m["pinned"] is False
    assert "pinned_at" in m and m["pinned_at"] is None
    assert "pinned_by" in m and m["pinned_by"] is None
    got = client.get_message(sent["id"])["message"]
    assert got["pinned"] is False
    assert got["pinned_at"] is None


def test_pin_with_expiration_seconds(client, make_channel):
    ch, _, owner = make_channel()
    sent = ch.send_message({"text": "pin 1h"}, owner)["message"]
    m = client.pin_message(sent["id"], owner, expiration=3600)["message"]
    assert m["pinned"] is True
    pinned_at = parse_ts(m["pinned_at"])
    expires = parse_ts(m["pin_expires"])
    assert abs((expires - pinned_at) - timedelta(seconds=3600)) < timedelta(seconds=5)


def test_soft_delete(client, make_channel):
    ch, _, owner = make_channel()
    sent = ch.send_message({"text": "bye"}, owner)["message"]
    m = client.delete_message(sent["id"])["message"]
    assert m["id"] == sent["id"]
    assert m["type"] == "deleted"
    assert_recent(m["deleted_at"])
    got = client.get_message(sent["id"])["message"]
    assert got["type"] == "deleted"
    assert got["deleted_at"] is not None


def test_hard_delete(client, make_channel):
    ch, _, owner = make_channel()
    sent = ch.send_message({"text": "gone"}, owner)["message"]
    m = client.delete_message(sent["id"], hard=True)["message"]
    assert m["id"] == sent["id"]
    assert m["type"] == "deleted"
    exc = api_error(client.get_message, sent["id"])
    assert_api_error(exc, 16, 404)
    assert [x["id"] for x in ch.query()["messages"]] == []


def test_channel_messages_ascending(client, make_channel):
    ch, _, owner = make_channel()
    for i in range(4):
        ch.send_message({"text": f"m{i}", "index": i}, owner)
    msgs = ch.query()["messages"]
    assert [m["index"] for m in msgs] == [0, 1, 2, 3]
    created = [parse_ts(m["created_at"]) for m in msgs]
    assert created == sorted(created)


def test_thread_replies(client, make_user, make_channel):
    replier = make_user()["id"]
    ch, _, owner = make_channel(members=[replier])
    parent = ch.send_message({"text": "parent"}, owner)["message"]
    for i in range(5):
        r = ch.send_message({"text": f"r{i}", "parent_id": parent["id"], "index": i}, replier)["message"]
        assert r["parent_id"] == parent["id"]
        assert r["type"] == "reply"

    replies = ch.get_replies(parent["id"], limit=3)["messages"]
    assert [r["index"] for r in replies] == [2, 3, 4]
    assert all(r["parent_id"] == parent["id"] for r in replies)

    all_replies = ch.get_replies(parent["id"])["messages"]
    assert [r["index"] for r in all_replies] == [0, 1, 2, 3, 4]

    p = client.get_message(parent["id"])["message"]
    assert p["reply_count"] == 5
    assert replier in {u["id"] for u in p["thread_participants"]}

    # replies stay out of the channel's main message list
    assert [m["text"] for m in ch.query()["messages"]] == ["parent"]


def test_show_in_channel_reply_is_listed(client, make_channel):
    ch, _, owner = make_channel()
    parent = ch.send_message({"text": "parent"}, owner)["message"]
    ch.send_message({"text": "hidden reply", "parent_id": parent["id"]}, owner)
    ch.send_message({"text": "shown reply", "parent_id": parent["id"], "show_in_channel": True}, owner)
    assert [m["text"] for m in ch.query()["messages"]] == ["parent", "shown reply"]


def test_reply_to_reply_is_rejected(client, make_channel):
    ch, _, owner = make_channel()
    parent = ch.send_message({"text": "parent"}, owner)["message"]
    reply = ch.send_message({"text": "r", "parent_id": parent["id"]}, owner)["message"]
    exc = api_error(ch.send_message, {"text": "rr", "parent_id": reply["id"]}, owner)
    assert_api_error(exc, 21, 400)


def test_get_many_messages(client, make_channel):
    ch, _, owner = make_channel()
    a = ch.send_message({"text": "a"}, owner)["message"]["id"]
    b = ch.send_message({"text": "b"}, owner)["message"]["id"]
    ch.send_message({"text": "c"}, owner)
    got = ch.get_messages([a, b, "missing-" + uuid.uuid4().hex])["messages"]
    assert sorted(m["id"] for m in got) == sorted([a, b])
    assert {m["text"] for m in got} == {"a", "b"}


def test_mentions_come_back_as_users(client, make_user, make_channel):
    frodo = make_user(name="Frodo")
    ch, _, owner = make_channel(members=[frodo["id"]])
    m = ch.send_message(
        {"text": f"@{frodo['id']} hello", "mentioned_users": [frodo["id"]]}, owner
    )["message"]
    assert len(m["mentioned_users"]) == 1
    mu = m["mentioned_users"][0]
    assert isinstance(mu, dict)
    assert mu["id"] == frodo["id"]
    assert mu["name"] == "Frodo"
    got = client.get_message(m["id"])["message"]
    assert [u["id"] for u in got["mentioned_users"]] == [frodo["id"]]


def test_max_message_length(client, make_channel):
    ch, _, owner = make_channel()
    ok = ch.send_message({"text": "a" * 5000}, owner)["message"]
    assert len(ok["text"]) == 5000
    exc = api_error(ch.send_message, {"text": "a" * 5001}, owner)
    # The brief for this suite fixes code 4 / HTTP 400 (InputError), which is
    # what Stream sends as "SendMessage failed with error: ...too long...".
    # Note: spec 1.5's table also lists 20 MessageTooLongError for this case.
    assert_api_error(exc, 4, 400)


def test_quoted_message(client, make_channel):
    ch, _, owner = make_channel()
    q = ch.send_message({"text": "original"}, owner)["message"]
    m = ch.send_message({"text": "quoting", "quoted_message_id": q["id"]}, owner)["message"]
    assert m["quoted_message_id"] == q["id"]
    assert m["quoted_message"]["id"] == q["id"]
    assert m["quoted_message"]["text"] == "original"


def test_channel_message_pagination(client, make_channel):
    ch, _, owner = make_channel()
    ids = [ch.send_message({"text": f"m{i}", "index": i}, owner)["message"]["id"] for i in range(6)]
    latest = ch.query(messages={"limit": 2})["messages"]
    assert [m["index"] for m in latest] == [4, 5]
    older = ch.query(messages={"limit": 2, "id_lt": ids[4]})["messages"]
    assert [m["index"] for m in older] == [2, 3]


def test_undelete_soft_deleted_message(client, make_channel):
    ch, _, owner = make_channel()
    sent = ch.send_message({"text": "oops"}, owner)["message"]
    client.delete_message(sent["id"])
    m = client.undelete_message(sent["id"], owner)["message"]
    assert m["id"] == sent["id"]
    assert m["type"] == "regular"
    assert m["text"] == "oops"
    assert m.get("deleted_at") is None
    got = client.get_message(sent["id"])["message"]
    assert got["type"] == "regular"
    assert got["text"] == "oops"
