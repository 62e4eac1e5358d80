"""The v2 layout (/api/v2) with Stream's v2 Python SDK: users, blocks, devices, tasks, app settings
and operations eddy does not implement."""

from datetime import datetime

import pytest
from getstream.exceptions import StreamApiException
from getstream.models import (
    QueryUsersPayload,
    UpdateUserPartialRequest,
    UserRequest,
)

from conftest import uid
from v2_helpers import recent


def upsert(stream, **custom) -> str:
    user_id = uid("v2u")
    stream.update_users(users={user_id: UserRequest(id=user_id, name="Ann", custom=custom)})
    return user_id


def test_upsert_returns_custom_data_and_nanosecond_times(stream):
    user_id = uid("v2u")
    resp = stream.update_users(
        users={user_id: UserRequest(id=user_id, name="Ann", custom={"team": "blue", "age": 30})}
    )
    user = resp.data.users[user_id]
    assert (user.id, user.name, user.role) == (user_id, "Ann", "user")
    assert user.custom == {"team": "blue", "age": 30}
    # stream-py decodes every time from integer nanoseconds; RFC 3339 text would not parse.
    assert isinstance(user.created_at, datetime) and recent(user.created_at)


def test_query_and_partial_update_round_trip_custom_data(stream):
    user_id = upsert(stream, team="blue", hat="top")
    stream.update_users_partial(
        users=[UpdateUserPartialRequest(id=user_id, set={"team": "red", "level": 3}, unset=["hat"])]
    )
    found = stream.query_users(
        QueryUsersPayload(filter_conditions={"id": {"$eq": user_id}})
    ).data.users
    assert [u.id for u in found] == [user_id]
    assert found[0].custom == {"team": "red", "level": 3}
    assert found[0].name == "Ann"
    by_custom = stream.query_users(
        QueryUsersPayload(filter_conditions={"id": {"$eq": user_id}, "team": "blue"})
    ).data.users
    assert by_custom == []


def test_deactivate_and_reactivate_one_user(stream):
    user_id = upsert(stream)
    deactivated = stream.deactivate_user(user_id).data.user
    assert deactivated.id == user_id and recent(deactivated.deactivated_at)
    reactivated = stream.reactivate_user(user_id).data.user
    assert reactivated.deactivated_at is None


def test_delete_users_runs_as_a_task(stream):
    a, b = upsert(stream), upsert(stream)
    task_id = stream.delete_users(user_ids=[a, b]).data.task_id
    assert len(task_id) == 36
    task = stream.wait_for_task(task_id, poll_interval=0.1, timeout=20).data
    assert task.status == "completed"
    assert task.result == {a: {"status": "ok"}, b: {"status": "ok"}}
    assert recent(task.created_at)
    left = stream.query_users(
        QueryUsersPayload(filter_conditions={"id": {"$in": [a, b]}})
    ).data.users
    assert left == []


def test_deactivate_users_runs_as_a_task(stream):
    a = upsert(stream)
    task_id = stream.deactivate_users(user_ids=[a]).data.task_id
    task = stream.wait_for_task(task_id, poll_interval=0.1, timeout=20).data
    assert task.status == "completed"
    assert [u["id"] for u in task.result["users"]] == [a]
    found = stream.query_users(
        QueryUsersPayload(filter_conditions={"id": a}, include_deactivated_users=True)
    ).data.users
    assert found[0].deactivated_at is not None
    stream.reactivate_users(user_ids=[a])


def test_unknown_task_is_16(stream):
    with pytest.raises(StreamApiException) as error:
        stream.get_task("00000000-0000-0000-0000-000000000000")
    assert (error.value.status_code, error.value.code) == (404, 16)


def test_block_and_unblock(stream):
    a, b = upsert(stream), upsert(stream)
    blocked = stream.block_users(blocked_user_id=b, user_id=a).data
    assert (blocked.blocked_by_user_id, blocked.blocked_user_id) == (a, b)
    blocks = stream.get_blocked_users(user_id=a).data.blocks
    assert [x.blocked_user_id for x in blocks] == [b]
    stream.unblock_users(blocked_user_id=b, user_id=a)
    assert stream.get_blocked_users(user_id=a).data.blocks == []


def test_devices_round_trip(stream):
    a = upsert(stream)
    stream.create_device(id="v2-token-1", push_provider="firebase", user_id=a)
    devices = stream.list_devices(user_id=a).data.devices
    assert [(d.id, d.push_provider, d.user_id) for d in devices] == [("v2-token-1", "firebase", a)]
    stream.delete_device(id="v2-token-1", user_id=a)
    assert stream.list_devices(user_id=a).data.devices == []


def test_app_settings_read_and_update(stream):
    stream.update_app(enforce_unique_usernames="no")
    app = stream.get_app().data.app
    assert app.enforce_unique_usernames == "no"
    assert "messaging" in app.channel_configs


def test_operations_eddy_lacks_answer_input_error_4(stream):
    with pytest.raises(StreamApiException) as error:
        stream.create_poll(name="lunch?", user_id=upsert(stream))
    assert (error.value.status_code, error.value.code) == (400, 4)
    assert "not supported" in error.value.message
