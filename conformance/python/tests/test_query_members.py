"""QueryMembers (GET /members) through the Python SDK: filters on user fields, roles and custom member data."""

from eddy_helpers import api_error, assert_api_error


def test_query_members_by_name_role_and_custom_field(client, make_user, make_channel):
    john = make_user(name="john-smith")["id"]
    jessica = make_user(name="Jessica Jones")["id"]
    paul = make_user(name="paul")["id"]
    ch, _, owner = make_channel(members=[john, jessica, paul])
    ch.add_moderators([paul])
    client.channel("messaging", ch.id).update_member_partial(jessica, to_set={"hat": "red"})

    by_name = ch.query_members({"name": {"$autocomplete": "j"}}, [{"field": "user_id", "direction": 1}])
    assert {m["user_id"] for m in by_name} == {john, jessica}

    moderators = ch.query_members({"channel_role": "channel_moderator"})
    assert [m["user_id"] for m in moderators] == [paul]
    assert moderators[0]["is_moderator"] is True

    hats = ch.query_members({"hat": "red"})
    assert [m["user_id"] for m in hats] == [jessica]
    assert hats[0]["hat"] == "red"

    everyone = ch.query_members({})
    assert {m["user_id"] for m in everyone} == {owner, john, jessica, paul}
    first_page = ch.query_members({}, limit=2)
    second_page = ch.query_members({}, limit=2, offset=2)
    assert [m["user_id"] for m in first_page + second_page] == [m["user_id"] for m in everyone]


def test_query_members_refuses_unknown_operators(client, make_channel):
    ch, _, _ = make_channel()
    exc = api_error(ch.query_members, {"name": {"$regex": "x"}})
    body = assert_api_error(exc, 4, 400)
    assert "$regex" in body["message"]
