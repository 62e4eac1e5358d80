"""Roles and permissions through the Python SDK: list_roles, create_role,
delete_role, list_permissions, get_permission (server-side only)."""

import uuid

from eddy_helpers import api_error, assert_api_error, assert_recent

BUILT_IN_ROLES = {
    "admin",
    "moderator",
    "user",
    "guest",
    "anonymous",
    "channel_member",
    "channel_moderator",
}


def role_name() -> str:
    return f"role_{uuid.uuid4().hex[:20]}"


def roles_by_name(client):
    return {r["name"]: r for r in client.list_roles()["roles"]}


def test_list_roles_has_the_built_in_ones(client):
    roles = roles_by_name(client)
    assert BUILT_IN_ROLES <= set(roles), sorted(roles)
    for name in BUILT_IN_ROLES:
        role = roles[name]
        assert role["custom"] is False
        assert isinstance(role["scopes"], list)
        assert_recent(role["created_at"], within_s=24 * 3600)
    # Grants of the messaging type name these roles, so it is one of their scopes.
    assert "messaging" in roles["channel_member"]["scopes"]
    assert ".app" in roles["user"]["scopes"]


def test_create_list_and_delete_a_custom_role(client):
    name = role_name()
    created = client.create_role(name)["role"]
    assert created["name"] == name
    assert created["custom"] is True
    assert_recent(created["created_at"])
    listed = roles_by_name(client)
    assert listed[name]["custom"] is True
    assert listed[name]["scopes"] == []

    client.delete_role(name)
    assert name not in roles_by_name(client)
    assert_api_error(api_error(client.delete_role, name), 16, 404)


def test_role_names_are_checked_and_unique(client):
    name = role_name()
    client.create_role(name)
    try:
        assert_api_error(api_error(client.create_role, name), 4, 400)
        for bad in ("admin", "", "two words", "x" * 65):
            assert_api_error(api_error(client.create_role, bad), 4, 400)
    finally:
        client.delete_role(name)


def test_built_in_roles_cannot_be_deleted(client):
    for name in ("admin", "user", "channel_member"):
        assert_api_error(api_error(client.delete_role, name), 4, 400)
    assert BUILT_IN_ROLES <= set(roles_by_name(client))


def test_a_custom_role_is_given_server_side_and_blocks_deletion(client, user_client, make_user):
    name = role_name()
    client.create_role(name)
    agent = make_user()["id"]
    resp = client.upsert_user({"id": agent, "role": name})
    assert resp["users"][agent]["role"] == name
    # Held roles stay.
    body = assert_api_error(api_error(client.delete_role, name), 4, 400)
    assert name in body["message"]
    # With no grants the role can do nothing a grant is needed for, not even create a channel.
    uc = user_client(agent)
    exc = api_error(uc.channel("messaging", f"hq-{uuid.uuid4().hex}", {"members": [agent]}).create, agent)
    assert_api_error(exc, 17, 403)
    client.update_user_partial({"id": agent, "set": {"role": "user"}})
    client.delete_role(name)
    assert name not in roles_by_name(client)


def test_unknown_roles_cannot_be_given(client, make_user):
    agent = make_user()["id"]
    exc = api_error(client.upsert_user, {"id": agent, "role": role_name()})
    assert_api_error(exc, 4, 400)
    exc = api_error(client.update_user_partial, {"id": agent, "set": {"role": role_name()}})
    assert_api_error(exc, 4, 400)
    assert client.query_users({"id": agent})["users"][0]["role"] == "user"


def test_roles_and_permissions_are_server_side_only(user_client, make_user):
    uc = user_client(make_user()["id"])
    for call, args in (
        (uc.list_roles, ()),
        (uc.create_role, (role_name(),)),
        (uc.list_permissions, ()),
        (uc.get_permission, ("create-message",)),
    ):
        assert_api_error(api_error(call, *args), 17, 403)


def test_list_permissions(client):
    permissions = client.list_permissions()["permissions"]
    by_id = {p["id"]: p for p in permissions}
    assert len(by_id) == len(permissions), "ids are unique"
    for pid in ("create-message", "create-message-owner", "read-channel", "skip-channel-cooldown",
                "update-channel-members", "delete-message-owner", "mute-user"):
        assert pid in by_id, pid
    for p in permissions:
        for field in ("id", "name", "description", "action", "owner", "same_team", "custom", "level", "tags"):
            assert field in p, (field, p)
        assert p["custom"] is False
        assert p["level"] in ("app", "channel")
        assert p["owner"] == p["id"].endswith("-owner")
    assert by_id["mute-user"]["level"] == "app"
    assert by_id["create-message"]["action"] == "CreateMessage"


def test_get_permission(client):
    p = client.get_permission("update-message-owner")["permission"]
    assert p["id"] == "update-message-owner"
    assert p["action"] == "UpdateMessage"
    assert p["owner"] is True
    assert p["level"] == "channel"
    assert_api_error(api_error(client.get_permission, "teleport-user"), 16, 404)


def test_custom_permissions_are_refused(client):
    exc = api_error(
        client.create_permission,
        {"id": "x-perm", "name": "X", "action": "CreateMessage", "condition": {}},
    )
    assert_api_error(exc, 4, 400)
    assert_api_error(api_error(client.delete_permission, "create-message"), 4, 400)
    assert "create-message" in {p["id"] for p in client.list_permissions()["permissions"]}
