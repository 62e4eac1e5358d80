"""Channels: get-or-create, members, updates, queries, hide/show, truncate, delete."""

import time

from eddy_helpers import (
    api_error,
    assert_api_error,
    assert_recent,
    member_ids,
    poll_task,
)
from conftest import uid


def test_create_channel_returns_channel_with_flat_custom_data(client, make_user):
    owner = make_user()["id"]
    ch_id = uid("ch")
    ch = client.channel("messaging", ch_id, data={"name": "Fellowship", "color": "green"})
    resp = ch.create(owner)
    c = resp["channel"]
    assert c["id"] == ch_id
    assert c["type"] == "messaging"
    assert c["cid"] == f"messaging:{ch_id}"
    assert c["name"] == "Fellowship"
    assert c["color"] == "green"
    assert c["created_by"]["id"] == owner
    assert c["frozen"] is False
    assert c["disabled"] is False
    assert_recent(c["created_at"])
    assert_recent(c["updated_at"])
    assert "members" in resp
    assert isinstance(resp["members"], list)


def test_create_is_get_or_create(client, make_user):
    owner = make_user()["id"]
    ch_id = uid("ch")
    first = client.channel("messaging", ch_id, data={"color": "green"}).create(owner)
    second = client.channel("messaging", ch_id, data={"color": "red"}).create(owner)
    assert second["channel"]["cid"] == first["channel"]["cid"]
    assert second["channel"]["created_at"] == first["channel"]["created_at"]
    # data is ignored for an existing channel
    assert second["channel"]["color"] == "green"


def test_create_with_members_and_query_returns_them(client, make_user, make_channel):
    a, b = make_user()["id"], make_user()["id"]
    ch, resp, owner = make_channel(members=[a, b])
    assert member_ids(resp["members"]) == {owner, a, b}
    state = ch.query()
    assert state["channel"]["id"] == ch.id
    assert member_ids(state["members"]) == {owner, a, b}
    assert state["channel"]["member_count"] == 3
    for m in state["members"]:
        assert m["channel_role"] == "channel_member"
        assert m["banned"] is False
    assert state["messages"] == []


def test_add_and_remove_members(client, make_user, make_channel):
    ch, _, owner = make_channel()
    a, b = make_user(name="A")["id"], make_user(name="B")["id"]
    resp = ch.add_members([a, b])
    assert member_ids(resp["members"]) == {owner, a, b}
    assert resp["channel"]["member_count"] == 3
    added = {m["user_id"]: m for m in resp["members"]}
    assert added[a]["user"]["name"] == "A"

    resp = ch.remove_members([a])
    assert member_ids(resp["members"]) == {owner, b}
    assert member_ids(ch.query()["members"]) == {owner, b}


def test_add_members_with_roles(client, make_user, make_channel):
    ch, _, owner = make_channel()
    mod = make_user()["id"]
    resp = ch.add_members([{"user_id": mod, "channel_role": "channel_moderator"}])
    by_id = {m["user_id"]: m for m in resp["members"]}
    assert by_id[mod]["channel_role"] == "channel_moderator"
    assert by_id[owner]["channel_role"] == "channel_member"


def test_full_update_replaces_custom_data(client, make_channel):
    ch, resp, _ = make_channel(name="Before", color="green")
    assert resp["channel"]["color"] == "green"
    resp = ch.update({"name": "After", "motd": "hello"})
    assert resp["channel"]["name"] == "After"
    assert resp["channel"]["motd"] == "hello"
    assert "color" not in resp["channel"]
    c = ch.query()["channel"]
    assert c["name"] == "After"
    assert c["motd"] == "hello"
    assert "color" not in c


def test_update_with_system_message(client, make_channel):
    ch, _, owner = make_channel()
    resp = ch.update({"name": "x"}, {"text": "renamed", "user_id": owner})
    assert resp["message"]["text"] == "renamed"
    msgs = ch.query()["messages"]
    assert [m["text"] for m in msgs] == ["renamed"]


def test_update_partial_set_and_unset(client, make_channel):
    ch, _, _ = make_channel(name="P", color="green", motd="hi")
    resp = ch.update_partial(to_set={"color": "blue", "level": 3}, to_unset=["motd"])
    c = resp["channel"]
    assert c["color"] == "blue"
    assert c["level"] == 3
    assert c["name"] == "P"
    assert "motd" not in c
    c = ch.query()["channel"]
    assert c["color"] == "blue"
    assert c["level"] == 3
    assert "motd" not in c


def test_query_channels_by_id_and_cid(client, make_channel):
    ch, _, _ = make_channel(color="green")
    make_channel()  # noise
    got = client.query_channels({"id": ch.id})["channels"]
    assert [c["channel"]["id"] for c in got] == [ch.id]
    assert got[0]["channel"]["color"] == "green"
    assert "members" in got[0]
    assert "messages" in got[0]
    got = client.query_channels({"cid": {"$in": [ch.cid]}})["channels"]
    assert [c["channel"]["cid"] for c in got] == [ch.cid]


