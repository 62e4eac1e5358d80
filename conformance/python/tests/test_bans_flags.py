"""Bans, shadow bans and flags through the Python SDK: app-wide and channel bans, their effect on
sending, QueryBannedUsers, flagging messages and users, and QueryMessageFlags."""

from eddy_helpers import api_error, assert_api_error, assert_recent, parse_ts, now


def send_as(user_client, channel, user_id, text):
    """Send with the user's own token (server-side sends are not subject to bans)."""
    return user_client(user_id).channel(channel.channel_type, channel.id).send_message(
        {"text": text}, user_id
    )["message"]


def test_app_wide_ban_blocks_sending_until_unbanned(client, user_client, make_user, make_channel):
    admin = make_user(role="admin")["id"]
    target = make_user()["id"]
    ch, _, _ = make_channel(members=[target])
    before = send_as(user_client, ch, target, "before")

    assert client.ban_user(target, user_id=admin, reason="spam", timeout=60) is not None
    user = client.query_users({"id": target})["users"][0]
    assert user["banned"] is True
    expires = parse_ts(user["ban_expires"])
    assert 3500 < (expires - now()).total_seconds() <= 3600

    exc = api_error(send_as, user_client, ch, target, "while banned")
    assert_api_error(exc, 17, 403)
    exc = api_error(
        user_client(target).channel("messaging", ch.id).send_reaction,
        before["id"],
        {"type": "love"},
        target,
    )
    assert_api_error(exc, 17, 403)

    client.unban_user(target, user_id=admin)
    assert client.query_users({"id": target})["users"][0]["banned"] is False
    assert send_as(user_client, ch, target, "after")["text"] == "after"
    # Lifting a ban that is not there is not an error.
    client.unban_user(target, user_id=admin)


def test_timeout_in_the_past_is_a_ban_that_already_ended(client, user_client, make_user, make_channel):
    target = make_user()["id"]
    ch, _, _ = make_channel(members=[target])
    client.ban_user(target, timeout=-10)
    user = client.query_users({"id": target})["users"][0]
    assert user["banned"] is False
    assert "ban_expires" not in user
    assert send_as(user_client, ch, target, "free again")["text"] == "free again"


def test_upserts_keep_the_ban(client, user_client, make_user, make_channel):
    target = make_user(name="Before")["id"]
    client.ban_user(target)
    client.upsert_user({"id": target, "name": "After", "banned": False})
    client.update_user_partial({"id": target, "set": {"name": "Partial", "banned": False}})
    user = client.query_users({"id": target})["users"][0]
    assert user["name"] == "Partial"
    assert user["banned"] is True
    client.unban_user(target)


def test_query_banned_users(client, make_user, make_channel):
    admin = make_user(role="admin", name="Admin")["id"]
    target = make_user(name="Target")["id"]
    client.ban_user(target, user_id=admin, reason="because")
    found = client.query_banned_users({"filter_conditions": {"reason": "because"}, "limit": 1})
    assert len(found["bans"]) == 1

    mine = client.query_banned_users({"filter_conditions": {"user_id": target}})["bans"]
    assert len(mine) == 1
    ban = mine[0]
    assert ban["user"]["id"] == target and ban["user"]["name"] == "Target"
    assert ban["user"]["banned"] is True
    assert ban["banned_by"]["id"] == admin
    assert ban["reason"] == "because"
    assert ban["shadow"] is False
    assert "channel" not in ban
    assert "expires" not in ban
    assert_recent(ban["created_at"])

    client.unban_user(target, user_id=admin)
    assert client.query_banned_users({"filter_conditions": {"user_id": target}})["bans"] == []


