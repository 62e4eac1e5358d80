"""Small assertion helpers shared by the conformance tests."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Callable, Dict, Optional

import pytest
from stream_chat.base.exceptions import StreamAPIException


def parse_ts(value) -> datetime:
    """Parse an RFC 3339 timestamp as sent on the legacy (root) paths."""
    assert isinstance(value, str), f"expected an RFC 3339 string, got {value!r}"
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert dt.tzinfo is not None, f"timestamp without offset: {value!r}"
    return dt


def now() -> datetime:
    return datetime.now(timezone.utc)


def assert_recent(value, within_s: float = 120.0) -> datetime:
    dt = parse_ts(value)
    delta = abs((now() - dt).total_seconds())
    assert delta < within_s, f"timestamp {value!r} is {delta:.0f}s away from now"
    return dt


def api_error(fn: Callable, *args, **kwargs) -> StreamAPIException:
    """Run fn, require a StreamAPIException, return it."""
    with pytest.raises(StreamAPIException) as excinfo:
        fn(*args, **kwargs)
    return excinfo.value


def assert_api_error(exc: StreamAPIException, code: int, status: int) -> Dict:
    """Check the SDK-visible error code and HTTP status, and the body shape
    of Stream errors: {code, message, StatusCode, duration, ...}."""
    body: Optional[Dict] = None
    try:
        body = json.loads(exc.response_text)
    except ValueError:
        pass
    detail = f"HTTP {exc.status_code} body={exc.response_text[:500]!r}"
    assert exc.status_code == status, f"expected HTTP {status}, got {detail}"
    assert body is not None and isinstance(body, dict), f"error body is not JSON: {detail}"
    assert exc.error_code == code, f"expected error code {code}, got {detail}"
    assert body.get("StatusCode") == status, f"StatusCode field mismatch: {detail}"
    assert isinstance(body.get("message"), str) and body["message"], f"no message: {detail}"
    assert isinstance(body.get("duration"), str), f"no duration: {detail}"
    return body


def poll_task(client, task_id: str, timeout: float = 20.0) -> Dict:
    """GET /tasks/{id} until status is completed or failed."""
    deadline = time.monotonic() + timeout
    while True:
        task = client.get_task(task_id)
        if task.get("status") in ("completed", "failed"):
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} not finished after {timeout}s: {dict(task)!r}")
        time.sleep(0.2)


def member_ids(members) -> set:
    """Set of user ids of a Member list; every Member must carry both
    ``user_id`` and a ``user`` object with the same id."""
    ids = set()
    for m in members:
        assert m.get("user_id") == m.get("user", {}).get("id"), f"bad member {m!r}"
        ids.add(m["user_id"])
    return ids
