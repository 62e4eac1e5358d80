//! Integration tests: the real `eddy` binary on port 0, driven over REST and WebSocket like an SDK would.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is the test failing

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "itest-key";
const SECRET: &str = "itest-secret-that-is-long-enough-0123456789";

struct Server {
    child: Child,
    url: String,
    _data: TempDir,
}

impl Server {
    /// SIGKILL, as a crash: nothing is flushed or closed. Returns the data dir for a restart.
    fn crash(mut self) -> TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let data = std::mem::replace(&mut self._data, TempDir(std::path::PathBuf::new()));
        drop(self);
        data
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start() -> Server {
    start_with(&[])
}

/// The binary with extra `serve` arguments (a bus URL, ...).
fn start_with(extra: &[&str]) -> Server {
    let data =
        std::env::temp_dir().join(format!("eddy-itest-{}-{}", std::process::id(), uuid_like()));
    start_in(TempDir(data), extra)
}

/// The binary on a given data dir (a restart reuses the dir of a killed server).
fn start_in(data: TempDir, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data.0)
        .args(extra)
        .env("EDDY_API_KEY", KEY)
        .env("EDDY_API_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("eddy starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut url = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(found) = line.strip_prefix("EDDY_URL=") {
            url = found.to_owned();
            break;
        }
    }
    assert!(url.starts_with("http://127.0.0.1:"), "no URL printed");
    Server {
        child,
        url,
        _data: data,
    }
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Signs claims with HS256, as the SDKs' token helpers do.
fn token(claims: Value, secret: &str) -> String {
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

fn server_token() -> String {
    token(json!({"server": true}), SECRET)
}

fn user_token(user: &str) -> String {
    token(json!({"user_id": user}), SECRET)
}

async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let separator = if path.contains('?') { '&' } else { '?' };
    let client = reqwest::Client::new();
    let mut request = client
        .request(
            method,
            format!("{}{path}{separator}api_key={KEY}", server.url),
        )
        .header("Authorization", token)
        .header("stream-auth-type", "jwt");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &Server, user: &str, token: &str) -> (Socket, Value) {
    let payload =
        json!({"user_id": user, "user_details": {"id": user, "name": user.to_uppercase()}});
    let url = format!(
        "{}/connect?json={}&api_key={KEY}&authorization={token}&stream-auth-type=jwt",
        server.url.replace("http://", "ws://"),
        urlencode(&payload.to_string())
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect");
    let first = next_json(&mut socket).await;
    (socket, first)
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("frame in time")
            .expect("open")
            .expect("ok");
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).expect("json frame");
        }
    }
}

/// Reads frames until one of `kind` arrives (skipping others such as watching events).
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let event = next_json(socket).await;
        if event["type"] == kind {
            return event;
        }
    }
}

#[tokio::test]
async fn browsers_on_other_origins_pass_cors() {
    let server = start();
    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{}/channels", server.url))
        .header("origin", "http://app.example:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,stream-auth-type,x-stream-client,content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap_or_default();
    assert!(
        allowed == "*" || allowed.contains("stream-auth-type"),
        "allowed headers: {allowed}"
    );
    // A real request from that origin carries the header too, errors included.
    let answer = client
        .get(format!("{}/app?api_key={KEY}", server.url))
        .header("origin", "http://app.example:5173")
        .header("authorization", "not-a-token")
        .header("stream-auth-type", "jwt")
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), 401);
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn healthz_and_error_envelope() {
    let server = start();
    let status = reqwest::get(format!("{}/healthz", server.url))
        .await
        .expect("healthz")
        .status();
    assert_eq!(status, 200);
    let (status, body) = call(&server, reqwest::Method::GET, "/app", "not-a-token", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], 5);
    assert_eq!(body["details"], json!([]));
    let (status, body) = call(
        &server,
        reqwest::Method::GET,
        "/app",
        &token(json!({"server": true}), "wrong-secret"),
        None,
    )
    .await;
    assert_eq!((status, body["code"].clone()), (401, json!(43)));
    let (status, body) = call(
        &server,
        reqwest::Method::GET,
        "/nope",
        &server_token(),
        None,
    )
    .await;
    assert_eq!((status, body["code"].clone()), (404, json!(16)));
}

#[tokio::test]
async fn bad_filters_are_code_4_not_empty_results() {
    let server = start();
    let (status, body) = call(
        &server,
        reqwest::Method::POST,
        "/channels",
        &server_token(),
        Some(json!({"filter_conditions": {"frozen": {"$gt": 1}}})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], 4);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("frozen"),
        "{body}"
    );
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        "/channels",
        &server_token(),
        Some(json!("not an object")),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn unknown_api_keys_are_refused_with_code_2() {
    let server = start();
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{}/app?api_key=unknown", server.url))
        .header("Authorization", server_token())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], 2);
}

#[tokio::test]
async fn two_users_chat_over_websockets() {
    let server = start();
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        "/users",
        &server_token(),
        Some(json!({"users": {"alice": {"id": "alice"}, "bob": {"id": "bob"}}})),
    )
    .await;
    assert_eq!(status, 201);
    let (mut alice, hello) = connect(&server, "alice", &user_token("alice")).await;
    assert_eq!(hello["type"], "health.check");
    assert_eq!(hello["me"]["id"], "alice");
    assert_eq!(hello["me"]["name"], "ALICE");
    assert_eq!(hello["me"]["mutes"], json!([]));
    let alice_connection = hello["connection_id"]
        .as_str()
        .expect("connection id")
        .to_owned();
    let (mut bob, bob_hello) = connect(&server, "bob", &user_token("bob")).await;
    let bob_connection = bob_hello["connection_id"]
        .as_str()
        .expect("connection id")
        .to_owned();

    let create = json!({"data": {"members": ["alice", "bob"]}, "watch": true, "state": true});
    let (status, state) = call(
        &server,
        reqwest::Method::POST,
        &format!("/channels/messaging/room/query?connection_id={alice_connection}"),
        &user_token("alice"),
        Some(create),
    )
    .await;
    assert_eq!(status, 201, "{state}");
    assert_eq!(state["members"].as_array().map(Vec::len), Some(2));
    assert!(state["channel"]["own_capabilities"]
        .as_array()
        .is_some_and(|c| c.contains(&json!("send-message"))));
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        &format!("/channels/messaging/room/query?connection_id={bob_connection}"),
        &user_token("bob"),
        Some(json!({"watch": true})),
    )
    .await;
    assert_eq!(status, 201);

    let (status, sent) = call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/room/message",
        &user_token("alice"),
        Some(json!({"message": {"text": "hi bob"}})),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    let event = next_of(&mut bob, "message.new").await;
    assert_eq!(event["message"]["text"], "hi bob");
    assert_eq!(event["user"]["id"], "alice");
    assert_eq!(event["cid"], "messaging:room");
    assert_eq!(
        event["total_unread_count"], 1,
        "bob's own unread count is spliced in: {event}"
    );
    let own = next_of(&mut alice, "message.new").await;
    assert_eq!(own["message"]["id"], sent["message"]["id"]);

    let typing = json!({"event": {"type": "typing.start"}});
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/room/event",
        &user_token("bob"),
        Some(typing),
    )
    .await;
    assert_eq!(status, 201);
    let event = next_of(&mut alice, "typing.start").await;
    assert_eq!(event["user"]["id"], "bob");

    let (status, read) = call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/room/read",
        &user_token("bob"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(read["event"]["type"], "message.read");
    let event = next_of(&mut alice, "message.read").await;
    assert_eq!(event["user"]["id"], "bob");

    alice
        .send(Message::Text(
            r#"[{"type":"health.check","client_id":"alice--1"}]"#.into(),
        ))
        .await
        .expect("send");
    let pong = next_of(&mut alice, "health.check").await;
    assert_eq!(pong["connection_id"], alice_connection.as_str());
    assert!(pong.get("me").is_none(), "later health checks carry no me");
}

