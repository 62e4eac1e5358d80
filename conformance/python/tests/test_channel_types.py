"""Channel types: built-ins, create/update/delete."""

import uuid

from eddy_helpers import api_error, assert_api_error

BUILT_INS = {"messaging", "team", "livestream", "commerce", "gaming"}


def type_name() -> str:
    return "ct" + uuid.uuid4().hex[:16]


def test_get_messaging_channel_type(client):
    t = client.get_channel_type("messaging")
    assert t["name"] == "messaging"
    assert t["max_message_length"] == 5000
    assert isinstance(t["commands"], list)
    for cmd in t["commands"]:
        assert isinstance(cmd, dict)
        assert isinstance(cmd["name"], str) and cmd["name"]
        assert "description" in cmd
        assert "args" in cmd
        assert "set" in cmd
    assert "permissions" in t
    assert isinstance(t["grants"], dict)
    assert "create-channel" in t["grants"]["user"]
    for flag in ("typing_events", "read_events", "reactions", "replies", "search", "mutes", "uploads"):
        assert t[flag] is True, flag


def test_list_channel_types_includes_built_ins(client):
    types = client.list_channel_types()["channel_types"]
    assert isinstance(types, dict)
    assert BUILT_INS <= set(types.keys())
    for name in BUILT_INS:
        assert types[name]["name"] == name
        assert types[name]["max_message_length"] == 5000
        assert isinstance(types[name]["commands"], list)


def test_unknown_channel_type_is_not_found(client):
    exc = api_error(client.get_channel_type, type_name())
    assert_api_error(exc, 16, 404)


def test_create_update_delete_channel_type(client):
    name = type_name()
    created = client.create_channel_type(
        {
            "name": name,
            "commands": ["giphy"],
            "max_message_length": 1234,
            "reactions": False,
            "automod": "disabled",
        }
    )
    assert created["name"] == name
    assert created["max_message_length"] == 1234
    assert created["reactions"] is False
    assert created["replies"] is True
    assert created["commands"] == ["giphy"]

    got = client.get_channel_type(name)
    assert got["name"] == name
    assert got["max_message_length"] == 1234
    assert got["reactions"] is False
    assert [c["name"] for c in got["commands"]] == ["giphy"]
    assert name in client.list_channel_types()["channel_types"]

    updated = client.update_channel_type(name, commands=["ban", "unban"], max_message_length=2000)
    assert updated["commands"] == ["ban", "unban"]
    assert updated["max_message_length"] == 2000
    assert updated["reactions"] is False  # untouched

    got = client.get_channel_type(name)
    assert sorted(c["name"] for c in got["commands"]) == ["ban", "unban"]
    assert got["max_message_length"] == 2000

    resp = client.delete_channel_type(name)
    assert isinstance(resp["duration"], str)
    exc = api_error(client.get_channel_type, name)
    assert_api_error(exc, 16, 404)
    assert name not in client.list_channel_types()["channel_types"]


def test_duplicate_channel_type_name_is_rejected(client):
    name = type_name()
    client.create_channel_type({"name": name})
    exc = api_error(client.create_channel_type, {"name": name})
    assert_api_error(exc, 4, 400)
    client.delete_channel_type(name)


def test_custom_type_config_applies_to_channels(client, make_user):
    name = type_name()
    client.create_channel_type({"name": name, "max_message_length": 10, "reactions": False})
    owner = make_user()["id"]
    ch = client.channel(name, "c" + uuid.uuid4().hex[:12], data={"members": [owner]})
    resp = ch.create(owner)
    assert resp["channel"]["type"] == name
    cfg = ch.query()["channel"]["config"]
    assert cfg["max_message_length"] == 10
    assert cfg["reactions"] is False

    ok = ch.send_message({"text": "x" * 10}, owner)
    assert ok["message"]["text"] == "x" * 10
    exc = api_error(ch.send_message, {"text": "x" * 11}, owner)
    assert_api_error(exc, 4, 400)  # same code as test_messages.test_max_message_length

    # deleting a type that still has channels must fail
    api_error(client.delete_channel_type, name)
    assert client.get_channel_type(name)["name"] == name
