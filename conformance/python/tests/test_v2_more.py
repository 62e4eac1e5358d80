"""The v2 layout with Stream's v2 Python SDK: operations served in the second pass (GetChannel,
QueryReactions, UnreadCountsBatch, RestoreUsers, SendUserCustomEvent, commands), the last pass
(GetPinnedMessages, GetRateLimits, SearchRoles) and what is still refused with code 4."""

from datetime import datetime

import pytest
from getstream.exceptions import StreamApiException
from getstream.models import (
    MessageRequest,
    QueryUsersPayload,
    ReactionRequest,
    SortParamRequest,
    UserCustomEventRequest,
)

from conftest import uid
from v2_helpers import recent, v2_channel, v2_user


def error_of(call, *args, **kwargs) -> StreamApiException:
    with pytest.raises(StreamApiException) as error:
        call(*args, **kwargs)
    return error.value


def test_get_channel_reads_state_without_creating(stream):
    channel, (a, b), created = v2_channel(stream, topic="rust")
    sent = [
        channel.send_message(MessageRequest(text=f"m{i}", user_id=a, custom={"n": i})).data.message
        for i in range(3)
    ]
    state = stream.chat.get_channel("messaging", channel.channel_id, state=True, messages_limit=2).data
    assert state.channel.cid == created.channel.cid
    assert state.channel.custom == {"topic": "rust"}
    assert recent(state.channel.created_at)
    assert [m.id for m in state.messages] == [sent[1].id, sent[2].id]
    assert [m.custom for m in state.messages] == [{"n": 1}, {"n": 2}]
    assert {m.user_id for m in state.members} == {a, b}
    older = stream.chat.get_channel(
        "messaging", channel.channel_id, messages_limit=5, messages_id_lt=sent[2].id
    ).data
    assert [m.id for m in older.messages] == [sent[0].id, sent[1].id]
    limited = stream.chat.get_channel("messaging", channel.channel_id, members_limit=1).data
    assert len(limited.members) == 1

    missing = uid("v2c")
    error = error_of(stream.chat.get_channel, "messaging", missing, user_id=a)
    assert (error.status_code, error.code) == (404, 16)
    # Still missing: a read never creates the channel.
    assert stream.chat.query_channels(filter_conditions={"cid": f"messaging:{missing}"}).data.channels == []


def test_get_channel_refuses_what_eddy_cannot_page_by(stream):
    channel, (a, _), _ = v2_channel(stream)
    sent = channel.send_message(MessageRequest(text="hi", user_id=a)).data.message
    error = error_of(stream.chat.get_channel, "messaging", channel.channel_id, messages_id_around=sent.id)
    assert (error.status_code, error.code) == (400, 4)
    assert "messages_id_around" in error.message


def test_get_channel_as_a_user_checks_membership(stream, stream_as):
    channel, (a, _), _ = v2_channel(stream)
    outsider = v2_user(stream)
    state = stream_as(a).chat.get_channel("messaging", channel.channel_id).data
    assert a in {m.user_id for m in state.members}
    error = error_of(stream_as(outsider).chat.get_channel, "messaging", channel.channel_id)
    assert (error.status_code, error.code) == (403, 17)


def test_query_reactions_lists_with_custom_data_and_refuses_filters(stream):
    channel, (a, b), _ = v2_channel(stream)
    sent = channel.send_message(MessageRequest(text="hi", user_id=a)).data.message
    stream.chat.send_reaction(sent.id, reaction=ReactionRequest(type="like", user_id=a))
    stream.chat.send_reaction(sent.id, reaction=ReactionRequest(type="love", user_id=b, custom={"stars": 5}))
    listed = stream.chat.query_reactions(sent.id).data.reactions
    assert sorted((r.type, r.user_id, r.custom) for r in listed) == [("like", a, {}), ("love", b, {"stars": 5})]
    assert all(recent(r.created_at) for r in listed)
    assert len(stream.chat.query_reactions(sent.id, limit=1).data.reactions) == 1
    for kwargs in (
        {"filter": {"type": "like"}},
        {"sort": [SortParamRequest(field="created_at", direction=1)]},
        {"next": "abc"},
    ):
        error = error_of(stream.chat.query_reactions, sent.id, **kwargs)
        assert (error.status_code, error.code) == (400, 4), kwargs
    error = error_of(stream.chat.query_reactions, uid("nomsg"))
    assert (error.status_code, error.code) == (404, 16)


