"""Users: upsert, partial update, query, (de/re)activate, delete, id rules."""

import pytest

from eddy_helpers import api_error, assert_api_error, assert_recent, parse_ts
from conftest import uid


def test_upsert_user_flattens_custom_fields_and_defaults_role(client):
    user_id = uid()
    resp = client.upsert_user({"id": user_id, "name": "Alice", "team": "blue", "age": 30})
    assert set(resp["users"].keys()) == {user_id}
    u = resp["users"][user_id]
    assert u["id"] == user_id
    assert u["name"] == "Alice"
    assert u["team"] == "blue"
    assert u["age"] == 30
    assert u["role"] == "user"
    assert u["banned"] is False
    created = assert_recent(u["created_at"])
    updated = parse_ts(u["updated_at"])
    assert updated >= created


def test_upsert_users_batch_and_readback(client):
    a, b = uid(), uid()
    resp = client.upsert_users(
        [
            {"id": a, "team": "blue", "role": "admin"},
            {"id": b, "team": "red", "nested": {"x": [1, 2]}},
        ]
    )
    assert set(resp["users"].keys()) == {a, b}
    assert resp["users"][a]["team"] == "blue"
    assert resp["users"][a]["role"] == "admin"
    assert resp["users"][b]["team"] == "red"
    assert resp["users"][b]["role"] == "user"
    assert resp["users"][b]["nested"] == {"x": [1, 2]}

    got = client.query_users({"id": {"$in": [a, b]}}, {"id": 1})["users"]
    assert [u["id"] for u in got] == sorted([a, b])
    by_id = {u["id"]: u for u in got}
    assert by_id[a]["team"] == "blue"
    assert by_id[b]["nested"] == {"x": [1, 2]}


def test_upsert_is_full_replace_of_custom_data_and_keeps_created_at(client):
    user_id = uid()
    first = client.upsert_user({"id": user_id, "team": "blue", "hat": "red"})["users"][user_id]
    second = client.upsert_user({"id": user_id, "team": "green"})["users"][user_id]
    assert second["team"] == "green"
    assert "hat" not in second
    assert parse_ts(second["created_at"]) == parse_ts(first["created_at"])
    got = client.query_users({"id": user_id})["users"]
    assert len(got) == 1
    assert got[0]["team"] == "green"
    assert "hat" not in got[0]


def test_update_user_partial_set_and_unset(client):
    user_id = uid()
    client.upsert_user({"id": user_id, "name": "Bob", "team": "blue", "age": 3})
    resp = client.update_user_partial(
        {"id": user_id, "set": {"team": "red", "city": "Oslo"}, "unset": ["age"]}
    )
    u = resp["users"][user_id]
    assert u["team"] == "red"
    assert u["city"] == "Oslo"
    assert u["name"] == "Bob"
    assert "age" not in u

    got = client.query_users({"id": user_id})["users"]
    assert len(got) == 1
    assert got[0]["team"] == "red"
    assert got[0]["city"] == "Oslo"
    assert got[0]["name"] == "Bob"
    assert "age" not in got[0]


def test_update_user_partial_nested_path(client):
    user_id = uid()
    client.upsert_user({"id": user_id, "details": {"a": 1, "b": 2}})
    resp = client.update_user_partial(
        {"id": user_id, "set": {"details.c": 3}, "unset": ["details.a"]}
    )
    assert resp["users"][user_id]["details"] == {"b": 2, "c": 3}


def test_query_users_in_returns_exactly_those(client):
    ids = [uid() for _ in range(3)]
    client.upsert_users([{"id": i, "race": "Hobbit"} for i in ids])
    wanted = ids[:2]
    got = client.query_users({"id": {"$in": wanted}})["users"]
    assert sorted(u["id"] for u in got) == sorted(wanted)


def test_query_users_custom_field_filter_and_sort(client):
    tag = uid("tag")
    ids = [uid() for _ in range(4)]
    ages = [28, 50, 36, 38]
    client.upsert_users([{"id": i, "tag": tag, "age": a} for i, a in zip(ids, ages)])
    got = client.query_users({"tag": tag}, [{"field": "age", "direction": -1}])["users"]
    assert [u["age"] for u in got] == [50, 38, 36, 28]
    got = client.query_users({"tag": tag, "age": {"$gte": 36}}, {"age": 1})["users"]
    assert [u["age"] for u in got] == [36, 38, 50]


def test_query_users_limit_offset(client):
    tag = uid("tag")
    ids = sorted(uid() for _ in range(5))
    client.upsert_users([{"id": i, "tag": tag} for i in ids])
    got = client.query_users({"tag": tag}, {"id": 1}, limit=2, offset=1)["users"]
    assert [u["id"] for u in got] == ids[1:3]


def test_deactivate_then_reactivate(client):
    user_id = uid()
    client.upsert_user({"id": user_id, "name": "Dee"})

    resp = client.deactivate_user(user_id)
    assert resp["user"]["id"] == user_id
    assert_recent(resp["user"]["deactivated_at"])

    assert client.query_users({"id": user_id})["users"] == []
    got = client.query_users({"id": user_id}, include_deactivated_users=True)["users"]
    assert [u["id"] for u in got] == [user_id]
    assert got[0]["deactivated_at"] is not None

    resp = client.reactivate_user(user_id)
    assert resp["user"]["id"] == user_id
    assert resp["user"].get("deactivated_at") is None

    got = client.query_users({"id": user_id})["users"]
    assert [u["id"] for u in got] == [user_id]
    assert got[0]["name"] == "Dee"


def test_soft_delete_user_hides_from_queries(client):
    user_id = uid()
    client.upsert_user({"id": user_id})
    resp = client.delete_user(user_id)
    assert resp["user"]["id"] == user_id
    assert client.query_users({"id": user_id})["users"] == []
    assert client.query_users({"id": {"$in": [user_id]}})["users"] == []


@pytest.mark.parametrize("bad_id", ["has space", "bang!", "sla/sh", "hash#tag"])
def test_invalid_user_id_is_input_error(client, bad_id):
    exc = api_error(client.upsert_user, {"id": bad_id})
    assert_api_error(exc, 4, 400)


@pytest.mark.parametrize("good_id", ["Frodo.Baggins", "a@b.c", "under_score-dash", "UPPER123"])
def test_allowed_user_id_characters(client, good_id):
    user_id = f"{good_id}-{uid('x')[2:14]}"
    resp = client.upsert_user({"id": user_id})
    assert resp["users"][user_id]["id"] == user_id


def test_batch_fails_whole_on_one_bad_id(client):
    good = uid()
    exc = api_error(client.upsert_users, [{"id": good}, {"id": "bad id"}])
    assert_api_error(exc, 4, 400)
    assert client.query_users({"id": good})["users"] == []


def test_query_users_name_autocomplete(client):
    tag = uid("tag")
    names = ["john-a", "jessica-b", "john2-c", "paul-d", "george-e"]
    ids = {n: uid() for n in names}
    client.upsert_users([{"id": ids[n], "name": n, "tag": tag} for n in names])
    got = client.query_users({"tag": tag, "name": {"$autocomplete": "j"}})["users"]
    assert sorted(u["name"] for u in got) == ["jessica-b", "john-a", "john2-c"]


def test_query_users_unsupported_operator_is_input_error(client):
    exc = api_error(client.query_users, {"id": {"$regex": "x"}})
    assert_api_error(exc, 4, 400)
