"""Mutes through the Python SDK: muting users (with a timeout) and channels (with an expiration)."""

from eddy_helpers import api_error, assert_api_error


def test_mute_and_unmute_users(client, make_user):
    muter = make_user()["id"]
    loud = make_user(name="Loud")["id"]
    other = make_user()["id"]
    response = client.mute_user(loud, muter)
    assert response["mute"]["target"]["id"] == loud
    assert response["mute"]["user"]["id"] == muter
    assert "expires" not in response["mute"]
    assert [m["target"]["id"] for m in response["own_user"]["mutes"]] == [loud]

    timed = client.mute_users([other], muter, timeout=10)
    assert timed["mute"]["target"]["id"] == other
    assert timed["mute"]["expires"]
    assert {m["target"]["id"] for m in timed["own_user"]["mutes"]} == {loud, other}

    client.unmute_user(loud, muter)
    after = client.mute_users([other], muter)
    assert [m["target"]["id"] for m in after["own_user"]["mutes"]] == [other]

    assert_api_error(api_error(client.mute_user, muter, muter), 4, 400)
    assert_api_error(api_error(client.mute_user, "nobody-here", muter), 16, 404)


def test_mute_and_unmute_a_channel(client, make_user, make_channel):
    member = make_user()["id"]
    ch, _, _ = make_channel(members=[member])
    response = ch.mute(member, expiration=60_000)
    assert response["channel_mute"]["channel"]["cid"] == ch.cid
    assert response["channel_mute"]["user"]["id"] == member
    assert response["channel_mute"]["expires"]
    assert [m["channel"]["cid"] for m in response["own_user"]["channel_mutes"]] == [ch.cid]
    ch.unmute(member)
    again = ch.mute(member)
    assert "expires" not in again["channel_mute"]


def test_out_of_range_timeouts_are_refused(client, make_user, make_channel):
    muter = make_user()["id"]
    target = make_user()["id"]
    assert_api_error(api_error(client.mute_user, target, muter, timeout=10**18), 4, 400)
    ch, _, _ = make_channel(members=[muter])
    assert_api_error(api_error(ch.mute, muter, expiration=2**62), 4, 400)