def test_unread_counts_batch(stream):
    channel, (a, b, c), state = v2_channel(stream, members=3)
    channel.send_message(MessageRequest(text="one", user_id=a))
    channel.send_message(MessageRequest(text="two", user_id=a))
    channel.mark_read(user_id=c)
    counts = stream.chat.unread_counts_batch(user_ids=[a, b, c]).data.counts_by_user
    assert set(counts) == {a, b, c}
    assert (counts[a].total_unread_count, counts[b].total_unread_count, counts[c].total_unread_count) == (0, 2, 0)
    assert [(ch.channel_id, ch.unread_count) for ch in counts[b].channels] == [(state.channel.cid, 2)]
    assert isinstance(counts[b].channels[0].last_read, datetime)
    assert [(t.channel_type, t.unread_count) for t in counts[b].channel_type] == [("messaging", 2)]
    error = error_of(stream.chat.unread_counts_batch, user_ids=[])
    assert (error.status_code, error.code) == (400, 4)


def test_restore_soft_deleted_users(stream):
    user_id = v2_user(stream, team="blue")
    task_id = stream.delete_users(user_ids=[user_id], user="soft").data.task_id
    assert stream.wait_for_task(task_id, poll_interval=0.1, timeout=20).data.status == "completed"
    deleted = stream.query_users(QueryUsersPayload(filter_conditions={"id": user_id})).data.users
    assert deleted == [] or deleted[0].deleted_at is not None
    stream.restore_users(user_ids=[user_id])
    users = stream.query_users(QueryUsersPayload(filter_conditions={"id": user_id})).data.users
    assert [(u.id, u.custom, u.deleted_at) for u in users] == [(user_id, {"team": "blue"}, None)]
    error = error_of(stream.restore_users, user_ids=[uid("ghost")])
    assert (error.status_code, error.code) == (404, 16)


def test_send_user_custom_event(stream, stream_as):
    user_id = v2_user(stream)
    resp = stream.chat.send_user_custom_event(
        user_id, event=UserCustomEventRequest(type="friendship.request", custom={"from": "ann"})
    )
    assert resp.data.duration
    error = error_of(
        stream.chat.send_user_custom_event, uid("ghost"), event=UserCustomEventRequest(type="x.y")
    )
    assert (error.status_code, error.code) == (404, 16)
    error = error_of(
        stream.chat.send_user_custom_event, user_id, event=UserCustomEventRequest(type="message.new")
    )
    assert error.status_code == 400 and error.code != 4
    # Server-side only, like Stream.
    error = error_of(
        stream_as(user_id).chat.send_user_custom_event, user_id, event=UserCustomEventRequest(type="x.y")
    )
    assert (error.status_code, error.code) == (403, 17)


def test_commands_are_the_built_ins(stream):
    commands = stream.chat.list_commands().data.commands
    by_name = {c.name: c for c in commands}
    assert {"giphy", "ban", "unban", "mute", "unmute"} <= set(by_name)
    assert (by_name["giphy"].set, by_name["giphy"].args) == ("fun_set", "[text]")
    giphy = stream.chat.get_command("giphy").data
    assert (giphy.name, giphy.description, giphy.set) == ("giphy", by_name["giphy"].description, "fun_set")
    error = error_of(stream.chat.get_command, "nope")
    assert (error.status_code, error.code) == (404, 16)
    # eddy keeps no custom commands.
    error = error_of(stream.chat.create_command, description="d", name="custom")
    assert (error.status_code, error.code) == (400, 4)


def pin(stream, message_id: str, user_id: str, pinned: bool = True):
    return stream.chat.update_message_partial(message_id, set={"pinned": pinned}, user_id=user_id).data.message


