"""Hostile input: random JSON bodies on the write endpoints never produce a 500 or an internal error."""

import json
import random
import urllib.error
import urllib.parse
import urllib.request

KEYS = ["id", "text", "type", "members", "user_id", "user", "$and", "$or", "$nin", "$in", "$eq",
        "filter_conditions", "sort", "limit", "offset", "message", "reaction", "event", "data", "set",
        "unset", "users", "cid", "parent_id", "created_at", "frozen", "name", "query", "score", "watch"]
SCALARS = [None, True, False, 0, -1, 10**18, 1.5, "", "x" * 300, 'a"b', [], {}, "$in", "2024-01-01", "\u2028"]


def random_json(rng, depth=0):
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice(SCALARS)
    if roll < 0.6:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(KEYS): random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def test_random_bodies_get_stream_errors_not_internal_ones(eddy, client, make_user, make_channel):
    member = make_user()["id"]
    ch, _, owner = make_channel(members=[member])
    message_id = ch.send_message({"text": "target"}, owner)["message"]["id"]
    base = f"/channels/messaging/{ch.id}"
    targets = [("POST", "/users"), ("PATCH", "/users"), ("POST", "/channels"), ("POST", f"{base}/query"),
               ("POST", "/channels/messaging/query"), ("POST", base), ("PATCH", base), ("POST", f"{base}/message"),
               ("POST", f"/messages/{message_id}"), ("PUT", f"/messages/{message_id}"),
               ("POST", f"/messages/{message_id}/reaction"), ("POST", f"{base}/event"), ("POST", f"{base}/read"),
               ("POST", f"{base}/unread"), ("POST", f"{base}/truncate"), ("POST", "/channeltypes"),
               ("POST", "/channels/read"), ("PATCH", f"{base}/member/{member}")]
    tokens = [client.auth_token, client.create_token(member)]
    rng = random.Random(20261122)
    internal = []
    for _ in range(400):
        method, path = rng.choice(targets)
        body = json.dumps(random_json(rng)).encode()
        url = f"{eddy.url}{path}?api_key={client.api_key}"
        request = urllib.request.Request(url, data=body, method=method, headers={
            "Authorization": rng.choice(tokens), "stream-auth-type": "jwt", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request) as response:
                status, answer = response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            status, answer = error.code, json.loads(error.read())
        assert "duration" in answer
        if status >= 500 or answer.get("code") == -1:
            internal.append((method, path, body[:200], status, answer))
        elif status >= 400:
            assert {"code", "message", "StatusCode", "details"} <= answer.keys(), answer
    assert internal == []
