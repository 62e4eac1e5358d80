"""The v2 layout with Stream's v2 Python SDK: messages, reactions, threads, replies and search."""

import pytest
from getstream.exceptions import StreamApiException
from getstream.models import (
    Attachment,
    MessageRequest,
    ReactionRequest,
    SearchPayload,
)

from conftest import uid
from v2_helpers import recent, v2_channel


def test_send_get_and_update_messages_with_custom_data(stream):
    channel, (a, _), _ = v2_channel(stream)
    sent = channel.send_message(
        MessageRequest(
            text="hi",
            user_id=a,
            custom={"color": "red"},
            attachments=[Attachment(type="file", title="doc", custom={"size": 3})],
        )
    ).data.message
    assert (sent.text, sent.user.id, sent.custom) == ("hi", a, {"color": "red"})
    assert sent.attachments[0].title == "doc" and sent.attachments[0].custom == {"size": 3}
    assert recent(sent.created_at)
    got = stream.chat.get_message(sent.id).data.message
    assert (got.id, got.custom) == (sent.id, {"color": "red"})
    partial = stream.chat.update_message_partial(
        sent.id, set={"awesome": True}, unset=["color"], user_id=a
    ).data.message
    assert partial.custom == {"awesome": True}
    full = stream.chat.update_message(
        sent.id, message=MessageRequest(text="edited", user_id=a, custom={"v": 2})
    ).data.message
    assert (full.text, full.custom) == ("edited", {"v": 2})
    many = channel.get_many_messages(ids=[sent.id]).data.messages
    assert [m.text for m in many] == ["edited"]


def test_pin_and_unpin(stream):
    channel, (a, _), _ = v2_channel(stream)
    sent = channel.send_message(MessageRequest(text="pin me", user_id=a)).data.message
    pinned = stream.chat.update_message_partial(sent.id, set={"pinned": True}, user_id=a).data.message
    assert pinned.pinned and recent(pinned.pinned_at) and pinned.pinned_by.id == a
    unpinned = stream.chat.update_message_partial(sent.id, set={"pinned": False}, user_id=a).data.message
    assert not unpinned.pinned and unpinned.pinned_at is None


def test_delete_message(stream):
    channel, (a, _), _ = v2_channel(stream)
    sent = channel.send_message(MessageRequest(text="bye", user_id=a)).data.message
    deleted = stream.chat.delete_message(sent.id).data.message
    assert deleted.type == "deleted" and recent(deleted.deleted_at)
    with pytest.raises(StreamApiException) as error:
        stream.chat.get_message("no-such-message")
    assert (error.value.status_code, error.value.code) == (404, 16)


def test_reactions(stream):
    channel, (a, b), _ = v2_channel(stream)
    sent = channel.send_message(MessageRequest(text="react", user_id=a)).data.message
    resp = stream.chat.send_reaction(
        sent.id, reaction=ReactionRequest(type="like", user_id=b, custom={"stars": 5})
    ).data
    assert (resp.reaction.type, resp.reaction.user_id, resp.reaction.custom) == ("like", b, {"stars": 5})
    assert resp.message.reaction_counts == {"like": 1}
    listed = stream.chat.get_reactions(sent.id).data.reactions
    assert [(r.type, r.user_id, r.custom) for r in listed] == [("like", b, {"stars": 5})]
    removed = stream.chat.delete_reaction(sent.id, "like", user_id=b).data
    assert removed.reaction.type == "like"
    assert stream.chat.get_reactions(sent.id).data.reactions == []


def test_replies_and_threads(stream, stream_as):
    channel, (a, b), _ = v2_channel(stream)
    parent = channel.send_message(MessageRequest(text="parent", user_id=a)).data.message
    for i in range(3):
        channel.send_message(MessageRequest(text=f"reply {i}", user_id=b, parent_id=parent.id))
    replies = stream.chat.get_replies(parent.id).data.messages
    assert [m.text for m in replies] == ["reply 0", "reply 1", "reply 2"]
    assert all(m.parent_id == parent.id for m in replies)
    # GetThread takes no user_id, so server-side calls cannot name the reader: a user asks.
    with pytest.raises(StreamApiException) as error:
        stream.chat.get_thread(parent.id)
    assert (error.value.status_code, error.value.code) == (400, 4)
    thread = stream_as(b).chat.get_thread(parent.id, reply_limit=2).data.thread
    assert (thread.parent_message_id, thread.reply_count) == (parent.id, 3)
    assert [m.text for m in thread.latest_replies] == ["reply 1", "reply 2"]
    updated = stream.chat.update_thread_partial(parent.id, set={"title": "Plans"}, user_id=a).data
    assert updated.thread.title == "Plans"
    threads = stream.chat.query_threads(user_id=b).data.threads
    assert [t.parent_message_id for t in threads] == [parent.id]
    assert threads[0].title == "Plans"


def test_search(stream):
    channel, (a, _), state = v2_channel(stream)
    word = uid("needle").replace("-", "")
    channel.send_message(MessageRequest(text=f"find the {word} here", user_id=a))
    channel.send_message(MessageRequest(text="nothing", user_id=a))
    results = stream.chat.search(
        SearchPayload(filter_conditions={"cid": state.channel.cid}, query=word)
    ).data.results
    assert [r.message.text for r in results] == [f"find the {word} here"]


def test_send_event(stream):
    from getstream.models import EventRequest

    channel, (a, _), _ = v2_channel(stream)
    event = channel.send_event(EventRequest(type="typing.start", user_id=a)).data.event
    assert (event.type, event.user.id) == ("typing.start", a)
    custom = channel.send_event(
        EventRequest(type="friendship_request", user_id=a, custom={"note": "hi"})
    ).data.event
    assert (custom.type, custom.custom) == ("friendship_request", {"note": "hi"})
