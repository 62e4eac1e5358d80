"""Invites (invite, accept, reject) and adding members without the history before they joined."""

from eddy_helpers import api_error, assert_api_error


def test_invite_then_accept_or_reject(client, make_user, make_channel):
    ch, _, _ = make_channel()
    accepter = make_user()["id"]
    rejecter = make_user()["id"]
    stranger = make_user()["id"]
    ch.invite_members([accepter, rejecter])

    def membership(user_id):
        return next(m for m in ch.query()["members"] if m["user_id"] == user_id)

    assert membership(accepter)["invited"] is True
    ch.accept_invite(accepter)
    accepted = membership(accepter)
    assert accepted["invite_accepted_at"]
    ch.accept_invite(accepter)  # repeating is a no-op
    assert membership(accepter)["invite_accepted_at"] == accepted["invite_accepted_at"]

    ch.reject_invite(rejecter)
    assert membership(rejecter)["invite_rejected_at"]
    assert "invite_accepted_at" not in membership(rejecter)

    exc = api_error(ch.accept_invite, stranger)
    assert_api_error(exc, 4, 400)


def test_hide_history_when_adding_members(client, make_user, make_channel):
    ch, _, owner = make_channel()
    ch.send_message({"text": "before they joined"}, owner)
    newcomer = make_user()["id"]
    ch.add_members([newcomer], hide_history=True)
    ch.send_message({"text": "after they joined"}, owner)
    seen = client.channel("messaging", ch.id).query(user_id=newcomer)["messages"]
    assert [m["text"] for m in seen] == ["after they joined"]
    everyone = client.channel("messaging", ch.id).query(user_id=owner)["messages"]
    assert [m["text"] for m in everyone] == ["before they joined", "after they joined"]