def test_channel_ban(client, user_client, make_user, make_channel):
    target = make_user()["id"]
    ch, _, owner = make_channel(members=[target])
    other, _, _ = make_channel(members=[target])

    ch.ban_user(target, user_id=owner, reason="off-topic", timeout=5)
    members = {m["user_id"]: m for m in ch.query()["members"]}
    assert members[target]["banned"] is True
    assert members[target]["ban_expires"]
    assert members[owner]["banned"] is False
    assert client.query_users({"id": target})["users"][0]["banned"] is False

    assert_api_error(api_error(send_as, user_client, ch, target, "here?"), 17, 403)
    assert send_as(user_client, other, target, "elsewhere")["text"] == "elsewhere"

    bans = client.query_banned_users({"filter_conditions": {"channel_cid": ch.cid}})["bans"]
    assert [b["user"]["id"] for b in bans] == [target]
    assert bans[0]["channel"]["cid"] == ch.cid
    assert bans[0]["expires"]

    # The ban outlives the membership: leaving and rejoining does not lift it.
    ch.remove_members([target])
    ch.add_members([target])
    members = {m["user_id"]: m for m in ch.query()["members"]}
    assert members[target]["banned"] is True
    assert_api_error(api_error(send_as, user_client, ch, target, "rejoined"), 17, 403)

    ch.unban_user(target, user_id=owner)
    assert send_as(user_client, ch, target, "back")["text"] == "back"
    members = {m["user_id"]: m for m in ch.query()["members"]}
    assert members[target]["banned"] is False


def test_shadow_ban(client, user_client, make_user, make_channel):
    sender = make_user()["id"]
    reader = make_user()["id"]
    ch, _, _ = make_channel(members=[sender, reader])

    first = ch.send_message({"text": "hello world"}, sender)["message"]
    assert client.get_message(first["id"])["message"]["shadowed"] is False

    client.shadow_ban(sender, user_id=reader)
    sent = ch.send_message({"text": "hello shadow"}, sender)["message"]
    assert sent["shadowed"] is False, "the author does not see their message shadowed"
    assert client.get_message(sent["id"])["message"]["shadowed"] is True

    seen_by_reader = user_client(reader).channel("messaging", ch.id).query()["messages"]
    assert [m["id"] for m in seen_by_reader] == [first["id"]]
    seen_by_sender = user_client(sender).channel("messaging", ch.id).query()["messages"]
    assert [m["id"] for m in seen_by_sender] == [first["id"], sent["id"]]
    assert seen_by_sender[-1]["shadowed"] is False

    client.remove_shadow_ban(sender, user_id=reader)
    after = ch.send_message({"text": "hello again"}, sender)["message"]
    assert client.get_message(after["id"])["message"]["shadowed"] is False


def test_who_may_ban(client, user_client, make_user, make_channel):
    plain = make_user()["id"]
    admin = make_user(role="admin")["id"]
    target = make_user()["id"]
    ch, _, _ = make_channel(members=[plain, target])

    assert_api_error(api_error(user_client(plain).ban_user, target), 17, 403)
    assert_api_error(api_error(user_client(plain).channel("messaging", ch.id).ban_user, target), 17, 403)
    assert_api_error(
        api_error(user_client(plain).query_banned_users, {"filter_conditions": {}}), 17, 403
    )
    user_client(admin).ban_user(target)
    assert client.query_users({"id": target})["users"][0]["banned"] is True
    user_client(admin).unban_user(target)

    assert_api_error(api_error(client.ban_user, admin, user_id=admin), 4, 400)
    assert_api_error(api_error(client.ban_user, "nobody-at-all", user_id=admin), 16, 404)
    assert_api_error(api_error(client.ban_user, target, type="messaging", id="no-such-channel"), 16, 404)


