"""The v2 layout with Stream's v2 Python SDK: channels, members, read state, hide/show, truncate,
channel deletion as a task."""

import pytest
from getstream.exceptions import StreamApiException
from getstream.models import (
    ChannelInput,
    ChannelMemberRequest,
    MessageRequest,
    QueryMembersPayload,
)

from conftest import uid
from v2_helpers import recent, v2_channel, v2_user


def test_get_or_create_nests_custom_data(stream):
    a = v2_user(stream)
    channel = stream.chat.channel("messaging", uid("v2c"))
    state = channel.get_or_create(
        data=ChannelInput(
            created_by_id=a,
            members=[ChannelMemberRequest(user_id=a, custom={"hat": "top"})],
            custom={"name": "General", "topic": "rust"},
        )
    ).data
    assert state.channel.custom == {"name": "General", "topic": "rust"}
    assert state.channel.created_by.id == a
    assert recent(state.channel.created_at)
    assert [(m.user_id, m.custom) for m in state.members] == [(a, {"hat": "top"})]
    again = channel.get_or_create().data
    assert again.channel.cid == state.channel.cid
    assert again.channel.custom["topic"] == "rust"


def test_partial_and_full_updates(stream):
    channel, (a, b), _ = v2_channel(stream, topic="rust", color="red")
    updated = channel.update_channel_partial(set={"topic": "go", "level": 2}, unset=["color"]).data
    assert updated.channel.custom == {"topic": "go", "level": 2}
    c = v2_user(stream)
    full = channel.update(
        data=ChannelInput(custom={"name": "renamed"}),
        add_members=[ChannelMemberRequest(user_id=c)],
    ).data
    assert full.channel.custom == {"name": "renamed"}
    assert sorted(m.user_id for m in full.members) == sorted([a, b, c])


def test_query_channels_by_custom_field(stream):
    channel, (a, _), state = v2_channel(stream, topic=uid("topic"))
    topic = state.channel.custom["topic"]
    found = stream.chat.query_channels(filter_conditions={"topic": topic}, user_id=a).data.channels
    assert [c.channel.cid for c in found] == [state.channel.cid]
    assert found[0].channel.custom["topic"] == topic
    assert {m.user_id for m in found[0].members} == {a, state.members[1].user_id}


def test_query_and_update_members(stream):
    channel, (a, b), _ = v2_channel(stream)
    members = stream.chat.query_members(
        QueryMembersPayload(type="messaging", id=channel.channel_id, filter_conditions={"id": b})
    ).data.members
    assert [m.user_id for m in members] == [b]
    updated = channel.update_member_partial(user_id=b, set={"hat": "cap"}).data.channel_member
    assert (updated.user_id, updated.custom) == (b, {"hat": "cap"})
    cleared = channel.update_member_partial(user_id=b, unset=["hat"]).data.channel_member
    assert cleared.custom == {}


def test_mark_read_unread_and_unread_counts(stream):
    channel, (a, b), state = v2_channel(stream)
    sent = channel.send_message(MessageRequest(text="hello", user_id=a)).data.message
    unread = stream.chat.unread_counts(user_id=b).data
    assert unread.total_unread_count == 1
    assert [(c.channel_id, c.unread_count) for c in unread.channels] == [(state.channel.cid, 1)]
    event = channel.mark_read(user_id=b).data.event
    assert event.type == "message.read"
    assert stream.chat.unread_counts(user_id=b).data.total_unread_count == 0
    channel.mark_unread(user_id=b, message_id=sent.id)
    assert stream.chat.unread_counts(user_id=b).data.total_unread_count == 1


def test_hide_and_show(stream):
    channel, (a, _), state = v2_channel(stream)
    cid = state.channel.cid
    channel.hide(user_id=a)
    visible = stream.chat.query_channels(filter_conditions={"cid": cid}, user_id=a).data.channels
    assert visible == []
    hidden = stream.chat.query_channels(
        filter_conditions={"cid": cid, "hidden": True}, user_id=a
    ).data.channels
    assert [c.channel.cid for c in hidden] == [cid]
    channel.show(user_id=a)
    shown = stream.chat.query_channels(filter_conditions={"cid": cid}, user_id=a).data.channels
    assert [c.channel.cid for c in shown] == [cid]


def test_truncate(stream):
    channel, (a, _), _ = v2_channel(stream)
    channel.send_message(MessageRequest(text="old", user_id=a))
    truncated = channel.truncate(user_id=a).data
    assert recent(truncated.channel.truncated_at)
    assert channel.get_or_create().data.messages == []


def test_delete_one_channel(stream):
    channel, _, _ = v2_channel(stream)
    deleted = channel.delete().data
    assert recent(deleted.channel.deleted_at)


def test_delete_channels_runs_as_a_task(stream):
    first, _, one = v2_channel(stream)
    second, _, two = v2_channel(stream)
    cids = [one.channel.cid, two.channel.cid]
    task_id = stream.chat.delete_channels(cids=cids, hard_delete=True).data.task_id
    task = stream.wait_for_task(task_id, poll_interval=0.1, timeout=20).data
    assert task.status == "completed"
    assert task.result == {cid: {"status": "ok"} for cid in cids}
    assert stream.chat.query_channels(filter_conditions={"cid": {"$in": cids}}).data.channels == []


def test_missing_creator_is_input_error(stream):
    channel = stream.chat.channel("messaging", uid("v2c"))
    with pytest.raises(StreamApiException) as error:
        channel.get_or_create(data=ChannelInput(custom={"x": 1}))
    assert (error.value.status_code, error.value.code) == (400, 4)
