//! The multi-node bus: envelopes travel over one core-NATS subject; each node feeds its local subscribers from one NATS subscription.
//!
//! Every node, the publisher included, receives its events back from NATS, so one node and many share
//! one delivery path. Core NATS is at-most-once and keeps one connection's publish order, which is the
//! `Bus` contract. On the wire a message is `{"v":1,"envelope":{...}}` (serialised once per publish);
//! a message that does not decode (other version, garbage) is logged, counted and skipped.

use crate::{Bus, BusError, Envelope, Subscription};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// The wire format version this node writes and reads.
pub const WIRE_VERSION: u32 = 1;

/// Tuning for [`NatsBus::connect_with`]; [`Default`] suits a server.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// How long the first connect may take before startup fails.
    pub connect_timeout: Duration,
    /// Slots of the local broadcast channel that feeds this node's subscribers.
    pub local_capacity: usize,
    /// Messages async-nats buffers between `publish` and the socket (also while reconnecting).
    pub client_capacity: usize,
    /// How long a publish may wait for buffer space while connected.
    pub publish_timeout: Duration,
    /// How long a publish may wait for buffer space while disconnected (kept short: requests must not stall).
    pub publish_timeout_disconnected: Duration,
    /// Connection name shown by the NATS server (`nats server report connections`).
    pub name: String,
}

impl Default for NatsOptions {
    fn default() -> Self {
        NatsOptions {
            connect_timeout: Duration::from_secs(5),
            local_capacity: 65_536,
            client_capacity: 8_192,
            publish_timeout: Duration::from_secs(1),
            publish_timeout_disconnected: Duration::from_millis(20),
            name: "eddy".to_owned(),
        }
    }
}

/// A snapshot of the bus connection's health (NATS), for `/metrics` and logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BusHealth {
    /// True while the client is not connected to any server (async-nats keeps reconnecting).
    pub disconnected: bool,
    /// Successful connects after the first one.
    pub reconnects: u64,
    /// Connections lost.
    pub disconnects: u64,
    /// Messages on the subject that were not envelopes of a known version (skipped).
    pub decode_errors: u64,
    /// Publishes that failed (buffer full, payload too large, client closed).
    pub publish_failures: u64,
    /// Slow-consumer notices: the server or client dropped messages for this node.
    pub slow_consumer_events: u64,
    /// The last connection event (`"disconnected"`, `"connected"`, `"server error: ..."`) and when it happened.
    pub last_event: Option<String>,
    pub last_event_at: Option<DateTime<Utc>>,
}

/// Counters shared by the bus, its receive task and the connection event callback.
#[derive(Debug, Default)]
struct HealthCounters {
    ever_connected: AtomicBool,
    reconnects: AtomicU64,
    disconnects: AtomicU64,
    decode_errors: AtomicU64,
    publish_failures: AtomicU64,
    slow_consumer_events: AtomicU64,
    last_event: Mutex<Option<(String, DateTime<Utc>)>>,
}

impl HealthCounters {
    fn record(&self, event: &async_nats::Event) {
        match event {
            async_nats::Event::Connected => {
                if self.ever_connected.swap(true, Ordering::Relaxed) {
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("NATS bus reconnected");
                } else {
                    tracing::info!("NATS bus connected");
                }
            }
            async_nats::Event::Disconnected => {
                self.disconnects.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("NATS bus disconnected; reconnecting (events published meanwhile are buffered or dropped)");
            }
            async_nats::Event::SlowConsumer(sid) => {
                self.slow_consumer_events.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(sid, "NATS bus slow consumer; events dropped");
            }
            async_nats::Event::LameDuckMode => {
                tracing::warn!(
                    "NATS server entered lame duck mode; it will close the connection soon"
                );
            }
            async_nats::Event::Closed => tracing::warn!("NATS bus connection closed"),
            async_nats::Event::Draining => tracing::info!("NATS bus draining"),
            async_nats::Event::ServerError(error) => {
                tracing::warn!(%error, "NATS server error");
            }
            async_nats::Event::ClientError(error) => {
                tracing::warn!(%error, "NATS client error");
            }
        }
        let mut last = self.last_event.lock().unwrap_or_else(|e| e.into_inner());
        *last = Some((event.to_string(), Utc::now()));
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    v: u32,
    envelope: &'a Envelope,
}

#[derive(Deserialize)]
struct WireIn {
    v: u32,
    envelope: Envelope,
}

#[derive(Deserialize)]
struct WireVersion {
    v: u32,
}

/// Encodes an envelope in the current wire format.
fn encode(envelope: &Envelope) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&WireOut {
        v: WIRE_VERSION,
        envelope,
    })
}

