"""Fixtures for the eddy conformance suite (stream-chat-python against eddy).

The session-scoped ``eddy`` fixture starts the server binary once:

    eddy serve --listen 127.0.0.1:0 --data-dir <fresh temp dir>

with ``EDDY_API_KEY`` / ``EDDY_API_SECRET`` in its environment.  The server
prints ``EDDY_URL=...``, ``EDDY_API_KEY=...`` and ``EDDY_API_SECRET=...`` on
stdout; we parse them, wait for ``GET /healthz`` to answer 200 and hand the
URL to Stream's official Python SDK.

Environment knobs:
  EDDY_BIN   path of the binary (default <repo root>/target/debug/eddy)
  RUST_LOG   passed through (default "warn")
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest
from stream_chat import StreamChat

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "eddy"

API_KEY = "conformance-key"
STARTUP_TIMEOUT = 20.0


@dataclasses.dataclass
class EddyServer:
    url: str
    api_key: str
    api_secret: str
    printed: Dict[str, str]
    process: subprocess.Popen
    data_dir: str
    stderr_path: str
    #: The storage flag for other eddy commands on the same data (`--data-dir` or `--database`).
    storage_args: List[str] = dataclasses.field(default_factory=list)

    def stderr_tail(self, n: int = 60) -> str:
        try:
            with open(self.stderr_path, "r", errors="replace") as fh:
                return "".join(fh.readlines()[-n:])
        except OSError:
            return ""


class _StdoutReader(threading.Thread):
    """Drains the server's stdout forever so the pipe never fills up,
    remembering every ``KEY=value`` line it sees."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: List[str] = []
        self.values: Dict[str, str] = {}
        self.cond = threading.Condition()
        self.closed = False

    def run(self) -> None:
        for raw in iter(self.stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            with self.cond:
                self.lines.append(line)
                if "=" in line:
                    k, v = line.split("=", 1)
                    k = k.strip()
                    if k.startswith("EDDY_") and k not in self.values:
                        self.values[k] = v.strip()
                self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wait_for(self, keys: List[str], deadline: float) -> bool:
        with self.cond:
            while not all(k in self.values for k in keys):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    return False
                self.cond.wait(remaining)
            return True


def _fail_start(msg: str, proc: Optional[subprocess.Popen], stderr_path: str) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait(5)
    tail = ""
    try:
        with open(stderr_path, "r", errors="replace") as fh:
            tail = "".join(fh.readlines()[-40:])
    except OSError:
        pass
    pytest.fail(f"{msg}\n--- eddy stderr (tail) ---\n{tail}", pytrace=False)


class _ClusterConfiguration:
    """The cluster configuration (EDDY_CONFORMANCE_CLUSTER=<PostgreSQL URL>): the server runs on
    PostgreSQL, in a fresh schema made with psql and dropped afterwards, and on NATS with a subject
    of its own. Unset: the embedded default (SQLite, in-process bus)."""

    def __init__(self, base: Optional[str]) -> None:
        self.base = base
        self.schema = f"eddy_py_{os.getpid()}_{secrets.token_hex(4)}"
        self.env: Dict[str, str] = {}
        self.storage_args: List[str] = []
        if base:
            self._psql(f'CREATE SCHEMA "{self.schema}"')
            separator = "&" if "?" in base else "?"
            options = urllib.parse.quote(f"-c search_path={self.schema}")
            url = f"{base}{separator}options={options}"
            self.env = {
                "EDDY_DATABASE_URL": url,
                "EDDY_BUS_URL": os.environ.get("EDDY_CONFORMANCE_NATS", "nats://127.0.0.1:4222"),
                "EDDY_BUS_SUBJECT": f"eddy.conformance.{self.schema}",
            }
            self.storage_args = ["--database", url]

    @classmethod
    def from_env(cls) -> "_ClusterConfiguration":
        return cls(os.environ.get("EDDY_CONFORMANCE_CLUSTER") or None)

    def _psql(self, sql: str) -> None:
        subprocess.run(
            ["psql", self.base, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True
        )

    def drop(self) -> None:
        if self.base:
            self._psql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


@pytest.fixture(scope="session")
def eddy(tmp_path_factory) -> EddyServer:
    binary = Path(os.environ.get("EDDY_BIN") or DEFAULT_BIN)
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(
            f"eddy binary not found or not executable at {binary} "
            "(build it with `cargo build` or set EDDY_BIN)",
            pytrace=False,
        )

    work = tmp_path_factory.mktemp("eddy")
    data_dir = tempfile.mkdtemp(prefix="data-", dir=work)
    stderr_path = str(work / "eddy.stderr.log")
    api_secret = secrets.token_hex(24)  # 48 chars

    env = dict(os.environ)
    env["EDDY_API_KEY"] = API_KEY
    env["EDDY_API_SECRET"] = api_secret
    env.setdefault("RUST_LOG", "warn")
    cluster = _ClusterConfiguration.from_env()
    env.update(cluster.env)

    stderr_fh = open(stderr_path, "wb")
    proc = subprocess.Popen(
        [str(binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr_fh,
        env=env,
    )
    reader = _StdoutReader(proc.stdout)
    reader.start()

    deadline = time.monotonic() + STARTUP_TIMEOUT
    if not reader.wait_for(["EDDY_URL"], deadline):
        _fail_start(
            f"eddy did not print EDDY_URL=... within {STARTUP_TIMEOUT}s "
            f"(exit code {proc.poll()}, stdout so far: {reader.lines!r})",
            proc,
            stderr_path,
        )
    url = reader.values["EDDY_URL"].rstrip("/")

    # Key and secret lines are part of the contract; give them the remaining time.
    reader.wait_for(["EDDY_API_KEY", "EDDY_API_SECRET"], deadline)

    last_err = None
    while True:
        if proc.poll() is not None:
            _fail_start(f"eddy exited with code {proc.returncode} during startup", None, stderr_path)
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    break
                last_err = f"HTTP {resp.status}"
        except urllib.error.HTTPError as e:
            last_err = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError) as e:
            last_err = repr(e)
        if time.monotonic() > deadline:
            _fail_start(f"GET {url}/healthz never returned 200 (last: {last_err})", proc, stderr_path)
        time.sleep(0.1)

    server = EddyServer(
        url=url,
        api_key=API_KEY,
        api_secret=api_secret,
        printed=dict(reader.values),
        process=proc,
        data_dir=data_dir,
        stderr_path=stderr_path,
        storage_args=cluster.storage_args or ["--data-dir", data_dir],
    )
    yield server

    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    stderr_fh.close()
    shutil.rmtree(data_dir, ignore_errors=True)
    cluster.drop()


def make_client(eddy: EddyServer, api_key: str = None, api_secret: str = None) -> StreamChat:
    return StreamChat(
        api_key=api_key if api_key is not None else eddy.api_key,
        api_secret=api_secret if api_secret is not None else eddy.api_secret,
        base_url=eddy.url,
    )


@pytest.fixture(scope="session")
def client(eddy: EddyServer) -> StreamChat:
    """Server-side client (JWT {"server": true}) pointed at eddy."""
    return make_client(eddy)


@pytest.fixture(scope="session")
def user_client(eddy: EddyServer, client: StreamChat) -> Callable[..., StreamChat]:
    """Factory: a StreamChat whose requests carry a *user* token instead of
    the server token (the Python SDK has no user mode of its own)."""

    def _make(user_id: str = None, token: str = None, **claims) -> StreamChat:
        c = make_client(eddy)
        c.auth_token = token if token is not None else client.create_token(user_id, **claims)
        return c

    return _make


@pytest.fixture(scope="session")
def stream(eddy: EddyServer):
    """Stream's v2 SDK (PyPI getstream), server-side (its tokens carry no claims at all), on the
    /api/v2 layout of eddy."""
    from getstream import Stream

    return Stream(api_key=eddy.api_key, api_secret=eddy.api_secret, base_url=eddy.url)


@pytest.fixture(scope="session")
def stream_as(eddy: EddyServer, stream):
    """Factory: the v2 SDK authenticated as one user (a token-only client)."""
    from getstream import Stream

    def _make(user_id: str):
        return Stream(api_key=eddy.api_key, token=stream.create_token(user_id), base_url=eddy.url)

    return _make


def uid(prefix: str = "u") -> str:
    """A unique id made only of characters every id type accepts."""
    return f"{prefix}-{uuid.uuid4().hex}"


@pytest.fixture
def new_id() -> Callable[[str], str]:
    return uid


@pytest.fixture
def make_user(client: StreamChat) -> Callable[..., Dict]:
    """Factory: upsert a fresh user and return the user object from the response."""

    def _make(**fields) -> Dict:
        user = {"id": uid("user"), **fields}
        resp = client.upsert_user(user)
        return resp["users"][user["id"]]

    return _make


@pytest.fixture
def make_channel(client: StreamChat, make_user) -> Callable[..., tuple]:
    """Factory: create a fresh channel.

    Returns ``(channel, create_response, owner_id)``.  ``members`` are user
    ids that must already exist; the owner is always created fresh and made
    a member unless ``owner_member=False``.
    """

    def _make(
        channel_type: str = "messaging",
        members: List[str] = None,
        owner_member: bool = True,
        **data,
    ):
        owner = make_user(name="Owner")["id"]
        all_members = ([owner] if owner_member else []) + list(members or [])
        if all_members:
            data["members"] = all_members
        ch = client.channel(channel_type, uid("ch"), data=data)
        resp = ch.create(owner)
        return ch, resp, owner

    return _make
