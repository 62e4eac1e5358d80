"""Push devices through the Python SDK: register (idempotent), list, delete, and refusals."""

from eddy_helpers import api_error, assert_api_error


def test_register_list_and_delete_devices(client, make_user):
    user = make_user()["id"]
    client.add_device("token-a", "firebase", user)
    client.add_device("token-a", "firebase", user)
    client.add_device("token-b", "apn", user, push_provider_name="production")
    devices = client.get_devices(user)["devices"]
    assert [(d["id"], d["push_provider"]) for d in devices] == [("token-a", "firebase"), ("token-b", "apn")]
    assert devices[1]["push_provider_name"] == "production"
    assert all(d["user_id"] == user for d in devices)
    client.delete_device("token-a", user)
    assert [d["id"] for d in client.get_devices(user)["devices"]] == ["token-b"]
    assert_api_error(api_error(client.delete_device, "token-a", user), 16, 404)
    assert_api_error(api_error(client.add_device, "token-c", "pigeon", user), 4, 400)