#[tokio::test]
async fn websocket_refusals_arrive_as_connection_error_frames() {
    let server = start();
    let (mut socket, frame) = connect(
        &server,
        "mallory",
        &token(json!({"user_id": "mallory"}), "wrong-secret"),
    )
    .await;
    assert_eq!(frame["type"], "connection.error");
    assert_eq!(frame["error"]["code"], 43);
    assert_eq!(frame["error"]["StatusCode"], 401);
    let close = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("close in time");
    assert!(
        matches!(close, Some(Ok(Message::Close(Some(frame)))) if u16::from(frame.code) == 1000)
    );

    let (_, frame) = connect(
        &server,
        "carol",
        &token(json!({"user_id": "carol", "exp": 1_000}), SECRET),
    )
    .await;
    assert_eq!(frame["error"]["code"], 40);
    let (_, frame) = connect(&server, "dave", &user_token("erin")).await;
    assert_eq!(frame["error"]["code"], 5);
}

#[tokio::test]
async fn revoked_tokens_are_refused_as_expired() {
    let server = start();
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        "/users",
        &server_token(),
        Some(json!({"users": {"frank": {"id": "frank"}}})),
    )
    .await;
    assert_eq!(status, 201);
    let issued = chrono::Utc::now().timestamp() - 60;
    let old = token(json!({"user_id": "frank", "iat": issued}), SECRET);
    let (status, _) = call(&server, reqwest::Method::GET, "/app", &old, None).await;
    assert_eq!(status, 200);
    let revoke =
        json!({"users": [{"id": "frank", "set": {"revoke_tokens_issued_before": eddy_now()}}]});
    let (status, body) = call(
        &server,
        reqwest::Method::PATCH,
        "/users",
        &server_token(),
        Some(revoke),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&server, reqwest::Method::GET, "/app", &old, None).await;
    assert_eq!((status, body["code"].clone()), (401, json!(40)));
}

fn eddy_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[tokio::test]
async fn a_connection_cannot_be_borrowed_to_watch_for_another_user() {
    let server = start();
    let users = json!({"users": {"grace": {"id": "grace"}, "heidi": {"id": "heidi"}}});
    call(
        &server,
        reqwest::Method::POST,
        "/users",
        &server_token(),
        Some(users),
    )
    .await;
    let (_grace, hello) = connect(&server, "grace", &user_token("grace")).await;
    let graces_connection = hello["connection_id"]
        .as_str()
        .expect("connection id")
        .to_owned();
    let create = json!({"data": {"members": ["grace", "heidi"]}, "watch": true});
    let path = format!("/channels/messaging/borrowed/query?connection_id={graces_connection}");
    let (status, state) = call(
        &server,
        reqwest::Method::POST,
        &path,
        &user_token("heidi"),
        Some(create),
    )
    .await;
    assert_eq!(status, 201, "{state}");
    assert_eq!(
        state["watcher_count"], 0,
        "heidi must not watch through grace's socket"
    );
    let (_, state) = call(
        &server,
        reqwest::Method::POST,
        &path,
        &user_token("grace"),
        Some(json!({"watch": true})),
    )
    .await;
    assert_eq!(state["watcher_count"], 1);
}

#[tokio::test]
async fn long_poll_carries_the_same_events() {
    let server = start();
    let users = json!({"users": {"ivan": {"id": "ivan"}, "judy": {"id": "judy"}}});
    call(
        &server,
        reqwest::Method::POST,
        "/users",
        &server_token(),
        Some(users),
    )
    .await;
    let client = reqwest::Client::new();
    let poll = |query: String| {
        let request = client
            .get(format!("{}/longpoll?api_key={KEY}&{query}", server.url))
            .header("Authorization", user_token("ivan"))
            .header("stream-auth-type", "jwt");
        async move {
            let response = request.send().await.expect("poll");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let connect = json!({"user_id": "ivan", "user_details": {"id": "ivan"}}).to_string();
    let (status, opened) = poll(format!("json={}", urlencode(&connect))).await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["event"]["type"], "health.check");
    assert_eq!(opened["event"]["me"]["id"], "ivan");
    let connection_id = opened["event"]["connection_id"]
        .as_str()
        .expect("connection id")
        .to_owned();

    let create = json!({"data": {"members": ["ivan", "judy"]}, "watch": true});
    let path = format!("/channels/messaging/polled/query?connection_id={connection_id}");
    let (status, state) = call(
        &server,
        reqwest::Method::POST,
        &path,
        &user_token("ivan"),
        Some(create),
    )
    .await;
    assert_eq!((status, state["watcher_count"].clone()), (201, json!(1)));
    let message = json!({"message": {"text": "over http"}});
    call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/polled/message",
        &user_token("judy"),
        Some(message),
    )
    .await;

    let (status, polled) = poll(format!("connection_id={connection_id}")).await;
    assert_eq!(status, 200);
    let events = polled["events"].as_array().expect("events");
    let new = events
        .iter()
        .find(|e| e["type"] == "message.new")
        .expect("message.new was queued");
    assert_eq!(new["message"]["text"], "over http");
    assert_eq!(new["total_unread_count"], 1);

    let (status, _) = poll(format!("close=true&connection_id={connection_id}")).await;
    assert_eq!(status, 200);
    let (status, gone) = poll(format!("connection_id={connection_id}")).await;
    assert_eq!((status, gone["code"].clone()), (400, json!(46)));
}

#[tokio::test]
async fn a_token_that_expires_on_a_live_socket_ends_it_with_code_40() {
    let server = start();
    call(
        &server,
        reqwest::Method::POST,
        "/users",
        &server_token(),
        Some(json!({"users": {"kim": {"id": "kim"}}})),
    )
    .await;
    let expires = chrono::Utc::now().timestamp() + 2;
    let (mut socket, hello) = connect(
        &server,
        "kim",
        &token(json!({"user_id": "kim", "exp": expires}), SECRET),
    )
    .await;
    assert_eq!(hello["type"], "health.check");
    let error = next_of(&mut socket, "connection.error").await;
    assert_eq!(error["error"]["code"], 40);
    let close = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("close in time");
    assert!(
        matches!(close, Some(Ok(Message::Close(Some(ref frame)))) if u16::from(frame.code) != 1000),
        "closed with a code that makes SDKs reconnect: {close:?}"
    );
}

