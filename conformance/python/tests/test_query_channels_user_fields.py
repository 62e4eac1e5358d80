"""queryChannels fields relative to the querying user: pinned, archived, joined, has_unread, channel_role."""

from eddy_helpers import api_error, assert_api_error


def test_user_relative_channel_filters_and_sorts(client, make_user, make_channel):
    reader = make_user(name="Reader")["id"]
    pinned, _, owner = make_channel(members=[reader])
    archived, _, _ = make_channel(members=[reader])
    unread, _, unread_owner = make_channel(members=[reader])
    pinned.update_member_partial(reader, to_set={"pinned": True})
    archived.update_member_partial(reader, to_set={"archived": True})
    unread.send_message({"text": "ping"}, unread_owner)
    unread.send_message({"text": "ping again"}, unread_owner)
    mine = {"members": {"$in": [reader]}}

    def cids(filter_conditions, sort=None):
        found = client.query_channels({**mine, **filter_conditions}, sort, user_id=reader)["channels"]
        return [c["channel"]["cid"] for c in found]

    assert cids({"pinned": True}) == [pinned.cid]
    assert set(cids({"pinned": False})) == {archived.cid, unread.cid}
    assert cids({"archived": True}) == [archived.cid]
    assert cids({"has_unread": True}) == [unread.cid]
    assert set(cids({"joined": True})) == {pinned.cid, archived.cid, unread.cid}
    assert set(cids({"channel_role": "channel_member"})) == {pinned.cid, archived.cid, unread.cid}
    assert cids({}, [{"field": "pinned_at", "direction": -1}])[0] == pinned.cid
    assert cids({}, [{"field": "unread_count", "direction": -1}])[0] == unread.cid


def test_user_relative_fields_need_a_user(client, make_channel):
    ch, _, _ = make_channel()
    exc = api_error(client.query_channels, {"cid": ch.cid, "pinned": True})
    assert "user" in assert_api_error(exc, 4, 400)["message"]
