"""Channel member roles (``assign_roles``) and frozen channels with the official Python SDK."""

from eddy_helpers import api_error, assert_api_error


def role_of(channel, user_id):
    members = channel.query(members={"limit": 100})["members"]
    return next(m["channel_role"] for m in members if m["user_id"] == user_id)


def test_assign_roles_changes_channel_roles_and_their_grants(client, user_client, make_user, make_channel):
    mod, member = make_user()["id"], make_user()["id"]
    ch, _, owner = make_channel(members=[mod, member])
    ch.assign_roles([{"user_id": mod, "channel_role": "channel_moderator"}])
    assert role_of(ch, mod) == "channel_moderator"
    assert role_of(ch, member) == "channel_member"
    # The new channel moderator may delete another member's message; the plain member may not.
    sent = ch.send_message({"text": "from the member"}, member)["message"]
    exc = api_error(user_client(owner).delete_message, sent["id"])
    assert_api_error(exc, 17, 403)
    user_client(mod).delete_message(sent["id"])
    assert client.get_message(sent["id"])["message"]["type"] == "deleted"
    # And back.
    ch.assign_roles([{"user_id": mod, "channel_role": "channel_member"}])
    assert role_of(ch, mod) == "channel_member"


def test_assign_roles_refusals(client, user_client, make_user, make_channel):
    member, outsider = make_user()["id"], make_user()["id"]
    ch, _, owner = make_channel(members=[member])
    exc = api_error(ch.assign_roles, [{"user_id": outsider, "channel_role": "channel_moderator"}])
    assert_api_error(exc, 4, 400)
    exc = api_error(ch.assign_roles, [{"user_id": member, "channel_role": "no_such_role"}])
    assert_api_error(exc, 4, 400)
    exc = api_error(ch.assign_roles, [{"user_id": member}])
    assert_api_error(exc, 4, 400)
    # Nothing changed by a refused request, even for its valid entries.
    exc = api_error(
        ch.assign_roles,
        [
            {"user_id": member, "channel_role": "channel_moderator"},
            {"user_id": outsider, "channel_role": "channel_moderator"},
        ],
    )
    assert_api_error(exc, 4, 400)
    assert role_of(ch, member) == "channel_member"
    # Users cannot assign roles, not even the channel's creator.
    owner_client = user_client(owner)
    exc = api_error(
        owner_client.channel("messaging", ch.id).assign_roles,
        [{"user_id": member, "channel_role": "channel_moderator"}],
    )
    assert_api_error(exc, 17, 403)
    # A custom role made with POST /roles can be assigned.
    client.create_role("reviewer")
    try:
        ch.assign_roles([{"user_id": member, "channel_role": "reviewer"}])
        assert role_of(ch, member) == "reviewer"
        ch.assign_roles([{"user_id": member, "channel_role": "channel_member"}])
    finally:
        client.delete_role("reviewer")


def test_frozen_channel_refuses_user_messages_and_reactions(client, user_client, make_user, make_channel):
    member = make_user()["id"]
    ch, _, owner = make_channel(members=[member])
    before = ch.send_message({"text": "before the freeze"}, member)["message"]
    ch.update_partial({"frozen": True})
    assert ch.query()["channel"]["frozen"] is True
    uc = user_client(member)
    exc = api_error(uc.channel("messaging", ch.id).send_message, {"text": "during"}, member)
    assert_api_error(exc, 17, 403)
    assert "frozen" in str(exc)
    exc = api_error(uc.channel("messaging", ch.id).send_reaction, before["id"], {"type": "like"}, member)
    assert_api_error(exc, 17, 403)
    # Server-side sends still go through.
    ch.send_message({"text": "announcement"}, owner)
    ch.update_partial({"frozen": False})
    uc.channel("messaging", ch.id).send_message({"text": "after"}, member)
    texts = [m["text"] for m in ch.query()["messages"]]
    assert texts == ["before the freeze", "announcement", "after"]
