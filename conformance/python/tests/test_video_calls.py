"""Video calls with Stream's v2 Python SDK (PyPI getstream, ``client.video``) on /api/v2/video: call
types, calls with members, settings overrides, roles and permissions, blocks, live/backstage,
ending, deleting, querying and ringing. eddy has no media server, so join and recordings answer
Stream's errors for that case."""

import httpx
import pytest
from getstream.exceptions import StreamApiException
from getstream.models import (
    BackstageSettingsRequest,
    CallRequest,
    CallSettingsRequest,
    LimitsSettingsRequest,
    MemberRequest,
    RecordSettingsRequest,
    SortParamRequest,
)

from conftest import uid
from v2_helpers import recent


def new_call(stream, kind="default", members=("john", "jack"), **data):
    """A fresh call created server-side by a never-upserted user, with members given by id."""
    creator = uid("creator")
    call = stream.video.call(kind, uid("call"))
    resp = call.get_or_create(
        data=CallRequest(
            created_by_id=creator,
            members=[MemberRequest(user_id=m) for m in members],
            **data,
        )
    )
    return call, creator, resp.data


def test_get_or_create_auto_creates_users_and_returns_call_state(stream):
    john, jack = uid("john"), uid("jack")
    call, creator, data = new_call(stream, members=(john, jack), custom={"color": "red"})
    assert data.created is True
    assert data.call.cid == f"default:{call.id}"
    assert data.call.created_by.id == creator
    assert data.call.custom == {"color": "red"}
    assert recent(data.call.created_at)
    assert {m.user_id for m in data.members} == {john, jack}
    assert all(m.role == "call_member" for m in data.members)
    # The creator and the members are ordinary users now.
    users = stream.query_users(
        payload={"filter_conditions": {"id": {"$in": [creator, john]}}}
    ).data.users
    assert {u.id for u in users} == {creator, john}
    # Again: the existing call comes back unchanged.
    again = call.get_or_create(data=CallRequest(created_by_id=creator, custom={"color": "blue"}))
    assert again.data.created is False
    assert again.data.call.custom == {"color": "red"}


def test_settings_override_deep_merges_and_zero_echoes_zero(stream):
    call, _, data = new_call(
        stream,
        settings_override=CallSettingsRequest(
            backstage=BackstageSettingsRequest(enabled=True, join_ahead_time_seconds=300),
            limits=LimitsSettingsRequest(max_duration_seconds=3600),
        ),
    )
    assert data.call.settings.backstage.enabled is True
    assert data.call.backstage is True
    assert data.call.settings.limits.max_duration_seconds == 3600
    # Untouched settings keep the type's defaults.
    assert data.call.settings.video.camera_facing == "front"
    updated = call.update(
        settings_override=CallSettingsRequest(
            backstage=BackstageSettingsRequest(join_ahead_time_seconds=600),
            limits=LimitsSettingsRequest(max_duration_seconds=0),
        ),
        custom={"topic": "retro"},
    ).data.call
    assert updated.settings.backstage.enabled is True
    assert updated.settings.backstage.join_ahead_time_seconds == 600
    assert updated.join_ahead_time_seconds == 600
    assert updated.settings.limits.max_duration_seconds == 0
    assert updated.custom == {"topic": "retro"}
    assert call.get().data.call.settings.limits.max_duration_seconds == 0


def test_update_call_members_roles_and_removal(stream):
    john, jack, jane = uid("john"), uid("jack"), uid("jane")
    call, _, _ = new_call(stream, members=(john,))
    resp = call.update_call_members(
        update_members=[MemberRequest(user_id=jane, role="admin"), MemberRequest(user_id=john, role="host", custom={"seat": 3})]
    )
    # The upserted members come back in request order.
    assert [(m.user_id, m.role) for m in resp.data.members] == [(jane, "admin"), (john, "host")]
    assert resp.data.members[1].custom == {"seat": 3}
    call.update_call_members(update_members=[MemberRequest(user_id=jack)], remove_members=[john])
    members = call.get().data.members
    assert {m.user_id: m.role for m in members} == {jane: "admin", jack: "call_member"}


def test_query_call_members_filters_sorts_and_pages(stream):
    john, jack, jane = "john-" + uid("m"), "jack-" + uid("m"), "jane-" + uid("m")
    call, _, _ = new_call(stream, members=(john, jack, jane))
    call.update_call_members(update_members=[MemberRequest(user_id=john, role="admin")])
    first = stream.video.query_call_members(
        type="default", id=call.id, sort=[SortParamRequest(field="user_id", direction=1)], limit=2
    ).data
    assert [m.user_id for m in first.members] == [jack, jane]
    rest = stream.video.query_call_members(
        type="default", id=call.id, sort=[SortParamRequest(field="user_id", direction=1)], limit=2, next=first.next
    ).data
    assert [m.user_id for m in rest.members] == [john]
    admins = stream.video.query_call_members(
        type="default", id=call.id, filter_conditions={"role": {"$eq": "admin"}}
    ).data.members
    assert [m.user_id for m in admins] == [john]


def test_query_calls_by_custom_data_members_and_type(stream):
    tag = uid("tag")
    member = uid("member")
    first, _, _ = new_call(stream, members=(member,), custom={"tag": tag, "n": 1})
    second, _, _ = new_call(stream, kind="audio_room", custom={"tag": tag, "n": 2})
    calls = stream.video.query_calls(
        filter_conditions={"custom.tag": tag},
        sort=[SortParamRequest(field="created_at", direction=1)],
    ).data.calls
    assert [c.call.id for c in calls] == [first.id, second.id]
    assert [c.call.type for c in calls] == ["default", "audio_room"]
    mine = stream.video.query_calls(filter_conditions={"members": {"$in": [member]}}).data.calls
    assert [c.call.id for c in mine] == [first.id]
    rooms = stream.video.query_calls(filter_conditions={"custom.tag": tag, "type": "audio_room"}).data.calls
    assert [c.call.id for c in rooms] == [second.id]