/// Decodes one message; the error says why it was skipped.
fn decode(payload: &[u8]) -> Result<Envelope, String> {
    match serde_json::from_slice::<WireIn>(payload) {
        Ok(wire) if wire.v == WIRE_VERSION => Ok(wire.envelope),
        Ok(wire) => Err(format!("unsupported wire version {}", wire.v)),
        Err(error) => match serde_json::from_slice::<WireVersion>(payload) {
            Ok(wire) if wire.v != WIRE_VERSION => {
                Err(format!("unsupported wire version {}", wire.v))
            }
            _ => Err(error.to_string()),
        },
    }
}

/// The URL without credentials, for logs and error messages.
fn redact(url: &str) -> String {
    url.split(',')
        .map(|server| {
            let server = server.trim();
            match (server.find("://"), server.rfind('@')) {
                (Some(scheme), Some(at)) if at > scheme => {
                    format!("{}***@{}", &server[..scheme + 3], &server[at + 1..])
                }
                (None, Some(at)) => format!("***@{}", &server[at + 1..]),
                _ => server.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A subject every node of one cluster shares: dot-separated tokens, no wildcards or whitespace.
fn check_subject(subject: &str) -> Result<(), BusError> {
    let valid = !subject.is_empty()
        && subject.split('.').all(|token| {
            !token.is_empty()
                && token != "*"
                && token != ">"
                && !token.chars().any(|c| c.is_whitespace() || c.is_control())
        });
    if valid {
        Ok(())
    } else {
        Err(BusError::Unavailable(format!(
            "invalid NATS subject {subject:?}: use dot-separated tokens without wildcards or spaces, e.g. \"eddy.events\""
        )))
    }
}

/// The NATS backend of [`Bus`]. Dropping it stops the receive task and closes the connection.
pub struct NatsBus {
    client: async_nats::Client,
    subject: async_nats::Subject,
    sender: broadcast::Sender<Arc<Envelope>>,
    health: Arc<HealthCounters>,
    receiver_task: JoinHandle<()>,
    options: NatsOptions,
}

impl NatsBus {
    /// Connects with default options. `url` is one server or a comma-separated list
    /// (`nats://user:pass@host:4222,nats://other:4222`); `subject` names the cluster's event stream
    /// (e.g. `eddy.events`; give each cluster sharing a NATS server its own subject).
    pub async fn connect(url: &str, subject: &str) -> Result<NatsBus, BusError> {
        NatsBus::connect_with(url, subject, NatsOptions::default()).await
    }

    /// Connects, subscribes and waits until the server has registered the subscription, so envelopes
    /// published by anyone after this returns reach this node. Fails with [`BusError::Unavailable`]
    /// when no server answers within `options.connect_timeout`; later outages are retried forever.
    pub async fn connect_with(
        url: &str,
        subject: &str,
        options: NatsOptions,
    ) -> Result<NatsBus, BusError> {
        check_subject(subject)?;
        let servers: Vec<&str> = url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if servers.is_empty() {
            return Err(BusError::Unavailable("no NATS server URL given".to_owned()));
        }
        let shown = redact(url);
        let health = Arc::new(HealthCounters::default());
        let callback_health = health.clone();
        let connect_options = async_nats::ConnectOptions::new()
            .name(&options.name)
            .connection_timeout(options.connect_timeout)
            .client_capacity(options.client_capacity.max(1))
            .event_callback(move |event| {
                let health = callback_health.clone();
                async move { health.record(&event) }
            });
        let unavailable = |reason: String| {
            BusError::Unavailable(format!("cannot connect to NATS at {shown}: {reason}"))
        };
        let client = tokio::time::timeout(
            options.connect_timeout,
            connect_options.connect(servers.as_slice()),
        )
        .await
        .map_err(|_| unavailable(format!("no answer within {:?}", options.connect_timeout)))?
        .map_err(|error| unavailable(error.to_string()))?;

        let subject = async_nats::Subject::from(subject.to_owned());
        let subscriber = client
            .subscribe(subject.clone())
            .await
            .map_err(|error| unavailable(format!("subscribe failed: {error}")))?;
        // A server round trip after the SUB: once answered, the server routes every later publish here.
        round_trip(&client, options.connect_timeout)
            .await
            .map_err(|reason| unavailable(format!("subscription not confirmed: {reason}")))?;

        let (sender, _) = broadcast::channel(options.local_capacity.max(1));
        let receiver_task = tokio::spawn(receive(subscriber, sender.clone(), health.clone()));
        tracing::info!(url = %shown, subject = %subject, "NATS bus ready");
        Ok(NatsBus {
            client,
            subject,
            sender,
            health,
            receiver_task,
            options,
        })
    }

    /// The subject this bus publishes and subscribes on.
    pub fn subject(&self) -> &str {
        self.subject.as_str()
    }

    /// The connection's health right now.
    pub fn health(&self) -> BusHealth {
        let counters = &self.health;
        let last = counters
            .last_event
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (last_event, last_event_at) = match last {
            Some((event, at)) => (Some(event), Some(at)),
            None => (None, None),
        };
        BusHealth {
            disconnected: self.client.connection_state()
                != async_nats::connection::State::Connected,
            reconnects: counters.reconnects.load(Ordering::Relaxed),
            disconnects: counters.disconnects.load(Ordering::Relaxed),
            decode_errors: counters.decode_errors.load(Ordering::Relaxed),
            publish_failures: counters.publish_failures.load(Ordering::Relaxed),
            slow_consumer_events: counters.slow_consumer_events.load(Ordering::Relaxed),
            last_event,
            last_event_at,
        }
    }

    fn publish_failed(&self, reason: String) -> BusError {
        self.health.publish_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(subject = %self.subject, %reason, "NATS bus publish failed; event dropped");
        BusError::Unavailable(reason)
    }
}

impl Drop for NatsBus {
    fn drop(&mut self) {
        self.receiver_task.abort();
    }
}

/// Waits until the server has processed everything this client sent before (`flush` only drains the socket):
/// a request to a fresh inbox nobody listens on comes back as "no responders" after the server has
/// handled the earlier operations of this connection in order.
async fn round_trip(client: &async_nats::Client, limit: Duration) -> Result<(), String> {
    match tokio::time::timeout(limit, client.request(client.new_inbox(), "".into())).await {
        Err(_) => Err(format!("no answer within {limit:?}")),
        Ok(Err(error)) if error.kind() == async_nats::RequestErrorKind::NoResponders => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Ok(Ok(_)) => Ok(()),
    }
}

/// Decodes every message of the node's one NATS subscription into the local broadcast channel.
async fn receive(
    mut subscriber: async_nats::Subscriber,
    sender: broadcast::Sender<Arc<Envelope>>,
    health: Arc<HealthCounters>,
) {
    while let Some(message) = subscriber.next().await {
        match decode(&message.payload) {
            // No local subscriber is not an error: nobody on this node is listening.
            Ok(envelope) => {
                let _ = sender.send(Arc::new(envelope));
            }
            Err(reason) => {
                health.decode_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    subject = %message.subject,
                    bytes = message.payload.len(),
                    %reason,
                    "skipping undecodable message on the NATS bus"
                );
            }
        }
    }
    tracing::error!("NATS bus subscription ended; this node receives no more events");
}

#[async_trait::async_trait]
impl Bus for NatsBus {
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError> {
        let payload = encode(&envelope)
            .map_err(|error| self.publish_failed(format!("cannot encode envelope: {error}")))?;
        let connected = self.client.connection_state() == async_nats::connection::State::Connected;
        let wait = if connected {
            self.options.publish_timeout
        } else {
            self.options.publish_timeout_disconnected
        };
        // async-nats queues the message and batches writes; no flush per message.
        match tokio::time::timeout(
            wait,
            self.client.publish(self.subject.clone(), payload.into()),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(self.publish_failed(format!("NATS publish failed: {error}"))),
            Err(_) => Err(self.publish_failed(format!(
                "NATS publish buffer full ({}; waited {wait:?})",
                if connected {
                    "server not keeping up"
                } else {
                    "disconnected"
                }
            ))),
        }
    }

    fn subscribe(&self) -> Subscription {
        Subscription {
            receiver: self.sender.subscribe(),
        }
    }

    fn health(&self) -> Option<BusHealth> {
        Some(NatsBus::health(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Audience;
    use serde_json::json;

    const WAIT: Duration = Duration::from_secs(5);

    /// The test server (`EDDY_TEST_NATS_URL`, default 127.0.0.1:4222), or `None` when `EDDY_SKIP_NATS=1`.
    fn nats_url() -> Option<String> {
        if std::env::var("EDDY_SKIP_NATS").is_ok_and(|v| v == "1") {
            eprintln!("EDDY_SKIP_NATS=1: skipping a NATS test");
            return None;
        }
        Some(
            std::env::var("EDDY_TEST_NATS_URL")
                .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned()),
        )
    }

    /// A subject no other test or test run uses.
    fn unique_subject(test: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!(
            "eddy.test.{test}.{}.{nanos}.{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
    }

    async fn bus(url: &str, subject: &str) -> NatsBus {
        match NatsBus::connect(url, subject).await {
            Ok(bus) => bus,
            Err(error) => panic!(
                "NATS tests need a server at {url} (start one with `nats-server`, point \
                 EDDY_TEST_NATS_URL elsewhere, or set EDDY_SKIP_NATS=1 to skip): {error}"
            ),
        }
    }

    async fn next(subscription: &mut Subscription) -> Arc<Envelope> {
        tokio::time::timeout(WAIT, subscription.next())
            .await
            .expect("no envelope within 5 s")
            .expect("bus closed")
    }

    #[tokio::test]
    async fn nats_backend_passes_the_suite() {
        let Some(url) = nats_url() else { return };
        let bus = bus(&url, &unique_subject("suite")).await;
        tokio::time::timeout(
            Duration::from_secs(30),
            crate::tests::delivers_in_order_to_every_subscriber(&bus),
        )
        .await
        .expect("suite timed out");
        let health = bus.health();
        assert!(!health.disconnected);
        assert_eq!(health.decode_errors, 0);
        assert_eq!(health.reconnects, 0);
    }

    #[tokio::test]
    async fn every_node_receives_every_envelope() {
        let Some(url) = nats_url() else { return };
        let subject = unique_subject("nodes");
        let node_a = bus(&url, &subject).await;
        let node_b = bus(&url, &subject).await;
        let mut on_a = node_a.subscribe();
        let mut on_b = node_b.subscribe();
        let mut on_b_too = node_b.subscribe();

        let mut envelope = Envelope::new(
            7,
            vec![
                Audience::Watchers { cid: "m:1".into() },
                Audience::UsersNotWatching {
                    cid: "m:1".into(),
                    user_ids: vec!["bob".into()],
                },
            ],
            &json!({"type": "message.new", "cid": "m:1", "n": 1}),
        );
        let mut counts = serde_json::Map::new();
        counts.insert("total_unread_count".into(), json!(2));
        envelope.personalise("bob", &counts);
        node_a.publish(envelope.clone()).await.unwrap();
        let from_b: Vec<Envelope> = (0..20)
            .map(|i| Envelope::new(7, vec![], &json!({"from": "b", "i": i})))
            .collect();
        for (i, b) in from_b.iter().enumerate() {
            node_b.publish(b.clone()).await.unwrap();
            let a = Envelope::new(7, vec![], &json!({"from": "a", "i": i}));
            node_a.publish(a).await.unwrap();
        }

        // Two publishers interleave arbitrarily; each one's own order holds everywhere.
        for subscription in [&mut on_a, &mut on_b, &mut on_b_too] {
            let mut seen_a = Vec::new();
            let mut seen_b = Vec::new();
            for _ in 0..41 {
                let received = next(subscription).await;
                let body: serde_json::Value = serde_json::from_str(&received.body).unwrap();
                match body["from"].as_str() {
                    Some("b") => seen_b.push((*received).clone()),
                    _ => seen_a.push(received),
                }
            }
            assert_eq!(*seen_a[0], envelope);
            assert_eq!(seen_a[0].frame_for("bob"), envelope.frame_for("bob"));
            for (i, a) in seen_a[1..].iter().enumerate() {
                let body: serde_json::Value = serde_json::from_str(&a.body).unwrap();
                assert_eq!(body, json!({"from": "a", "i": i}));
            }
            assert_eq!(seen_b, from_b);
        }
    }

    #[tokio::test]
    async fn non_ascii_bodies_and_personal_fields_round_trip() {
        let Some(url) = nats_url() else { return };
        let bus = bus(&url, &unique_subject("unicode")).await;
        let mut subscription = bus.subscribe();
        let mut envelope = Envelope::new(
            1,
            vec![Audience::Users {
                user_ids: vec!["zoë".into(), "用户".into()],
            }],
            &json!({"text": "héllo 🌊 мир \u{0} \"quoted\" \\ line\nbreak \u{2028}", "user": {"id": "zoë"}}),
        );
        let mut fields = serde_json::Map::new();
        fields.insert("note".into(), json!("ünread 💬"));
        fields.insert("total_unread_count".into(), json!(3));
        envelope.personalise("zoë", &fields);
        envelope
            .personal
            .insert("用户".into(), r#""raw":"ok ✓""#.into());
        bus.publish(envelope.clone()).await.unwrap();

        let received = next(&mut subscription).await;
        assert_eq!(*received, envelope);
        assert_eq!(received.body.as_bytes(), envelope.body.as_bytes());
        for user in ["zoë", "用户", "nobody"] {
            assert_eq!(received.frame_for(user), envelope.frame_for(user));
        }
        let frame: serde_json::Value = serde_json::from_str(&received.frame_for("zoë")).unwrap();
        assert_eq!(frame["note"], "ünread 💬");
    }

    #[tokio::test]
    async fn garbage_on_the_subject_is_skipped() {
        let Some(url) = nats_url() else { return };
        let subject = unique_subject("garbage");
        let bus = bus(&url, &subject).await;
        let mut subscription = bus.subscribe();
        let raw = async_nats::connect(url.as_str()).await.unwrap();
        for garbage in [
            &b"not json at all"[..],
            b"\xff\xfe\x00",
            br#"{"v":2,"envelope":{"future":true}}"#,
            br#"{"v":1,"envelope":{"app":"x"}}"#,
            b"",
        ] {
            raw.publish(subject.clone(), garbage.to_vec().into())
                .await
                .unwrap();
        }
        // Once the round trip is answered the server has routed the garbage, before the bus's publish.
        round_trip(&raw, WAIT).await.unwrap();
        let envelope = Envelope::new(1, vec![], &json!({"after": "garbage"}));
        bus.publish(envelope.clone()).await.unwrap();

        assert_eq!(*next(&mut subscription).await, envelope);
        assert_eq!(bus.health().decode_errors, 5);
    }

    /// A private `nats-server` on a free port, killed on drop.
    struct PrivateServer {
        child: std::process::Child,
        url: String,
    }

    impl PrivateServer {
        /// `None` (test skipped, with a message) when no `nats-server` binary can be started.
        fn start(port: u16) -> Option<PrivateServer> {
            let binary =
                std::env::var("EDDY_NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".to_owned());
            match std::process::Command::new(&binary)
                .args(["-a", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
            {
                Ok(child) => Some(PrivateServer {
                    child,
                    url: format!("nats://127.0.0.1:{port}"),
                }),
                Err(error) => {
                    eprintln!(
                        "skipping: cannot start {binary} ({error}); set EDDY_NATS_SERVER_BIN"
                    );
                    None
                }
            }
        }

        async fn wait_until_listening(&self) {
            let address = self.url.trim_start_matches("nats://").to_owned();
            for _ in 0..100 {
                if tokio::net::TcpStream::connect(&address).await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("private nats-server at {address} did not start");
        }
    }

    impl Drop for PrivateServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    async fn wait_for(what: &str, condition: impl Fn() -> bool) {
        for _ in 0..400 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting until {what}");
    }

    #[tokio::test]
    async fn publishing_during_an_outage_returns_promptly_and_delivery_resumes() {
        if nats_url().is_none() {
            return;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let Some(server) = PrivateServer::start(port) else {
            return;
        };
        server.wait_until_listening().await;
        let options = NatsOptions {
            client_capacity: 16,
            ..NatsOptions::default()
        };
        let bus = NatsBus::connect_with(&server.url, "eddy.events", options)
            .await
            .unwrap();
        let mut subscription = bus.subscribe();
        drop(server);
        wait_for("the bus notices the outage", || bus.health().disconnected).await;

        let started = std::time::Instant::now();
        let mut refused = 0;
        for index in 0..200 {
            let envelope = Envelope::new(1, vec![], &json!({"during": index}));
            if let Err(BusError::Unavailable(_)) = bus.publish(envelope).await {
                refused += 1;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(refused > 0, "a full buffer must refuse publishes");
        let health = bus.health();
        assert_eq!(health.publish_failures, refused);
        assert_eq!(health.disconnects, 1);

        let _server = PrivateServer::start(port).unwrap();
        wait_for("the bus reconnects", || {
            let health = bus.health();
            !health.disconnected && health.reconnects == 1
        })
        .await;
        let marker = Envelope::new(1, vec![], &json!({"after": "outage"}));
        bus.publish(marker.clone()).await.unwrap();
        // Envelopes buffered during the outage may arrive first; the marker must follow.
        loop {
            if *next(&mut subscription).await == marker {
                break;
            }
        }
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_fast() {
        let started = std::time::Instant::now();
        let result = NatsBus::connect("nats://user:secret@127.0.0.1:1", "eddy.events").await;
        let Err(BusError::Unavailable(message)) = result else {
            panic!("connect to a closed port succeeded");
        };
        assert!(started.elapsed() < Duration::from_secs(6), "{message}");
        assert!(message.contains("127.0.0.1:1"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    #[tokio::test]
    async fn bad_subjects_are_rejected() {
        for subject in ["", "eddy.*", "eddy.>", "eddy..events", "eddy events"] {
            assert!(
                NatsBus::connect("nats://127.0.0.1:4222", subject)
                    .await
                    .is_err(),
                "{subject:?}"
            );
        }
    }

    #[test]
    fn wire_format_is_versioned() {
        let envelope = Envelope::new(1, vec![], &json!({"a": 1}));
        let encoded = String::from_utf8(encode(&envelope).unwrap()).unwrap();
        assert!(encoded.starts_with(r#"{"v":1,"envelope":{"#), "{encoded}");
        assert_eq!(decode(encoded.as_bytes()).unwrap(), envelope);
        let mut excluding = envelope.clone();
        excluding.except = vec!["alice".into()];
        let encoded = encode(&excluding).unwrap();
        assert_eq!(decode(&encoded).unwrap(), excluding);
        let future = br#"{"v":2,"envelope":{}}"#;
        assert!(decode(future).unwrap_err().contains("version 2"));
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("nats://u:p@a:4222, tls://b:4222,tok@c"),
            "nats://***@a:4222,tls://b:4222,***@c"
        );
    }
}