#[tokio::test]
async fn sync_returns_what_an_offline_member_missed_in_order() {
    let server = start();
    let users =
        json!({"users": {"lea": {"id": "lea"}, "max": {"id": "max"}, "nia": {"id": "nia"}}});
    call(
        &server,
        reqwest::Method::POST,
        "/users",
        &server_token(),
        Some(users),
    )
    .await;
    let create = |members: Value| json!({"data": {"created_by_id": "lea", "members": members}});
    call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/synced/query",
        &server_token(),
        Some(create(json!(["lea", "max"]))),
    )
    .await;
    call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/private/query",
        &server_token(),
        Some(create(json!(["lea", "nia"]))),
    )
    .await;
    let since = eddy_now();
    let send = |text: &str| json!({"message": {"text": text}});
    let (_, first) = call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/synced/message",
        &user_token("lea"),
        Some(send("one")),
    )
    .await;
    call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/synced/message",
        &user_token("lea"),
        Some(send("two")),
    )
    .await;
    let message_id = first["message"]["id"].as_str().expect("id").to_owned();
    let reaction = json!({"reaction": {"type": "like"}});
    call(
        &server,
        reqwest::Method::POST,
        &format!("/messages/{message_id}/reaction"),
        &user_token("lea"),
        Some(reaction),
    )
    .await;

    let request =
        json!({"channel_cids": ["messaging:synced", "messaging:private"], "last_sync_at": since});
    // The log is written in the background: poll briefly until the three events are there.
    let mut events = Vec::new();
    for _ in 0..50 {
        let (status, body) = call(
            &server,
            reqwest::Method::POST,
            "/sync",
            &user_token("max"),
            Some(request.clone()),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        events = body["events"].as_array().cloned().unwrap_or_default();
        if events
            .iter()
            .filter(|e| e["cid"] == "messaging:synced")
            .count()
            >= 3
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let synced: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["cid"] == "messaging:synced")
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_owned(),
                e["message"]["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        synced,
        vec![
            ("message.new".into(), "one".into()),
            ("message.new".into(), "two".into()),
            ("reaction.new".into(), "one".into())
        ]
    );
    let removed: Vec<&Value> = events
        .iter()
        .filter(|e| e["cid"] == "messaging:private")
        .collect();
    assert_eq!(removed.len(), 1, "max is not in the private channel");
    assert_eq!(removed[0]["type"], "notification.removed_from_channel");

    let (_, listed) = call(
        &server,
        reqwest::Method::POST,
        "/sync?with_inaccessible_cids=true",
        &user_token("max"),
        Some(request),
    )
    .await;
    assert_eq!(listed["inaccessible_cids"], json!(["messaging:private"]));
    let stale =
        json!({"channel_cids": ["messaging:synced"], "last_sync_at": "2020-01-01T00:00:00Z"});
    let (status, body) = call(
        &server,
        reqwest::Method::POST,
        "/sync",
        &user_token("max"),
        Some(stale),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (400, json!(4)));
}

/// A refusal must be Stream's "not allowed" (17, HTTP 403) and name what was refused.
fn assert_refused(answer: &(u16, Value), mentions: &str) {
    let (status, body) = answer;
    assert_eq!((*status, body["code"].clone()), (403, json!(17)), "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(mentions),
        "message {message:?} should mention {mentions:?}"
    );
}

#[tokio::test]
async fn user_tokens_are_refused_what_their_grants_do_not_allow() {
    use reqwest::Method;
    let server = start();
    let users = json!({"users": {
        "owner": {"id": "owner"}, "member": {"id": "member"}, "stranger": {"id": "stranger"},
        "visitor": {"id": "visitor", "role": "guest"}
    }});
    let (status, _) = call(
        &server,
        Method::POST,
        "/users",
        &server_token(),
        Some(users),
    )
    .await;
    assert_eq!(status, 201);
    let create = json!({"data": {"created_by_id": "owner", "members": ["owner", "member"]}});
    call(
        &server,
        Method::POST,
        "/channels/messaging/club/query",
        &server_token(),
        Some(create),
    )
    .await;
    let (_, sent) = call(
        &server,
        Method::POST,
        "/channels/messaging/club/message",
        &user_token("owner"),
        Some(json!({"message": {"text": "the owner's"}})),
    )
    .await;
    let message_id = sent["message"]["id"].as_str().expect("sent").to_owned();

    // A non-member cannot read a messaging channel.
    let read = call(
        &server,
        Method::POST,
        "/channels/messaging/club/query",
        &user_token("stranger"),
        Some(json!({})),
    )
    .await;
    assert_refused(&read, "read-channel");

    // A member can neither edit nor delete someone else's message.
    let edit = call(
        &server,
        Method::POST,
        &format!("/messages/{message_id}"),
        &user_token("member"),
        Some(json!({"message": {"text": "rewritten"}})),
    )
    .await;
    assert_refused(&edit, "update-message");
    let delete = call(
        &server,
        Method::DELETE,
        &format!("/messages/{message_id}"),
        &user_token("member"),
        None,
    )
    .await;
    assert_refused(&delete, "delete-message");
    let (_, kept) = call(
        &server,
        Method::GET,
        &format!("/messages/{message_id}"),
        &server_token(),
        None,
    )
    .await;
    assert_eq!(kept["message"]["text"], "the owner's");
    assert_eq!(kept["message"]["type"], "regular");

    // Users cannot give themselves another role, by upsert or by partial update.
    let upsert = call(
        &server,
        Method::POST,
        "/users",
        &user_token("member"),
        Some(json!({"users": {"member": {"id": "member", "role": "admin"}}})),
    )
    .await;
    assert_refused(&upsert, "role");
    let partial = call(
        &server,
        Method::PATCH,
        "/users",
        &user_token("member"),
        Some(json!({"users": [{"id": "member", "set": {"role": "admin"}}]})),
    )
    .await;
    assert_refused(&partial, "role");
    // Sending their current role back unchanged is fine (SDKs echo the user object).
    let (status, same) = call(
        &server,
        Method::POST,
        "/users",
        &user_token("member"),
        Some(json!({"users": {"member": {"id": "member", "role": "user", "nick": "m"}}})),
    )
    .await;
    assert_eq!(status, 201, "{same}");
    assert_eq!(same["users"]["member"]["role"], "user");

    // A plain member may not add members (update-channel-members is only the owner's).
    let add = call(
        &server,
        Method::POST,
        "/channels/messaging/club",
        &user_token("member"),
        Some(json!({"add_members": ["stranger"]})),
    )
    .await;
    assert_refused(&add, "update-channel-members");

    // Guests cannot create messaging channels.
    let guest_create = call(
        &server,
        Method::POST,
        "/channels/messaging/guest-room/query",
        &user_token("visitor"),
        Some(json!({"data": {"members": ["visitor"]}})),
    )
    .await;
    assert_refused(&guest_create, "create-channel");
    let (status, _) = call(
        &server,
        Method::POST,
        "/channels/messaging/guest-room/query",
        &server_token(),
        Some(json!({"data": {"created_by_id": "owner"}, "state": false})),
    )
    .await;
    assert_eq!(
        status, 201,
        "the refused channel was not created, so this creates it"
    );
}

