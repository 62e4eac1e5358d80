"""Tokens: JWTs created by the SDK and how the server treats them."""

import time
from datetime import datetime, timedelta, timezone

import jwt

from eddy_helpers import api_error, assert_api_error, parse_ts
from conftest import uid


def test_create_token_carries_user_id(client, eddy):
    user_id = uid()
    token = client.create_token(user_id)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    payload = jwt.decode(token, eddy.api_secret, algorithms=["HS256"])
    assert payload == {"user_id": user_id}


def test_create_token_with_exp(client, eddy):
    user_id = uid()
    exp = int(time.time()) + 3600
    token = client.create_token(user_id, exp=exp)
    payload = jwt.decode(token, eddy.api_secret, algorithms=["HS256"])
    assert payload["user_id"] == user_id
    assert payload["exp"] == exp


def test_server_accepts_user_token(client, user_client, make_user):
    me = make_user(name="Token User")
    uc = user_client(me["id"])
    got = uc.query_users({"id": me["id"]})["users"]
    assert [u["id"] for u in got] == [me["id"]]


def test_expired_user_token_is_rejected_with_40(client, user_client, make_user):
    me = make_user()
    token = client.create_token(me["id"], exp=int(time.time()) - 60)
    exc = api_error(user_client(token=token).query_users, {"id": me["id"]})
    assert_api_error(exc, 40, 401)


def test_revoke_user_token_then_undo(client, user_client, make_user):
    me = make_user()
    token = client.create_token(me["id"], iat=int(time.time()) - 120)
    uc = user_client(token=token)
    assert [u["id"] for u in uc.query_users({"id": me["id"]})["users"]] == [me["id"]]

    before = datetime.now(timezone.utc)
    resp = client.revoke_user_token(me["id"], before)
    stored = resp["users"][me["id"]]["revoke_tokens_issued_before"]
    assert abs((parse_ts(stored) - before).total_seconds()) < 1.0

    exc = api_error(uc.query_users, {"id": me["id"]})
    assert_api_error(exc, 40, 401)

    # A token issued after the cut-off still works.
    fresh = client.create_token(me["id"], iat=int(time.time()) + 1)
    time.sleep(1.2)
    got = user_client(token=fresh).query_users({"id": me["id"]})["users"]
    assert [u["id"] for u in got] == [me["id"]]

    # null undoes the revocation.
    client.revoke_user_token(me["id"], None)
    assert [u["id"] for u in uc.query_users({"id": me["id"]})["users"]] == [me["id"]]


def test_revoke_tokens_app_wide_then_undo(client, user_client, make_user):
    me = make_user()
    token = client.create_token(me["id"])  # no iat: revoked by any cut-off
    uc = user_client(token=token)
    assert [u["id"] for u in uc.query_users({"id": me["id"]})["users"]] == [me["id"]]
    try:
        resp = client.revoke_tokens(datetime.now(timezone.utc) - timedelta(seconds=1))
        assert isinstance(resp["duration"], str)
        app = client.get_app_settings()["app"]
        assert app["revoke_tokens_issued_before"] is not None
        exc = api_error(uc.query_users, {"id": me["id"]})
        assert_api_error(exc, 40, 401)
        # server tokens are unaffected
        assert [u["id"] for u in client.query_users({"id": me["id"]})["users"]] == [me["id"]]
    finally:
        client.revoke_tokens(None)
    assert client.get_app_settings()["app"].get("revoke_tokens_issued_before") is None
    assert [u["id"] for u in uc.query_users({"id": me["id"]})["users"]] == [me["id"]]
