"""Helpers of the v2 (getstream) conformance tests: users and channels made through /api/v2."""

from datetime import datetime, timedelta, timezone
from typing import List, Tuple

from getstream.models import ChannelInput, ChannelMemberRequest, UserRequest

from conftest import uid


def recent(value: datetime) -> bool:
    """A time decoded by stream-py (from integer nanoseconds) within two minutes of now."""
    return isinstance(value, datetime) and abs(datetime.now(timezone.utc) - value) < timedelta(minutes=2)


def v2_user(stream, **custom) -> str:
    user_id = uid("v2u")
    stream.update_users(users={user_id: UserRequest(id=user_id, name="Ann", custom=custom)})
    return user_id


def v2_channel(stream, members: int = 2, **custom) -> Tuple[object, List[str], object]:
    """A fresh messaging channel whose creator and members are fresh users: (channel, ids, response)."""
    ids = [v2_user(stream) for _ in range(members)]
    channel = stream.chat.channel("messaging", uid("v2c"))
    resp = channel.get_or_create(
        data=ChannelInput(
            created_by_id=ids[0],
            members=[ChannelMemberRequest(user_id=i) for i in ids],
            custom=custom,
        )
    )
    return channel, ids, resp.data