def test_flag_and_unflag_a_message(client, make_user, make_channel):
    sender = make_user()["id"]
    reporter = make_user(name="Reporter")["id"]
    ch, _, _ = make_channel(members=[sender, reporter])
    mid = ch.send_message({"text": "flag me"}, sender)["message"]["id"]

    flag = client.flag_message(mid, user_id=reporter, reason="rude", custom={"severity": 2})["flag"]
    assert flag["target_message_id"] == mid
    assert flag["user"]["id"] == reporter
    assert flag["created_by_automod"] is False
    assert flag["reason"] == "rude"
    assert flag["custom"] == {"severity": 2}
    assert_recent(flag["created_at"])
    assert "review_queue_item_id" not in flag

    assert_api_error(api_error(client.flag_message, mid, user_id=reporter), 4, 400)

    by_channel = client.query_message_flags({"channel_cid": ch.cid})["flags"]
    assert len(by_channel) == 1
    assert by_channel[0]["message"]["id"] == mid
    assert by_channel[0]["message"]["text"] == "flag me"
    assert by_channel[0]["user"]["id"] == reporter
    by_author = client.query_message_flags({"user_id": {"$in": [sender]}})["flags"]
    assert len(by_author) == 1

    unflagged = client.unflag_message(mid, user_id=reporter)["flag"]
    assert unflagged["target_message_id"] == mid
    assert client.query_message_flags({"channel_cid": ch.cid})["flags"] == []
    assert_api_error(api_error(client.unflag_message, mid, user_id=reporter), 16, 404)
    assert_api_error(api_error(client.flag_message, "no-such-message", user_id=reporter), 16, 404)


def test_flag_and_unflag_a_user(client, make_user):
    reporter = make_user()["id"]
    target = make_user(name="Flagged")["id"]
    flag = client.flag_user(target, user_id=reporter)["flag"]
    assert flag["target_user"]["id"] == target
    assert flag["target_user"]["name"] == "Flagged"
    assert flag["user"]["id"] == reporter
    assert_api_error(api_error(client.flag_user, target, user_id=reporter), 4, 400)
    assert client.unflag_user(target, user_id=reporter)["flag"]["target_user"]["id"] == target
    assert_api_error(api_error(client.flag_user, "nobody-at-all", user_id=reporter), 16, 404)


def test_bad_filters_are_refused(client, user_client, make_user):
    for call, payload in [
        (client.query_banned_users, {"filter_conditions": {"no_such_field": 1}}),
        (client.query_banned_users, {"filter_conditions": {"channel_cid": {"$gt": "a"}}}),
        (client.query_banned_users, {"filter_conditions": {}, "sort": [{"field": "reason"}]}),
    ]:
        body = assert_api_error(api_error(call, payload), 4, 400)
        assert body["message"]
    exc = api_error(client.query_message_flags, {"no_such_field": 1})
    body = assert_api_error(exc, 4, 400)
    assert "no_such_field" in body["message"]
    plain = make_user()["id"]
    assert_api_error(api_error(user_client(plain).query_message_flags, {}), 17, 403)


def test_channel_ban_of_a_non_member_in_livestream(client, user_client, make_user, make_channel):
    target = make_user()["id"]
    ch, _, owner = make_channel(channel_type="livestream")
    assert send_as(user_client, ch, target, "drive-by")["text"] == "drive-by"
    ch.ban_user(target, user_id=owner)
    assert_api_error(api_error(send_as, user_client, ch, target, "again"), 17, 403)
    ch.unban_user(target, user_id=owner)
    assert send_as(user_client, ch, target, "allowed")["text"] == "allowed"


def test_channel_shadow_ban(client, user_client, make_user, make_channel):
    sender = make_user()["id"]
    reader = make_user()["id"]
    ch, _, owner = make_channel(members=[sender, reader])
    other, _, _ = make_channel(members=[sender, reader])
    client.shadow_ban(sender, user_id=owner, type="messaging", id=ch.id)

    members = {m["user_id"]: m for m in ch.query()["members"]}
    assert members[sender]["shadow_banned"] is True
    own_view = user_client(sender).channel("messaging", ch.id).query()
    assert {m["user_id"]: m for m in own_view["members"]}[sender]["shadow_banned"] is False

    hidden = send_as(user_client, ch, sender, "in the shadow")
    assert client.get_message(hidden["id"])["message"]["shadowed"] is True
    visible = send_as(user_client, other, sender, "in the light")
    assert client.get_message(visible["id"])["message"]["shadowed"] is False
    assert user_client(reader).channel("messaging", ch.id).query()["messages"] == []
