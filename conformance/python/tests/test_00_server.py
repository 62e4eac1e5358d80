"""The binary's startup contract and response basics every SDK relies on."""

import json
import urllib.request


def test_startup_lines_echo_configured_credentials(eddy):
    assert eddy.printed["EDDY_URL"].startswith("http://127.0.0.1:")
    port = int(eddy.printed["EDDY_URL"].rsplit(":", 1)[1].rstrip("/"))
    assert port > 0
    assert eddy.printed.get("EDDY_API_KEY") == eddy.api_key
    assert eddy.printed.get("EDDY_API_SECRET") == eddy.api_secret


def test_healthz(eddy):
    with urllib.request.urlopen(f"{eddy.url}/healthz", timeout=5) as resp:
        assert resp.status == 200


def test_get_app_is_exactly_app_and_duration(client):
    resp = client.get_app_settings()
    assert set(resp.keys()) == {"app", "duration"}
    assert isinstance(resp["duration"], str) and resp["duration"].endswith("ms")
    assert isinstance(resp["app"], dict)
    assert "messaging" in resp["app"]["channel_configs"]


def test_rate_limit_headers(client):
    resp = client.get_app_settings()
    rl = resp.rate_limit()
    # stream-chat-python copies the headers into a plain dict and looks up
    # "x-ratelimit-limit" etc. in lower case, so the names must be sent lower case.
    assert rl is not None, f"no lower-case x-ratelimit-* headers: {resp.headers()!r}"
    assert rl.limit > 0
    assert rl.remaining > 0
    assert rl.remaining <= rl.limit


def test_responses_are_json_with_duration(client, make_user):
    u = make_user()
    resp = client.query_users({"id": u["id"]})
    assert isinstance(resp["duration"], str)
    assert resp.status_code() in (200, 201)
    assert "application/json" in resp.headers().get("content-type", resp.headers().get("Content-Type", ""))
