"""Multi-tenant mode with the official Python SDK: with ``multi_tenant_enabled`` a user reaches only
the channels and users of their teams (a user without teams: only those without a team), and
server-side calls are not confined. Runs in an app of its own (``eddy app create``), so turning
multi-tenancy on leaves the other tests' app alone."""

import os
import subprocess
from pathlib import Path

import pytest
from stream_chat import StreamChat

from conftest import DEFAULT_BIN, uid
from eddy_helpers import api_error, assert_api_error


@pytest.fixture(scope="module")
def tenant_app(eddy):
    binary = Path(os.environ.get("EDDY_BIN") or DEFAULT_BIN)
    printed = subprocess.run(
        [str(binary), "app", "create", "--name", "tenants", *eddy.storage_args],
        check=True,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("EDDY_")},
    ).stdout
    values = dict(line.split("=", 1) for line in printed.splitlines() if "=" in line)
    server = StreamChat(
        api_key=values["EDDY_API_KEY"], api_secret=values["EDDY_API_SECRET"], base_url=eddy.url
    )
    server.update_app_settings(multi_tenant_enabled=True)
    assert server.get_app_settings()["app"]["multi_tenant_enabled"] is True
    return server


def as_user(server: StreamChat, user_id: str) -> StreamChat:
    client = StreamChat(api_key=server.api_key, api_secret=server.api_secret, base_url=server.base_url)
    client.auth_token = server.create_token(user_id)
    return client


@pytest.fixture(scope="module")
def world(tenant_app):
    """Blue and red users, a teamless user, and a channel of each team plus a teamless one."""
    s = tenant_app
    blue, red, loner = uid("blue"), uid("red"), uid("loner")
    s.upsert_users(
        [
            {"id": blue, "name": "Blue One", "teams": ["blue"]},
            {"id": red, "name": "Red One", "teams": ["red"]},
            {"id": loner, "name": "Loner"},
        ]
    )
    channels = {}
    for name, team in (("blue", "blue"), ("red", "red"), ("none", None)):
        data = {"members": [blue, red, loner], "created_by_id": blue if team != "red" else red}
        if team:
            data["team"] = team
        ch = s.channel("messaging", uid(name), data)
        ch.create(data["created_by_id"])
        channels[name] = ch
    return {"blue": blue, "red": red, "loner": loner, "channels": channels}


def listed(client: StreamChat, user_id: str):
    got = client.query_channels({"members": {"$in": [user_id]}}, user_id=user_id)["channels"]
    return sorted(c["channel"]["id"] for c in got)


def test_query_channels_is_confined_to_the_users_teams(tenant_app, world):
    ch = world["channels"]
    assert listed(as_user(tenant_app, world["blue"]), world["blue"]) == [ch["blue"].id]
    assert listed(as_user(tenant_app, world["red"]), world["red"]) == [ch["red"].id]
    assert listed(as_user(tenant_app, world["loner"]), world["loner"]) == [ch["none"].id]
    # Naming another team does not escape the confinement: it finds nothing.
    blue = as_user(tenant_app, world["blue"])
    got = blue.query_channels({"team": "red", "members": {"$in": [world["blue"]]}})["channels"]
    assert got == []
    # Server-side queries see every team.
    every = tenant_app.query_channels({"members": {"$in": [world["blue"]]}})["channels"]
    assert len(every) == 3
    assert sorted(c["channel"].get("team") or "" for c in every) == ["", "blue", "red"]


def test_other_teams_channels_refuse_reads_and_sends(tenant_app, world):
    blue = as_user(tenant_app, world["blue"])
    red_channel = world["channels"]["red"]
    exc = api_error(
        blue.channel("messaging", red_channel.id).send_message, {"text": "hi red"}, world["blue"]
    )
    assert_api_error(exc, 17, 403)
    assert "team" in str(exc)
    exc = api_error(blue.channel("messaging", red_channel.id).query)
    assert_api_error(exc, 17, 403)
    sent = blue.channel("messaging", world["channels"]["blue"].id).send_message(
        {"text": "hi blue"}, world["blue"]
    )
    assert sent["message"]["text"] == "hi blue"
    # The teamless user reaches the teamless channel only.
    loner = as_user(tenant_app, world["loner"])
    exc = api_error(
        loner.channel("messaging", world["channels"]["blue"].id).send_message,
        {"text": "hi"},
        world["loner"],
    )
    assert_api_error(exc, 17, 403)
    loner.channel("messaging", world["channels"]["none"].id).send_message({"text": "hi"}, world["loner"])


def test_users_cannot_create_channels_in_other_teams(tenant_app, world):
    blue = as_user(tenant_app, world["blue"])
    exc = api_error(
        blue.channel("messaging", uid("steal"), {"team": "red", "members": [world["blue"]]}).create,
        world["blue"],
    )
    assert_api_error(exc, 17, 403)
    made = blue.channel("messaging", uid("mine"), {"team": "blue", "members": [world["blue"]]})
    made.create(world["blue"])
    assert made.query()["channel"]["team"] == "blue"


def test_query_users_is_confined_to_shared_teams(tenant_app, world):
    ids = [world["blue"], world["red"], world["loner"]]
    def seen(user_id):
        got = as_user(tenant_app, user_id).query_users({"id": {"$in": ids}})["users"]
        return sorted(u["id"] for u in got)
    assert seen(world["blue"]) == [world["blue"]]
    assert seen(world["red"]) == [world["red"]]
    assert seen(world["loner"]) == [world["loner"]]
    assert sorted(u["id"] for u in tenant_app.query_users({"id": {"$in": ids}})["users"]) == sorted(ids)


def test_search_is_confined_to_the_users_teams(tenant_app, world):
    word = uid("word").replace("-", "")
    for name, author in (("blue", world["blue"]), ("red", world["red"])):
        tenant_app.channel("messaging", world["channels"][name].id).send_message(
            {"text": f"{word} from {name}"}, author
        )
    blue = as_user(tenant_app, world["blue"])
    found = blue.search({"members": {"$in": [world["blue"]]}}, word)["results"]
    assert [r["message"]["text"] for r in found] == [f"{word} from blue"]
    everywhere = tenant_app.search({"members": {"$in": [world["blue"]]}}, word)["results"]
    assert len(everywhere) == 2