def test_query_channels_by_member_sorted_by_last_message_at(client, make_user, make_channel):
    me = make_user()["id"]
    ch_a, _, owner_a = make_channel(members=[me])
    ch_b, _, owner_b = make_channel(members=[me])
    make_channel()  # a channel without me

    ch_a.send_message({"text": "a1"}, owner_a)
    time.sleep(0.01)  # distinct last_message_at
    ch_b.send_message({"text": "b1"}, owner_b)
    got = client.query_channels({"members": {"$in": [me]}}, {"last_message_at": -1})["channels"]
    assert [c["channel"]["id"] for c in got] == [ch_b.id, ch_a.id]

    time.sleep(0.01)
    ch_a.send_message({"text": "a2"}, owner_a)
    got = client.query_channels({"members": {"$in": [me]}}, {"last_message_at": -1})["channels"]
    assert [c["channel"]["id"] for c in got] == [ch_a.id, ch_b.id]
    assert got[0]["channel"]["last_message_at"] is not None
    assert [m["text"] for m in got[0]["messages"]] == ["a1", "a2"]

    got = client.query_channels({"members": {"$in": [me]}}, {"last_message_at": 1})["channels"]
    assert [c["channel"]["id"] for c in got] == [ch_b.id, ch_a.id]


def test_query_channels_limit_offset(client, make_user, make_channel):
    me = make_user()["id"]
    ids = sorted(make_channel(members=[me])[0].id for _ in range(3))
    got = client.query_channels({"members": {"$in": [me]}}, {"id": 1}, limit=1, offset=1)
    assert [c["channel"]["id"] for c in got["channels"]] == ids[1:2]


def test_hide_and_show(client, make_user, make_channel):
    me = make_user()["id"]
    ch, _, _ = make_channel(members=[me])

    def visible():
        got = client.query_channels({"id": ch.id}, user_id=me)["channels"]
        return [c["channel"]["id"] for c in got]

    assert visible() == [ch.id]
    ch.hide(me)
    assert visible() == []
    hidden = client.query_channels({"id": ch.id, "hidden": True}, user_id=me)["channels"]
    assert [c["channel"]["id"] for c in hidden] == [ch.id]
    ch.show(me)
    assert visible() == [ch.id]


def test_hidden_channel_reappears_on_new_message(client, make_user, make_channel):
    me = make_user()["id"]
    ch, _, owner = make_channel(members=[me])
    ch.hide(me)
    assert client.query_channels({"id": ch.id}, user_id=me)["channels"] == []
    ch.send_message({"text": "ping"}, owner)
    got = client.query_channels({"id": ch.id}, user_id=me)["channels"]
    assert [c["channel"]["id"] for c in got] == [ch.id]


def test_truncate(client, make_channel):
    ch, _, owner = make_channel()
    ch.send_message({"text": "one"}, owner)
    ch.send_message({"text": "two"}, owner)
    assert len(ch.query()["messages"]) == 2
    resp = ch.truncate()
    assert resp["channel"]["id"] == ch.id
    assert_recent(resp["channel"]["truncated_at"])
    assert ch.query()["messages"] == []
    ch.send_message({"text": "three"}, owner)
    assert [m["text"] for m in ch.query()["messages"]] == ["three"]


def test_truncate_with_system_message(client, make_channel):
    ch, _, owner = make_channel()
    ch.send_message({"text": "old"}, owner)
    resp = ch.truncate(message={"text": "history cleared", "user_id": owner})
    assert resp["message"]["text"] == "history cleared"
    assert [m["text"] for m in ch.query()["messages"]] == ["history cleared"]


def test_delete_channel(client, make_channel):
    ch, _, _ = make_channel()
    resp = ch.delete()
    assert resp["channel"]["id"] == ch.id
    assert_recent(resp["channel"]["deleted_at"])
    assert client.query_channels({"id": ch.id})["channels"] == []


def test_delete_channels_task(client, make_channel):
    ch1, _, _ = make_channel()
    ch2, _, _ = make_channel()
    resp = client.delete_channels([ch1.cid, ch2.cid])
    task_id = resp["task_id"]
    assert isinstance(task_id, str) and len(task_id) == 36
    # channels disappear from queries immediately
    got = client.query_channels({"cid": {"$in": [ch1.cid, ch2.cid]}})["channels"]
    assert got == []
    task = poll_task(client, task_id)
    assert task["status"] == "completed"
    assert task["task_id"] == task_id
    assert task["result"] == {ch1.cid: {"status": "ok"}, ch2.cid: {"status": "ok"}}


def test_server_side_create_without_creator_is_input_error(client):
    ch = client.channel("messaging", uid("ch"))
    exc = api_error(ch.query)
    assert_api_error(exc, 4, 400)


def test_members_filter_eq_exact_set(client, make_user, make_channel):
    a, b = make_user()["id"], make_user()["id"]
    ch, _, owner = make_channel(members=[a, b])
    got = client.query_channels({"members": {"$eq": sorted([owner, a, b])}})["channels"]
    assert [c["channel"]["id"] for c in got] == [ch.id]
    got = client.query_channels({"members": {"$eq": [owner, a]}, "id": ch.id})["channels"]
    assert got == []


def test_update_member_partial_custom_data(client, make_user, make_channel):
    me = make_user()["id"]
    ch, _, _ = make_channel(members=[me])
    resp = ch.update_member_partial(me, to_set={"hat": "blue", "score": 7})
    cm = resp["channel_member"]
    assert cm["user_id"] == me
    assert cm["hat"] == "blue"
    assert cm["score"] == 7
    resp = ch.update_member_partial(me, to_unset=["hat"])
    assert "hat" not in resp["channel_member"]
    assert resp["channel_member"]["score"] == 7
    members = {m["user_id"]: m for m in ch.query()["members"]}
    assert members[me]["score"] == 7
    assert "hat" not in members[me]
