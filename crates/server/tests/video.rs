//! Integration tests of the video coordinator: the real `eddy` binary on port 0, driven over raw REST (`/video`, `/api/v2/video`) and the coordinator WebSocket (`/video/connect`).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is the test failing

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "vtest-key";
const SECRET: &str = "vtest-secret-that-is-long-enough-0123456789";

struct Server {
    child: Child,
    url: String,
    data: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn start(extra: &[&str]) -> Server {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let data = std::env::temp_dir().join(format!("eddy-vtest-{}-{nanos}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
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
        if let Some(found) = line.expect("line").strip_prefix("EDDY_URL=") {
            url = found.to_owned();
            break;
        }
    }
    assert!(url.starts_with("http://127.0.0.1:"), "no URL printed");
    Server { child, url, data }
}

fn token(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

async fn request(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let separator = if path.contains('?') { '&' } else { '?' };
    let response = reqwest::Client::new()
        .request(
            method,
            format!("{}{path}{separator}api_key={KEY}", server.url),
        )
        .header("Authorization", token)
        .header("stream-auth-type", "jwt")
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

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

async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let event = next_json(socket).await;
        if event["type"] == kind {
            return event;
        }
    }
}

/// Opens `/video/connect` and sends the auth frame as stream-video-js does; returns the first answer.
async fn connect(server: &Server, user: &str, token: &str) -> (Socket, Value) {
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
    let server = start(&[]);
    let server_token = token(json!({}));
    let bob_token = token(json!({"user_id": "bob"}));
    let (mut socket, first) = connect(&server, "bob", &bob_token).await;
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
    let (status, created) = request(
        &server,
        reqwest::Method::POST,
        "/api/v2/video/call/default/standup",
        &server_token,
        json!({"ring": true, "data": {"created_by_id": "alice", "members": [{"user_id": "alice"}, {"user_id": "bob", "role": "host"}], "custom": {"topic": "daily"}}}),
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
    let (status, state) = request(
        &server,
        reqwest::Method::GET,
        &format!("/video/call/default/standup?connection_id={connection_id}"),
        &bob_token,
        json!({}),
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
    let carol_token = token(json!({"user_id": "carol"}));
    let (status, refused) = request(
        &server,
        reqwest::Method::POST,
        "/video/call/default/standup/block",
        &carol_token,
        json!({"user_id": "dave"}),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_i64()),
        (403, Some(17)),
        "{refused}"
    );
    // A call token's role grants it for that call only.
    let carol_host =
        token(json!({"user_id": "carol", "call_cids": ["default:standup"], "role": "admin"}));
    let (status, blocked) = request(
        &server,
        reqwest::Method::POST,
        "/video/call/default/standup/block",
        &carol_host,
        json!({"user_id": "dave"}),
    )
    .await;
    assert_eq!(status, 201, "{blocked}");
    assert_eq!(
        next_of(&mut socket, "call.blocked_user").await["user"]["id"],
        "dave"
    );
    let (status, ended) = request(
        &server,
        reqwest::Method::POST,
        "/video/call/default/standup/mark_ended",
        &carol_token,
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{ended}");
    let event = next_of(&mut socket, "call.ended").await;
    assert!(event["call"]["ended_at"].is_string());
}

#[tokio::test]
async fn join_needs_a_media_server_and_returns_credentials_with_one() {
    let bob_token = token(json!({"user_id": "bob"}));
    let body =
        json!({"create": true, "location": "auto", "data": {"members": [{"user_id": "bob"}]}});
    let without = start(&[]);
    let (status, error) = request(
        &without,
        reqwest::Method::POST,
        "/video/call/default/c1/join",
        &bob_token,
        body.clone(),
    )
    .await;
    assert_eq!((status, error["code"].as_i64()), (400, Some(4)), "{error}");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("no media server"));

    let with = start(&["--sfu-url", "http://127.0.0.1:3031"]);
    let (status, joined) = request(
        &with,
        reqwest::Method::POST,
        "/video/call/default/c1/join",
        &bob_token,
        body,
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
    let server_token = token(json!({}));
    let (status, _) = request(
        &with,
        reqwest::Method::POST,
        "/api/v2/video/call/default/c1/block",
        &server_token,
        json!({"user_id": "bob"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, refused) = request(
        &with,
        reqwest::Method::POST,
        "/video/call/default/c1/join",
        &bob_token,
        json!({"location": "auto"}),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_i64()),
        (403, Some(17)),
        "{refused}"
    );
}