def test_pinned_messages_newest_pin_first_with_pages_and_bounds(stream, stream_as):
    channel, (a, b), _ = v2_channel(stream)
    sent = [
        channel.send_message(MessageRequest(text=f"m{i}", user_id=a, custom={"n": i})).data.message
        for i in range(4)
    ]
    # Pinned in an order unlike the send order: the list follows the pin times.
    pins = {i: pin(stream, sent[i].id, b) for i in (2, 0, 3)}
    listed = stream.chat.get_pinned_messages("messaging", channel.channel_id).data.messages
    assert [m.id for m in listed] == [sent[3].id, sent[0].id, sent[2].id]
    assert all(m.pinned and m.pinned_by.id == b and recent(m.pinned_at) for m in listed)
    assert [m.custom for m in listed] == [{"n": 3}, {"n": 0}, {"n": 2}]
    ids = lambda **kw: [  # noqa: E731
        m.id for m in stream.chat.get_pinned_messages("messaging", channel.channel_id, **kw).data.messages
    ]
    assert ids(limit=2) == [sent[3].id, sent[0].id]
    assert ids(limit=1, offset=1) == [sent[0].id]
    assert ids(sort=[SortParamRequest(field="pinned_at", direction=1)]) == [sent[2].id, sent[0].id, sent[3].id]
    assert ids(pinned_at_before=pins[0].pinned_at) == [sent[2].id]
    assert ids(pinned_at_after_or_equal=pins[0].pinned_at) == [sent[3].id, sent[0].id]
    assert ids(id_lt=sent[3].id) == [sent[0].id, sent[2].id]
    # Unpinning and deleting take messages off the list.
    pin(stream, sent[3].id, b, pinned=False)
    stream.chat.delete_message(sent[2].id)
    assert ids() == [sent[0].id]
    # Members may read them; a user who may not read the channel is refused.
    assert [m.id for m in stream_as(a).chat.get_pinned_messages("messaging", channel.channel_id).data.messages] == [
        sent[0].id
    ]
    error = error_of(stream_as(v2_user(stream)).chat.get_pinned_messages, "messaging", channel.channel_id)
    assert (error.status_code, error.code) == (403, 17)
    error = error_of(stream.chat.get_pinned_messages, "messaging", channel.channel_id, id_around=sent[0].id)
    assert (error.status_code, error.code) == (400, 4)


def test_rate_limits_report_windows_without_using_them(stream, stream_as):
    first = stream.get_rate_limits().data
    for platform in (first.server_side, first.android, first.ios, first.web):
        assert platform and {"GetRateLimits", "GetApp", "SendMessage"} <= set(platform)
    # This call counted against the server-side window; the android one is untouched.
    own = first.server_side["GetRateLimits"]
    assert own.limit > own.remaining
    assert first.android["GetRateLimits"].limit == first.android["GetRateLimits"].remaining
    assert 0 < own.reset - int(datetime.now().timestamp()) <= 61
    # Operations sharing a route share its window.
    assert first.server_side["GetChannel"] == first.server_side["UpdateChannel"]

    chosen = stream.get_rate_limits(server_side=True, endpoints="GetApp,GetRateLimits").data
    assert (chosen.android, chosen.ios, chosen.web) == (None, None, None)
    assert set(chosen.server_side) == {"GetApp", "GetRateLimits"}
    before = chosen.server_side["GetApp"]
    stream.get_app()
    after = stream.get_rate_limits(server_side=True, endpoints="GetApp").data.server_side["GetApp"]
    if after.reset == before.reset:  # same one-minute window
        assert after.remaining == before.remaining - 1
    only_web = stream.get_rate_limits(web=True, ios=True).data
    assert (only_web.server_side, only_web.android) == (None, None)
    assert only_web.web and only_web.ios

    error = error_of(stream_as(v2_user(stream)).get_rate_limits)
    assert (error.status_code, error.code) == (403, 17)


def test_search_roles_by_name_prefix(stream, stream_as):
    custom = f"mod_{uid('r').split('-')[1][:12]}"
    stream.create_role(name=custom)
    try:
        names = lambda **kw: [r.name for r in stream.search_roles(**kw).data.roles]  # noqa: E731
        assert names(query="channel_") == ["channel_member", "channel_moderator"]
        assert names(query="CHANNEL_M", limit=1) == ["channel_member"]
        assert names(query="channel_", name_gt="channel_member") == ["channel_moderator"]
        assert names(query="mod") == sorted(["moderator", custom])
        # Custom roles are both user- and channel-assignable; built-ins are one or the other.
        assert names(query="mod", role_type="channel") == [custom]
        assert names(query="channel", role_type="user") == []
        assert names(query="nothing-starts-like-this") == []
        role = stream.search_roles(query=custom).data.roles[0]
        assert (role.name, role.custom) == (custom, True)
        assert [r.name for r in stream_as(v2_user(stream)).search_roles(query="adm").data.roles] == ["admin"]
        for kwargs in ({"query": "a", "limit": 26}, {"query": "a", "role_type": "team"}):
            error = error_of(stream.search_roles, **kwargs)
            assert (error.status_code, error.code) == (400, 4)
    finally:
        stream.delete_role(custom)
