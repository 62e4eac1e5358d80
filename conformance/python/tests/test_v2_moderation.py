"""The v2 layout with Stream's v2 Python SDK: /api/v2/moderation ban, unban, mute, unmute, flag,
and the chat-scoped queries of bans and flags."""

import pytest
from getstream.exceptions import StreamApiException
from getstream.models import (
    MessageRequest,
    QueryBannedUsersPayload,
    QueryMessageFlagsPayload,
)

from conftest import uid
from v2_helpers import v2_channel, v2_user


def test_ban_query_and_unban(stream):
    admin, target = v2_user(stream), v2_user(stream)
    reason = uid("because")
    stream.moderation.ban(target_user_id=target, banned_by_id=admin, reason=reason, timeout=60)
    bans = stream.chat.query_banned_users(
        QueryBannedUsersPayload(filter_conditions={"reason": reason})
    ).data.bans
    assert [(b.user.id, b.banned_by.id, b.reason) for b in bans] == [(target, admin, reason)]
    assert bans[0].expires is not None and bans[0].expires > bans[0].created_at
    stream.moderation.unban(target_user_id=target, unbanned_by_id=admin)
    after = stream.chat.query_banned_users(
        QueryBannedUsersPayload(filter_conditions={"reason": reason})
    ).data.bans
    assert after == []


def test_channel_ban_stops_the_user_sending(stream, stream_as):
    channel, (a, b), state = v2_channel(stream)
    stream.moderation.ban(target_user_id=b, banned_by_id=a, channel_cid=state.channel.cid)
    as_b = stream_as(b).chat.channel("messaging", channel.channel_id)
    with pytest.raises(StreamApiException) as error:
        as_b.send_message(MessageRequest(text="let me talk"))
    assert (error.value.status_code, error.value.code) == (403, 17)
    stream.moderation.unban(target_user_id=b, channel_cid=state.channel.cid, unbanned_by_id=a)
    sent = as_b.send_message(MessageRequest(text="thanks")).data.message
    assert sent.user.id == b


def test_mute_and_unmute(stream):
    a, b = v2_user(stream), v2_user(stream)
    muted = stream.moderation.mute(target_ids=[b], user_id=a).data
    assert [(m.user.id, m.target.id) for m in muted.mutes] == [(a, b)]
    assert muted.mutes[0].expires is None
    assert [m.target.id for m in muted.own_user.mutes] == [b]
    timed = stream.moderation.mute(target_ids=[b], user_id=a, timeout=5).data.mutes[0]
    assert timed.expires > timed.created_at
    stream.moderation.unmute(target_ids=[b], user_id=a)


def test_flag_a_message_and_query_flags(stream):
    channel, (a, b), state = v2_channel(stream)
    sent = channel.send_message(MessageRequest(text="bad words", user_id=a)).data.message
    item = stream.moderation.flag(
        entity_type="stream:chat:v1:message", entity_id=sent.id, reason="spam", user_id=b
    ).data
    assert item.item_id == sent.id
    flags = stream.chat.query_message_flags(
        QueryMessageFlagsPayload(filter_conditions={"channel_cid": state.channel.cid})
    ).data.flags
    assert [(f.message.id, f.user.id, f.reason) for f in flags] == [(sent.id, b, "spam")]


def test_flag_a_user(stream):
    a, b = v2_user(stream), v2_user(stream)
    item = stream.moderation.flag(entity_type="stream:user", entity_id=b, user_id=a).data
    assert item.item_id == b


def test_flag_of_an_unsupported_entity_is_input_error(stream):
    with pytest.raises(StreamApiException) as error:
        stream.moderation.flag(entity_type="stream:feeds:v2:activity", entity_id="x", user_id=v2_user(stream))
    assert (error.value.status_code, error.value.code) == (400, 4)