#[tokio::test]
async fn roles_and_permissions_are_served_server_side() {
    use reqwest::Method;
    let server = start();
    let admin = server_token();
    let (status, listed) = call(&server, Method::GET, "/roles", &admin, None).await;
    assert_eq!(status, 200, "{listed}");
    let names: Vec<&str> = listed["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for built_in in [
        "admin",
        "user",
        "guest",
        "anonymous",
        "moderator",
        "channel_member",
        "channel_moderator",
    ] {
        assert!(
            names.contains(&built_in),
            "{built_in} missing from {names:?}"
        );
    }
    assert!(listed["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .all(|r| r["custom"] == false && r["scopes"].is_array() && r["created_at"].is_string()));

    call(
        &server,
        Method::POST,
        "/users",
        &admin,
        Some(json!({"users": {"agent": {"id": "agent"}}})),
    )
    .await;
    assert_refused(
        &call(&server, Method::GET, "/roles", &user_token("agent"), None).await,
        "server-side",
    );
    assert_refused(
        &call(
            &server,
            Method::POST,
            "/roles",
            &user_token("agent"),
            Some(json!({"name": "sneaky"})),
        )
        .await,
        "server-side",
    );

    let (status, created) = call(
        &server,
        Method::POST,
        "/roles",
        &admin,
        Some(json!({"name": "special_agent"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["role"]["name"], "special_agent");
    assert_eq!(created["role"]["custom"], true);
    for bad in [
        json!({"name": "special_agent"}),
        json!({"name": "admin"}),
        json!({"name": "has space"}),
        json!({"name": "r".repeat(65)}),
        json!({}),
    ] {
        let (status, body) = call(&server, Method::POST, "/roles", &admin, Some(bad.clone())).await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!(4)),
            "{bad}: {body}"
        );
    }
    // The app settings do not show the roles' bookkeeping.
    let (_, app) = call(&server, Method::GET, "/app", &admin, None).await;
    assert!(app["app"].get("custom_roles").is_none());

    // A user can be given the custom role only once it exists.
    let (status, body) = call(
        &server,
        Method::POST,
        "/users",
        &admin,
        Some(json!({"users": {"agent": {"id": "agent", "role": "no_such_role"}}})),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (400, json!(4)), "{body}");
    let (status, body) = call(
        &server,
        Method::POST,
        "/users",
        &admin,
        Some(json!({"users": {"agent": {"id": "agent", "role": "special_agent"}}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["users"]["agent"]["role"], "special_agent");
    // Without grants the role cannot even create a channel.
    assert_refused(
        &call(
            &server,
            Method::POST,
            "/channels/messaging/hq/query",
            &user_token("agent"),
            Some(json!({"data": {"members": ["agent"]}})),
        )
        .await,
        "create-channel",
    );
    let (_, listed) = call(&server, Method::GET, "/roles", &admin, None).await;
    let custom: Vec<&Value> = listed["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter(|r| r["custom"] == true)
        .collect();
    assert_eq!(custom.len(), 1);
    assert_eq!(custom[0]["name"], "special_agent");
    assert_eq!(custom[0]["scopes"], json!([]));

    // Held roles, built-in roles and unknown roles are not deleted.
    let held = call(
        &server,
        Method::DELETE,
        "/roles/special_agent",
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (held.0, held.1["code"].clone()),
        (400, json!(4)),
        "{}",
        held.1
    );
    let built_in = call(&server, Method::DELETE, "/roles/admin", &admin, None).await;
    assert_eq!((built_in.0, built_in.1["code"].clone()), (400, json!(4)));
    call(
        &server,
        Method::PATCH,
        "/users",
        &admin,
        Some(json!({"users": [{"id": "agent", "set": {"role": "user"}}]})),
    )
    .await;
    let (status, body) = call(
        &server,
        Method::DELETE,
        "/roles/special_agent",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let gone = call(
        &server,
        Method::DELETE,
        "/roles/special_agent",
        &admin,
        None,
    )
    .await;
    assert_eq!((gone.0, gone.1["code"].clone()), (404, json!(16)));

    // Permissions: the catalogue, one by id, unknown ids, and no custom ones.
    let (status, permissions) = call(&server, Method::GET, "/permissions", &admin, None).await;
    assert_eq!(status, 200);
    let all = permissions["permissions"].as_array().expect("permissions");
    let ids: Vec<&str> = all.iter().filter_map(|p| p["id"].as_str()).collect();
    for id in [
        "create-message",
        "update-message-owner",
        "skip-channel-cooldown",
        "use-frozen-channel",
        "mute-user",
    ] {
        assert!(ids.contains(&id), "{id} missing");
    }
    let (status, one) = call(
        &server,
        Method::GET,
        "/permissions/delete-message-owner",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(one["permission"]["action"], "DeleteMessage");
    assert_eq!(one["permission"]["owner"], true);
    assert_eq!(one["permission"]["level"], "channel");
    let unknown = call(
        &server,
        Method::GET,
        "/permissions/fly-to-moon",
        &admin,
        None,
    )
    .await;
    assert_eq!((unknown.0, unknown.1["code"].clone()), (404, json!(16)));
    let custom = call(
        &server,
        Method::POST,
        "/permissions",
        &admin,
        Some(json!({"id": "x", "name": "x", "action": "CreateMessage", "condition": {}})),
    )
    .await;
    assert_eq!((custom.0, custom.1["code"].clone()), (400, json!(4)));
}

#[tokio::test]
async fn slow_mode_refuses_a_users_second_message_within_the_cooldown() {
    use reqwest::Method;
    let server = start();
    let users = json!({"users": {
        "owner": {"id": "owner"}, "chatty": {"id": "chatty"}, "boss": {"id": "boss", "role": "admin"},
        "keeper": {"id": "keeper"}
    }});
    call(
        &server,
        Method::POST,
        "/users",
        &server_token(),
        Some(users),
    )
    .await;
    let create = json!({"data": {"created_by_id": "owner",
        "members": ["owner", "chatty", "boss", "keeper"]}});
    call(
        &server,
        Method::POST,
        "/channels/messaging/slow/query",
        &server_token(),
        Some(create),
    )
    .await;
    let (status, body) = call(
        &server,
        Method::POST,
        "/channels/messaging/slow",
        &server_token(),
        Some(json!({"add_moderators": ["keeper"], "cooldown": 2})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["channel"]["cooldown"], 2);
    let send = |who: &'static str, text: &'static str| {
        let server = &server;
        async move {
            call(
                server,
                Method::POST,
                "/channels/messaging/slow/message",
                &user_token(who),
                Some(json!({"message": {"text": text}})),
            )
            .await
        }
    };
    assert_eq!(send("chatty", "first").await.0, 201);
    let (status, refused) = send("chatty", "too soon").await;
    assert_eq!(
        (status, refused["code"].clone()),
        (403, json!(60)),
        "{refused}"
    );
    assert!(refused["message"]
        .as_str()
        .unwrap_or_default()
        .contains("slow mode"));
    // Others have their own cooldown; admins and channel moderators skip it.
    assert_eq!(send("owner", "mine").await.0, 201);
    for exempt in ["boss", "keeper"] {
        assert_eq!(send(exempt, "one").await.0, 201);
        assert_eq!(
            send(exempt, "two").await.0,
            201,
            "{exempt} skips the cooldown"
        );
    }
    // Server-side sends are not limited.
    for text in ["server one", "server two"] {
        let (status, body) = call(
            &server,
            Method::POST,
            "/channels/messaging/slow/message",
            &server_token(),
            Some(json!({"message": {"text": text, "user_id": "chatty"}})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(send("chatty", "after the wait").await.0, 201);
    let (_, page) = call(
        &server,
        Method::POST,
        "/channels/messaging/slow/query",
        &server_token(),
        Some(json!({})),
    )
    .await;
    let texts: Vec<&str> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(!texts.contains(&"too soon"));
    assert!(texts.contains(&"after the wait"));
}

/// v2 answers omit nulls (custom data is the caller's and kept as it is).
fn assert_no_nulls(value: &Value) {
    match value {
        Value::Null => panic!("a null in a v2 answer"),
        Value::Array(items) => items.iter().for_each(assert_no_nulls),
        Value::Object(fields) => fields
            .iter()
            .filter(|(key, _)| key.as_str() != "custom")
            .for_each(|(_, v)| assert_no_nulls(v)),
        _ => {}
    }
}

/// stream-py's server tokens: no claims at all.
fn empty_claims_token() -> String {
    token(json!({}), SECRET)
}

#[tokio::test]
async fn v2_layout_nests_custom_data_and_answers_times_in_nanoseconds() {
    let server = start();
    let admin = empty_claims_token();
    let (status, body) = call(
        &server,
        reqwest::Method::POST,
        "/api/v2/users",
        &admin,
        Some(json!({"users": {"v2-ann": {"id": "v2-ann", "name": "Ann", "custom": {"team": "blue"}}}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let user = &body["users"]["v2-ann"];
    assert_eq!(
        (user["name"].clone(), user["custom"].clone()),
        (json!("Ann"), json!({"team": "blue"}))
    );
    let nanos = user["created_at"]
        .as_i64()
        .expect("created_at in nanoseconds");
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    assert!((now - nanos).abs() < 120_000_000_000, "{nanos} is not now");

    let (status, body) = call(
        &server,
        reqwest::Method::POST,
        "/api/v2/chat/channels/messaging/v2-general/query",
        &admin,
        Some(
            json!({"data": {"created_by_id": "v2-ann", "custom": {"topic": "rust"},
                              "members": [{"user_id": "v2-ann", "custom": {"hat": "top"}}]}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["channel"]["custom"], json!({"topic": "rust"}));
    assert_eq!(body["members"][0]["custom"], json!({"hat": "top"}));
    assert!(body["channel"]["created_at"].is_i64());
    assert_no_nulls(&body);

    // The same channel on the root layout: one service, two wire formats.
    let (status, root) = call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/v2-general/query",
        &server_token(),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{root}");
    assert_eq!(root["channel"]["topic"], "rust");
    assert!(root["channel"]["created_at"].is_string());

    let payload =
        urlencode(&json!({"filter_conditions": {"team": "blue"}, "limit": null}).to_string());
    let (status, found) = call(
        &server,
        reqwest::Method::GET,
        &format!("/api/v2/users?payload={payload}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["users"][0]["id"], "v2-ann");
}

#[tokio::test]
async fn v2_operations_eddy_lacks_are_code_4_and_errors_keep_their_codes() {
    let server = start();
    let admin = empty_claims_token();
    for (method, path) in [
        (reqwest::Method::POST, "/api/v2/polls"),
        (
            reqwest::Method::GET,
            "/api/v2/chat/channels/messaging/general/draft",
        ),
        (reqwest::Method::POST, "/api/v2/moderation/review_queue"),
        (reqwest::Method::GET, "/api/v2/no-such-thing"),
    ] {
        let (status, body) = call(&server, method.clone(), path, &admin, Some(json!({}))).await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!(4)),
            "{method} {path}: {body}"
        );
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("not supported"),
            "{body}"
        );
        assert_eq!(body["details"], json!([]));
    }
    let (status, body) = call(
        &server,
        reqwest::Method::PATCH,
        "/api/v2/app",
        &user_token("somebody"),
        Some(json!({})),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (403, json!(17)), "{body}");
    let (status, body) = call(
        &server,
        reqwest::Method::GET,
        "/api/v2/tasks/00000000-0000-0000-0000-000000000000",
        &admin,
        None,
    )
    .await;
    assert_eq!((status, body["code"].clone()), (404, json!(16)), "{body}");
}

/// Every operation of the v2 table reaches a root route: none answers "not supported", "not an
/// endpoint" or a refused method, whatever the (empty) request makes of it.
#[tokio::test]
async fn every_v2_operation_reaches_its_root_route() {
    let server = start();
    let admin = empty_claims_token();
    for operation in eddy_api::v2::OPERATIONS {
        let path = operation
            .path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = reqwest::Method::from_bytes(operation.method.as_bytes()).expect("method");
        let (status, body) = call(&server, method, &path, &admin, Some(json!({}))).await;
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            status != 405
                && status < 500
                && !message.contains("not supported by this server (eddy")
                && !message.contains("is not an endpoint"),
            "{} {path}: {status} {body}",
            operation.method
        );
    }
}

/// A `nats-server` of the test's own, so the test can take it down; `None` (test skipped) when
/// the binary is missing (`EDDY_NATS_SERVER_BIN` names it).
struct PrivateNats {
    child: Child,
    port: u16,
}

impl PrivateNats {
    fn start(port: u16) -> Option<PrivateNats> {
        let binary =
            std::env::var("EDDY_NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".to_owned());
        match Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => Some(PrivateNats { child, port }),
            Err(error) => {
                eprintln!("skipping: cannot start {binary} ({error}); set EDDY_NATS_SERVER_BIN");
                None
            }
        }
    }

    async fn wait_until_listening(&self) {
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("private nats-server on port {} did not start", self.port);
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One value of `GET /metrics`.
async fn metric(server: &Server, name: &str) -> Option<u64> {
    let text = reqwest::get(format!("{}/metrics", server.url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.parse().ok())
}

async fn wait_for_metric(server: &Server, name: &str, wanted: u64) {
    for _ in 0..400 {
        if metric(server, name).await == Some(wanted) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never became {wanted}");
}

#[tokio::test]
async fn rest_keeps_persisting_while_nats_is_down_and_events_resume_after() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(nats) = PrivateNats::start(port) else {
        return;
    };
    nats.wait_until_listening().await;
    let url = format!("nats://127.0.0.1:{port}");
    let server = start_with(&["--bus", &url]);
    assert_eq!(metric(&server, "eddy_bus_connected").await, Some(1));
    assert_eq!(metric(&server, "eddy_websocket_connections").await, Some(0));
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        "/users",
        &server_token(),
        Some(json!({"users": {"alice": {"id": "alice"}, "bob": {"id": "bob"}}})),
    )
    .await;
    assert_eq!(status, 201);
    let (mut bob, hello) = connect(&server, "bob", &user_token("bob")).await;
    let bob_connection = hello["connection_id"].as_str().expect("id").to_owned();
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        &format!("/channels/messaging/outage/query?connection_id={bob_connection}"),
        &user_token("bob"),
        Some(json!({"data": {"members": ["alice", "bob"]}, "watch": true})),
    )
    .await;
    assert_eq!(status, 201);
    let send = |text: &'static str| {
        let server = &server;
        async move {
            call(
                server,
                reqwest::Method::POST,
                "/channels/messaging/outage/message",
                &user_token("alice"),
                Some(json!({"message": {"text": text}})),
            )
            .await
        }
    };
    assert_eq!(send("before").await.0, 201);
    assert_eq!(
        next_of(&mut bob, "message.new").await["message"]["text"],
        "before"
    );

    // NATS goes away: the node says so, and sending still succeeds and persists.
    drop(nats);
    wait_for_metric(&server, "eddy_bus_connected", 0).await;
    let (status, answer) = send("during").await;
    assert_eq!(status, 201, "{answer}");
    let (status, state) = call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/outage/query",
        &user_token("alice"),
        Some(json!({"state": true})),
    )
    .await;
    assert_eq!(status, 201);
    let texts: Vec<&str> = state["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["before", "during"]);

    // NATS is back on the same address: the node reconnects, says so, and events flow again.
    let nats = PrivateNats::start(port).expect("nats-server restarts");
    nats.wait_until_listening().await;
    wait_for_metric(&server, "eddy_bus_connected", 1).await;
    assert!(metric(&server, "eddy_bus_reconnects_total").await >= Some(1));
    assert!(metric(&server, "eddy_bus_disconnects_total").await >= Some(1));
    assert_eq!(send("after").await.0, 201);
    let mut seen = Vec::new();
    while !seen.contains(&"after".to_owned()) {
        let event = next_of(&mut bob, "message.new").await;
        seen.push(
            event["message"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert!(
        !seen.contains(&"before".to_owned()),
        "nothing is delivered twice: {seen:?}"
    );
}

#[tokio::test]
async fn acknowledged_messages_survive_a_sigkill_exactly_once_on_sqlite() {
    crash_while_sending(&[]).await;
}

/// A schema of the test's own on the local PostgreSQL (`EDDY_TEST_POSTGRES_URL`), dropped after.
struct PostgresSchema {
    base: String,
    name: String,
}

impl PostgresSchema {
    fn psql(base: &str, sql: &str) -> bool {
        Command::new("psql")
            .args([base, "-v", "ON_ERROR_STOP=1", "-qc", sql])
            .env("PGOPTIONS", "-c client_min_messages=warning")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// `None` (test skipped) when PostgreSQL cannot be reached.
    fn create() -> Option<PostgresSchema> {
        let base = std::env::var("EDDY_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let name = format!("eddy_itest_{}_{}", std::process::id(), uuid_like());
        if !Self::psql(&base, &format!("CREATE SCHEMA \"{name}\"")) {
            eprintln!("skipping: cannot create a schema on {base}");
            return None;
        }
        Some(PostgresSchema { base, name })
    }

    fn url(&self) -> String {
        let separator = if self.base.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.base, self.name
        )
    }
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        Self::psql(
            &self.base,
            &format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name),
        );
    }
}

#[tokio::test]
async fn acknowledged_messages_survive_a_sigkill_exactly_once_on_postgres() {
    let Some(schema) = PostgresSchema::create() else {
        return;
    };
    crash_while_sending(&["--database", &schema.url()]).await;
}

/// Senders post with their own ids, the server is SIGKILLed under them and restarted on the same
/// storage: every acknowledged message is there exactly once, and retries of unanswered ones
/// are idempotent.
async fn crash_while_sending(storage: &[&str]) {
    const SENDERS: usize = 8;
    let server = start_with(storage);
    let users: serde_json::Map<String, Value> = (0..SENDERS)
        .map(|i| (format!("s{i}"), json!({"id": format!("s{i}")})))
        .collect();
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        "/users",
        &server_token(),
        Some(json!({ "users": users })),
    )
    .await;
    assert_eq!(status, 201);
    let members: Vec<String> = (0..SENDERS).map(|i| format!("s{i}")).collect();
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/durable/query",
        &server_token(),
        Some(json!({"data": {"created_by_id": "s0", "members": members}})),
    )
    .await;
    assert_eq!(status, 201);

    // Senders post with their own message ids until the server dies under them.
    let url = server.url.clone();
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut acknowledged = Vec::new();
                let mut unanswered = Vec::new();
                for n in 0.. {
                    let id = format!("s{i}-m{n}");
                    let sent = client
                        .post(format!(
                            "{url}/channels/messaging/durable/message?api_key={KEY}"
                        ))
                        .header("Authorization", user_token(&format!("s{i}")))
                        .header("stream-auth-type", "jwt")
                        .json(&json!({"message": {"id": id, "text": format!("message {n}")}}))
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status().as_u16() == 201 => acknowledged.push(id),
                        Ok(response) => panic!("send refused: {}", response.status()),
                        Err(_) => {
                            unanswered.push(id);
                            break;
                        }
                    }
                }
                (acknowledged, unanswered)
            })
        })
        .collect();
    let nanos = uuid_like() % 700;
    tokio::time::sleep(Duration::from_millis(400 + u64::try_from(nanos).unwrap())).await;
    let data = server.crash();
    let mut acknowledged = Vec::new();
    let mut unanswered = Vec::new();
    for sender in senders {
        let (acked, lost) = sender.await.unwrap();
        acknowledged.extend(acked);
        unanswered.extend(lost);
    }
    assert!(
        acknowledged.len() >= SENDERS,
        "the senders got going before the crash"
    );

    let server = start_in(data, storage);
    // A client that got no answer retries with the same id: stored once either way.
    for id in &unanswered {
        let sender = id.split('-').next().unwrap();
        let (status, answer) = call(
            &server,
            reqwest::Method::POST,
            "/channels/messaging/durable/message",
            &user_token(sender),
            Some(json!({"message": {"id": id, "text": "retry"}})),
        )
        .await;
        assert!(
            status == 201
                || answer["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("already exists")),
            "retry of {id}: {status} {answer}"
        );
    }
    // Every acknowledged message is there, exactly once.
    let mut stored = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = match &before {
            Some(id) => json!({"state": true, "messages": {"limit": 100, "id_lt": id}}),
            None => json!({"state": true, "messages": {"limit": 100}}),
        };
        let (status, state) = call(
            &server,
            reqwest::Method::POST,
            "/channels/messaging/durable/query",
            &server_token(),
            Some(page),
        )
        .await;
        assert_eq!(status, 201, "{state}");
        let ids: Vec<String> = state["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect();
        if ids.is_empty() {
            break;
        }
        before = ids.first().cloned();
        stored.extend(ids);
    }
    let distinct: std::collections::HashSet<&String> = stored.iter().collect();
    assert_eq!(distinct.len(), stored.len(), "a message is stored twice");
    for id in acknowledged.iter().chain(&unanswered) {
        assert!(distinct.contains(id), "message {id} was lost");
    }
    assert_eq!(stored.len(), acknowledged.len() + unanswered.len());
}

/// A token with a chosen header and payload and a literal signature part.
fn forged_token(header: Value, payload: Value, signature: &str) -> String {
    use base64::Engine;
    let encode = |value: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string().as_bytes())
    };
    format!("{}.{}.{signature}", encode(&header), encode(&payload))
}

/// One REST request with the given auth headers (`None` leaves a header out).
async fn raw_call(
    server: &Server,
    method: reqwest::Method,
    path_and_query: &str,
    auth_type: Option<&str>,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request =
        reqwest::Client::new().request(method, format!("{}{path_and_query}", server.url));
    if let Some(auth_type) = auth_type {
        request = request.header("stream-auth-type", auth_type);
    }
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

#[tokio::test]
async fn auth_attack_matrix() {
    let server = start();
    let now = chrono::Utc::now().timestamp();
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        "/users",
        &server_token(),
        Some(json!({"users": {"alice": {"id": "alice"}}})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/fort/query",
        &server_token(),
        Some(json!({"data": {"created_by_id": "alice", "members": ["alice"]}})),
    )
    .await;
    assert_eq!(status, 201);
    let good = user_token("alice");
    let (head, rest) = good.split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let tampered = format!(
        "{head}.{}.{signature}",
        forged_token(json!({}), json!({"user_id": "admin"}), "")
            .split('.')
            .nth(1)
            .unwrap()
    );
    let read = format!("/channels/messaging/fort/query?api_key={KEY}");
    // (attack, path, stream-auth-type, Authorization, expected status, expected code)
    type Attack<'a> = (&'a str, String, Option<&'a str>, Option<String>, u16, i64);
    let attacks: Vec<Attack> = vec![
        // Not an HS256 token at all: malformed (5), never accepted.
        (
            "alg none",
            read.clone(),
            Some("jwt"),
            Some(forged_token(
                json!({"alg": "none", "typ": "JWT"}),
                json!({"user_id": "alice"}),
                "",
            )),
            401,
            5,
        ),
        (
            "another app's secret",
            read.clone(),
            Some("jwt"),
            Some(token(
                json!({"user_id": "alice"}),
                "another-apps-secret-0123456789abcdef",
            )),
            401,
            43,
        ),
        (
            "tampered payload",
            read.clone(),
            Some("jwt"),
            Some(tampered),
            401,
            43,
        ),
        (
            "expired",
            read.clone(),
            Some("jwt"),
            Some(token(json!({"user_id": "alice", "exp": now - 60}), SECRET)),
            401,
            40,
        ),
        (
            "not valid yet (nbf)",
            read.clone(),
            Some("jwt"),
            Some(token(
                json!({"user_id": "alice", "nbf": now + 3600}),
                SECRET,
            )),
            401,
            41,
        ),
        (
            "issued in the future (iat)",
            read.clone(),
            Some("jwt"),
            Some(token(
                json!({"user_id": "alice", "iat": now + 3600}),
                SECRET,
            )),
            401,
            42,
        ),
        ("no token", read.clone(), Some("jwt"), None, 401, 5),
        (
            "garbage token",
            read.clone(),
            Some("jwt"),
            Some("not.a.jwt".into()),
            401,
            5,
        ),
        (
            "user token on a server-only endpoint",
            format!("/channeltypes?api_key={KEY}"),
            Some("jwt"),
            Some(good.clone()),
            403,
            17,
        ),
        (
            "missing api_key",
            "/channels/messaging/fort/query".into(),
            Some("jwt"),
            Some(good.clone()),
            401,
            2,
        ),
        (
            "unknown api_key",
            "/channels/messaging/fort/query?api_key=nope".into(),
            Some("jwt"),
            Some(good.clone()),
            401,
            2,
        ),
        (
            "anonymous user writing",
            format!("/channels/messaging/fort/message?api_key={KEY}"),
            Some("anonymous"),
            None,
            403,
            17,
        ),
    ];
    for (name, path, auth_type, attack_token, status, code) in attacks {
        let body = if path.contains("/message?") {
            json!({"message": {"text": "let me in"}})
        } else {
            json!({"state": true})
        };
        let (got_status, answer) = raw_call(
            &server,
            reqwest::Method::POST,
            &path,
            auth_type,
            attack_token.as_deref(),
            Some(body),
        )
        .await;
        assert_eq!(
            (got_status, answer["code"].as_i64()),
            (status, Some(code)),
            "{name}: {answer}"
        );
    }
    // Naming another user in the body changes nothing for an anonymous caller.
    let (status, answer) = raw_call(
        &server,
        reqwest::Method::POST,
        &format!("/channels/messaging/fort/message?api_key={KEY}"),
        Some("anonymous"),
        None,
        Some(json!({"message": {"text": "as alice", "user_id": "alice"}})),
    )
    .await;
    assert_eq!(
        (status, answer["code"].as_i64()),
        (403, Some(17)),
        "{answer}"
    );
    // The genuine token still works.
    let (status, answer) = raw_call(
        &server,
        reqwest::Method::POST,
        &read,
        Some("jwt"),
        Some(&good),
        Some(json!({"state": true})),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
}

// ---- video coordinator ----

/// Opens `/video/connect` and sends the auth frame as stream-video-js does; returns the first answer.
async fn connect_video(server: &Server, user: &str, token: &str) -> (Socket, Value) {
    let url = format!(
        "{}/video/connect?api_key={KEY}&stream-auth-type=jwt",
        server.url.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect");
    let auth = json!({"token": token, "products": ["video"], "user_details": {"id": user, "name": "Bob", "custom": {"hat": "red"}}});
    socket
        .send(Message::Text(auth.to_string()))
        .await
        .expect("auth sent");
    let first = next_json(&mut socket).await;
    (socket, first)
}

#[tokio::test]
async fn coordinator_socket_authenticates_answers_health_checks_and_delivers_call_events() {
    let server = start();
    let server_token = token(json!({}), SECRET);
    let bob_token = token(json!({"user_id": "bob"}), SECRET);
    let (mut socket, first) = connect_video(&server, "bob", &bob_token).await;
    assert_eq!(first["type"], "connection.ok");
    assert_eq!(first["me"]["id"], "bob");
    let connection_id = first["connection_id"].as_str().unwrap().to_owned();
    assert!(!connection_id.is_empty());

    // JS sends health checks as a JSON array.
    socket
        .send(Message::Text(
            json!([{"type": "health.check", "client_id": "bob--1"}]).to_string(),
        ))
        .await
        .unwrap();
    let health = next_of(&mut socket, "health.check").await;
    assert_eq!(health["connection_id"], connection_id);

    // A server creates a call with bob as a member and rings: bob hears both, times in RFC 3339.
    let (status, created) = call(
        &server,
        reqwest::Method::POST,
        "/api/v2/video/call/default/standup",
        &server_token,
        Some(json!({"ring": true, "data": {"created_by_id": "alice", "members": [{"user_id": "alice"}, {"user_id": "bob", "role": "host"}], "custom": {"topic": "daily"}}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created["call"]["created_at"].is_i64(),
        "ns times on /api/v2"
    );
    assert_eq!(created["call"]["custom"]["topic"], "daily");
    let event = next_of(&mut socket, "call.created").await;
    assert_eq!(event["call_cid"], "default:standup");
    assert!(
        event["call"]["created_at"].is_string(),
        "RFC 3339 times on the socket"
    );
    let ring = next_of(&mut socket, "call.ring").await;
    assert_eq!(ring["user"]["id"], "alice");
    assert_eq!(ring["members"][0]["user_id"], "bob");

    // On /video bob reads the call with his connection and sees his membership and capabilities.
    let (status, state) = call(
        &server,
        reqwest::Method::GET,
        &format!("/video/call/default/standup?connection_id={connection_id}"),
        &bob_token,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["membership"]["role"], "host");
    assert!(state["call"]["created_at"].is_string());
    let caps: Vec<&str> = state["own_capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        caps.contains(&"update-call") && caps.contains(&"join-call"),
        "{caps:?}"
    );

    // A user with no grant for it (blocking is for the call's owner) is refused with code 17.
    let carol_token = token(json!({"user_id": "carol"}), SECRET);
    let (status, refused) = call(
        &server,
        reqwest::Method::POST,
        "/video/call/default/standup/block",
        &carol_token,
        Some(json!({"user_id": "dave"})),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_i64()),
        (403, Some(17)),
        "{refused}"
    );
    // A call token's role grants it for that call only.
    let carol_host = token(
        json!({"user_id": "carol", "call_cids": ["default:standup"], "role": "admin"}),
        SECRET,
    );
    let (status, blocked) = call(
        &server,
        reqwest::Method::POST,
        "/video/call/default/standup/block",
        &carol_host,
        Some(json!({"user_id": "dave"})),
    )
    .await;
    assert_eq!(status, 201, "{blocked}");
    assert_eq!(
        next_of(&mut socket, "call.blocked_user").await["user"]["id"],
        "dave"
    );
    let (status, ended) = call(
        &server,
        reqwest::Method::POST,
        "/video/call/default/standup/mark_ended",
        &carol_token,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{ended}");
    let event = next_of(&mut socket, "call.ended").await;
    assert!(event["call"]["ended_at"].is_string());
}

#[tokio::test]
async fn join_needs_a_media_server_and_returns_credentials_with_one() {
    let bob_token = token(json!({"user_id": "bob"}), SECRET);
    let body =
        json!({"create": true, "location": "auto", "data": {"members": [{"user_id": "bob"}]}});
    let without = start();
    let (status, error) = call(
        &without,
        reqwest::Method::POST,
        "/video/call/default/c1/join",
        &bob_token,
        Some(body.clone()),
    )
    .await;
    assert_eq!((status, error["code"].as_i64()), (400, Some(4)), "{error}");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("no media server"));

    let with = start_with(&["--sfu-url", "http://127.0.0.1:3031"]);
    let (status, joined) = call(
        &with,
        reqwest::Method::POST,
        "/video/call/default/c1/join",
        &bob_token,
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{joined}");
    assert_eq!(joined["created"], true);
    assert_eq!(
        joined["credentials"]["server"]["url"],
        "http://127.0.0.1:3031"
    );
    assert_eq!(
        joined["credentials"]["server"]["ws_endpoint"],
        "ws://127.0.0.1:3031/ws"
    );
    assert!(
        joined["credentials"]["token"]
            .as_str()
            .unwrap()
            .split('.')
            .count()
            == 3
    );
    let session = joined["call"]["current_session_id"].as_str().unwrap();
    assert!(!session.is_empty(), "joining starts a session");
    assert_eq!(joined["stats_options"]["reporting_interval_ms"], 0);

    // Blocked users cannot join.
    let server_token = token(json!({}), SECRET);
    let (status, _) = call(
        &with,
        reqwest::Method::POST,
        "/api/v2/video/call/default/c1/block",
        &server_token,
        Some(json!({"user_id": "bob"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, refused) = call(
        &with,
        reqwest::Method::POST,
        "/video/call/default/c1/join",
        &bob_token,
        Some(json!({"location": "auto"})),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_i64()),
        (403, Some(17)),
        "{refused}"
    );
}

#[tokio::test]
async fn a_postgres_restart_costs_no_acknowledged_write_and_needs_no_node_restart() {
    let Some(schema) = PostgresSchema::create() else {
        return;
    };
    // The node's connections carry a name of their own, so the test can cut exactly them, as a
    // PostgreSQL restart would.
    let application = schema.name.clone();
    let url = format!("{}&application_name={application}", schema.url());
    let server = start_with(&["--database", &url]);
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/restart/query",
        &server_token(),
        Some(json!({"data": {"created_by_id": "alice", "members": ["alice"]}})),
    )
    .await;
    assert_eq!(status, 201);
    let send = |id: &'static str| {
        let server = &server;
        async move {
            call(
                server,
                reqwest::Method::POST,
                "/channels/messaging/restart/message",
                &user_token("alice"),
                Some(json!({"message": {"id": id, "text": id}})),
            )
            .await
        }
    };
    assert_eq!(send("before-restart").await.0, 201);
    assert!(PostgresSchema::psql(
        &schema.base,
        &format!(
            "DO $$ BEGIN IF (SELECT count(*) FROM pg_stat_activity WHERE application_name = '{application}') = 0 \
             THEN RAISE EXCEPTION 'the node has no connections to cut'; END IF; END $$; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{application}'"
        )
    ), "the node's connections were cut");
    // Every pooled connection is gone; the next requests are served on new ones.
    let (status, answer) = send("after-restart").await;
    assert_eq!(status, 201, "{answer}");
    let (status, state) = call(
        &server,
        reqwest::Method::POST,
        "/channels/messaging/restart/query",
        &server_token(),
        Some(json!({"state": true})),
    )
    .await;
    assert_eq!(status, 201, "{state}");
    let ids: Vec<&str> = state["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, ["before-restart", "after-restart"]);
}