def test_block_and_unblock(stream):
    call, _, _ = new_call(stream)
    bad = uid("bad")
    call.block_user(user_id=bad)
    assert call.get().data.call.blocked_user_ids == [bad]
    call.unblock_user(user_id=bad)
    assert call.get().data.call.blocked_user_ids == []


def test_go_live_stop_live_and_end(stream):
    call, _, data = new_call(stream, kind="livestream")
    assert data.call.backstage is True
    live = call.go_live().data.call
    assert live.backstage is False
    assert live.session is not None and live.session.live_started_at is not None
    assert call.stop_live().data.call.backstage is True
    call.end()
    ended = call.get().data.call
    assert ended.ended_at is not None and recent(ended.ended_at)


def test_delete_call_then_get_is_not_found(stream):
    call, _, _ = new_call(stream)
    deleted = call.delete().data
    assert deleted.call.id == call.id
    with pytest.raises(StreamApiException) as err:
        call.get()
    assert err.value.status_code == 404
    assert "Can't find call with id" in err.value.api_error.message


def test_ring_names_the_rung_members(stream):
    john, jack = uid("john"), uid("jack")
    call, creator, _ = new_call(stream, members=(john, jack))
    call.update_call_members(update_members=[MemberRequest(user_id=creator, role="admin")])
    rung = call.ring().data.members_ids
    assert sorted(rung) == sorted([john, jack])
    assert call.ring(members_ids=[jack]).data.members_ids == [jack]


def test_custom_call_types_round_trip_grants_and_settings(stream):
    name = "calltype" + uid("t").replace("-", "_").lower()
    created = stream.video.create_call_type(
        name=name,
        grants={"admin": ["send-audio", "send-video", "mute-users"]},
        settings=CallSettingsRequest(recording=RecordSettingsRequest(mode="disabled")),
    ).data
    assert created.name == name
    assert created.grants["admin"] == ["send-audio", "send-video", "mute-users"]
    # Roles the request did not name keep the defaults.
    assert "join-call" in created.grants["user"]
    assert created.settings.recording.mode == "disabled"
    updated = stream.video.update_call_type(name=name, grants={"host": ["join-backstage"]}).data
    assert updated.grants["host"] == ["join-backstage"]
    assert updated.settings.recording.mode == "disabled"
    assert name in stream.video.list_call_types().data.call_types
    stream.video.delete_call_type(name=name)
    with pytest.raises(StreamApiException) as err:
        stream.video.get_call_type(name=name)
    assert err.value.status_code == 404 and "failed" in err.value.api_error.message


def test_users_get_capabilities_from_roles_and_per_user_grants(stream, stream_as):
    owner, listener = uid("owner"), uid("listener")
    call = stream.video.call("audio_room", uid("room"))
    call.get_or_create(data=CallRequest(created_by_id=owner, members=[MemberRequest(user_id=listener)]))
    as_listener = stream_as(listener).video.call("audio_room", call.id)
    caps = as_listener.get().data.own_capabilities
    assert "join-call" in caps and "send-audio" not in caps
    call.update_user_permissions(user_id=listener, grant_permissions=["send-audio"])
    assert "send-audio" in as_listener.get().data.own_capabilities
    call.update_user_permissions(user_id=listener, revoke_permissions=["send-audio"])
    assert "send-audio" not in as_listener.get().data.own_capabilities
    # The creator holds the audio room's owner permissions.
    owner_caps = stream_as(owner).video.call("audio_room", call.id).get().data.own_capabilities
    assert "send-audio" in owner_caps and "end-call" in owner_caps
    # A listener may not end the call.
    with pytest.raises(StreamApiException) as err:
        as_listener.end()
    assert err.value.status_code == 403


def test_blocked_user_cannot_read_and_mute_succeeds_on_empty_call(stream, stream_as):
    call, _, _ = new_call(stream)
    user = uid("blocked")
    call.block_user(user_id=user)
    with pytest.raises(StreamApiException) as err:
        stream_as(user).video.call("default", call.id).get()
    assert err.value.status_code == 403
    call.mute_users(user_ids=[user], audio=True, muted_by_id=uid("mod"))


def test_join_without_media_server_and_recording_errors(eddy, stream):
    member = uid("member")
    call, _, _ = new_call(stream, members=(member,))
    # stream-py's server client has no join; clients post it with a user token.
    joined = httpx.post(
        f"{eddy.url}/api/v2/video/call/default/{call.id}/join",
        params={"api_key": eddy.api_key},
        headers={"Authorization": stream.create_token(member), "stream-auth-type": "jwt"},
        json={"location": "auto"},
    )
    assert joined.status_code == 400
    assert joined.json()["code"] == 4
    assert "no media server" in joined.json()["message"]
    with pytest.raises(StreamApiException) as err:
        call.start_recording(recording_type="composite")
    assert err.value.api_error.message == 'StartRecording failed with error: "there is no active session"'
    with pytest.raises(StreamApiException) as err:
        call.stop_recording(recording_type="composite")
    assert err.value.api_error.message == 'StopRecording failed with error: "call egress is not running"'
    assert call.list_recordings().data.recordings == []
