"""Error codes and the error body the SDKs parse."""

import uuid


from eddy_helpers import api_error, assert_api_error
from conftest import make_client, uid


def test_wrong_secret_is_43(eddy):
    bad = make_client(eddy, api_secret="x" * 48)
    exc = api_error(bad.get_app_settings)
    assert_api_error(exc, 43, 401)
    exc = api_error(bad.query_users, {"id": "anyone"})
    assert_api_error(exc, 43, 401)
    exc = api_error(bad.upsert_user, {"id": uid()})
    assert_api_error(exc, 43, 401)


def test_wrong_api_key_is_2(eddy):
    bad = make_client(eddy, api_key="not-the-key")
    exc = api_error(bad.get_app_settings)
    assert_api_error(exc, 2, 401)
    exc = api_error(bad.query_users, {"id": "anyone"})
    assert_api_error(exc, 2, 401)


def test_malformed_token_is_5(eddy):
    c = make_client(eddy)
    c.auth_token = "not-a-jwt"
    exc = api_error(c.get_app_settings)
    assert_api_error(exc, 5, 401)


def test_missing_token_is_5(eddy):
    c = make_client(eddy)
    c.auth_token = ""
    exc = api_error(c.query_users, {"id": "anyone"})
    assert_api_error(exc, 5, 401)


def test_user_token_on_server_only_endpoint_is_17(client, user_client, make_user):
    me = make_user()["id"]
    uc = user_client(me)
    exc = api_error(uc.create_channel_type, {"name": "ct" + uuid.uuid4().hex[:12]})
    assert_api_error(exc, 17, 403)


def test_unknown_channel_type_on_create(client, make_user):
    owner = make_user()["id"]
    exc = api_error(client.channel("nope" + uuid.uuid4().hex[:8], "x").create, owner)
    # GetOrCreateChannel naming a type that does not exist is a request
    # validation failure (InputError 4 / 400), like naming members that do not
    # exist; GET /channeltypes/{name} for an unknown name is 16 / 404 (spec 2.4,
    # see test_channel_types.test_unknown_channel_type_is_not_found).
    body = assert_api_error(exc, 4, 400)
    assert body["message"].startswith("GetOrCreateChannel failed with error:")


def test_unknown_task_is_16(client):
    exc = api_error(client.get_task, str(uuid.uuid4()))
    body = assert_api_error(exc, 16, 404)
    assert "Can't find task" in body["message"]


def test_error_body_shape(client):
    exc = api_error(client.upsert_user, {"id": "bad id"})
    body = assert_api_error(exc, 4, 400)
    assert body["code"] == 4
    assert isinstance(body.get("more_info", ""), str)
    assert str(exc).startswith("StreamChat error code 4: ")
