"""Privacy settings: a user with read receipts off does not show up in others' read state."""


def test_read_receipts_off_hides_the_users_read_state(client, make_user, make_channel):
    private = make_user(privacy_settings={"read_receipts": {"enabled": False}})["id"]
    public = make_user()["id"]
    ch, _, owner = make_channel(members=[private, public])
    ch.send_message({"text": "hello"}, owner)
    ch.mark_read(private)
    ch.mark_read(public)
    state = ch.query(messages={"limit": 1})
    readers = {r["user"]["id"] for r in state["read"]}
    assert public in readers and owner in readers
    assert private not in readers
