"""Requests made with user tokens: the token user is the actor and the
default grants of the messaging type (spec Appendix A) apply."""

from eddy_helpers import api_error, assert_api_error


def test_member_sends_with_user_token(client, user_client, make_user, make_channel):
    me = make_user(name="Me")["id"]
    ch, _, _ = make_channel(members=[me])
    uc = user_client(me)
    m = uc.channel("messaging", ch.id).send_message({"text": "from a user token"}, me)["message"]
    assert m["user"]["id"] == me
    assert m["user"]["name"] == "Me"
    assert client.get_message(m["id"])["message"]["text"] == "from a user token"


def test_non_member_cannot_send_in_messaging(client, user_client, make_user, make_channel):
    outsider = make_user()["id"]
    ch, _, _ = make_channel()
    uc = user_client(outsider)
    exc = api_error(uc.channel("messaging", ch.id).send_message, {"text": "let me in"}, outsider)
    assert_api_error(exc, 17, 403)
    assert ch.query()["messages"] == []


def test_own_capabilities_for_member(client, user_client, make_user, make_channel):
    me = make_user()["id"]
    ch, _, _ = make_channel(members=[me])
    uc = user_client(me)
    got = uc.query_channels({"id": ch.id})["channels"]
    assert [c["channel"]["id"] for c in got] == [ch.id]
    caps = got[0]["channel"]["own_capabilities"]
    assert isinstance(caps, list)
    for cap in ("send-message", "send-reaction", "read-events", "upload-file"):
        assert cap in caps, (cap, caps)


def test_user_cannot_delete_someone_elses_message(client, user_client, make_user, make_channel):
    me = make_user()["id"]
    ch, _, owner = make_channel(members=[me])
    mid = ch.send_message({"text": "owner's"}, owner)["message"]["id"]
    exc = api_error(user_client(me).delete_message, mid)
    assert_api_error(exc, 17, 403)
    assert client.get_message(mid)["message"]["type"] == "regular"


def test_user_can_delete_own_message(client, user_client, make_user, make_channel):
    me = make_user()["id"]
    ch, _, _ = make_channel(members=[me])
    mid = ch.send_message({"text": "mine"}, me)["message"]["id"]
    m = user_client(me).delete_message(mid)["message"]
    assert m["type"] == "deleted"
