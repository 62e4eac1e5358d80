//! W8 queries over a large data set: seeds SQLite through `BulkStore::import`, then times queryChannels, queryUsers and search over HTTP.

use crate::api::{sign, urlencode, Answer, Api};
use crate::report::{round, Block, Latency};
use crate::server::{Kind, Server, API_KEY, API_SECRET};
use crate::{Common, Result, Verdict};
use chrono::{DateTime, Duration as Span, Utc};
use eddy_store::sqlite::SqliteStore;
use eddy_store::{
    AppId, AppStore, BulkStore, Channel, Document, ImportBatch, Member, Message, User,
};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Users (the hot user included).
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Messaging channels.
    #[arg(long, default_value_t = 100_000)]
    pub channels: usize,
    /// Members per channel.
    #[arg(long, default_value_t = 5)]
    pub members: usize,
    /// Channels the hot user (id `hot`) is a member of.
    #[arg(long, default_value_t = 5_000)]
    pub hot_channels: usize,
    /// Messages over all channels (created over the last 30 days).
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: usize,
    /// Share of messages that are thread replies, percent.
    #[arg(long, default_value_t = 5.0)]
    pub reply_percent: f64,
    /// Channels (with their members and messages) per import batch.
    #[arg(long, default_value_t = 10_000)]
    pub batch_channels: usize,
    /// Timed requests per query shape, sent one after another.
    #[arg(long, short = 'n', default_value_t = 200)]
    pub requests: usize,
    /// Untimed requests per query shape first.
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// Seconds one shape may take (warm-up included); a slow shape stops early with fewer samples.
    #[arg(long, default_value_t = 120)]
    pub shape_seconds: u64,
    /// Keep the seeded data dir here and reuse it on the next run with the same shape
    /// (default: a temp dir, removed afterwards).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seed of the data generator.
    #[arg(long, default_value_t = 8)]
    pub seed: u64,
    #[command(flatten)]
    pub common: Common,
}

/// The user who belongs to `--hot-channels` channels and runs every query.
const HOT: &str = "hot";
/// How far back message times go.
const DAYS: i64 = 30;
/// The database file `eddy serve --data-dir` opens.
const DB_FILE: &str = "eddy.sqlite3";
/// Written after a complete seed; its content is the shape, so a reused dir must match it.
const MARKER: &str = "w8-seed.json";

const FIRST: [&str; 40] = [
    "Alice", "Amelia", "Benjamin", "Bianca", "Carlos", "Chloe", "Daniel", "Diana", "Elena",
    "Ethan", "Fatima", "Felix", "Gabriel", "Grace", "Hannah", "Hugo", "Isabel", "Ivan", "Jasmine",
    "Julian", "Karim", "Klara", "Liam", "Lucia", "Marco", "Maya", "Nadia", "Noah", "Olivia",
    "Oscar", "Priya", "Paul", "Quentin", "Rosa", "Samuel", "Sofia", "Tomas", "Uma", "Victor",
    "Yara",
];
const LAST: [&str; 20] = [
    "Anders", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
    "Kowalski", "Lopez", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Schmidt", "Tanaka",
    "Weber",
];

/// Name prefixes queried with `$autocomplete` (first names, last names, case-insensitive).
const PREFIXES: [&str; 12] = [
    "al", "ben", "car", "ga", "ju", "ma", "no", "sof", "ba", "ko", "pet", "we",
];

/// SplitMix64: small, fast and good enough to shape a data set reproducibly.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A few thousand made-up words, ranked: word `k` is drawn with probability about 1/((k+1.5)·ln V)
/// (log-uniform rank, close to Zipf), so a few words are everywhere and most are rare.
struct Vocabulary {
    words: Vec<String>,
}

impl Vocabulary {
    const SIZE: usize = 3_000;

    fn new(seed: u64) -> Vocabulary {
        const ONSETS: [&str; 18] = [
            "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
            "br",
        ];
        const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ai"];
        let mut rng = Rng::new(seed, 0x0076_6f63_6162);
        let mut seen = HashSet::new();
        let mut words = Vec::with_capacity(Self::SIZE);
        while words.len() < Self::SIZE {
            let syllables = 2 + rng.below(2);
            let mut word = String::new();
            for _ in 0..syllables {
                word.push_str(ONSETS[rng.below(ONSETS.len())]);
                word.push_str(VOWELS[rng.below(VOWELS.len())]);
            }
            if rng.below(3) == 0 {
                word.push_str(["n", "s", "l", "r"][rng.below(4)]);
            }
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        Vocabulary { words }
    }

    fn draw(&self, rng: &mut Rng) -> &str {
        let size = self.words.len() as f64;
        let rank = ((size + 1.0).powf(rng.unit()) - 1.0) as usize;
        &self.words[rank.min(self.words.len() - 1)]
    }

    fn sentence(&self, rng: &mut Rng, words: usize) -> String {
        let mut text = String::new();
        for index in 0..words {
            if index > 0 {
                text.push(' ');
            }
            text.push_str(self.draw(rng));
        }
        text
    }
}

fn document(value: Value) -> Document {
    match value {
        Value::Object(map) => map,
        _ => Document::new(),
    }
}

fn user_id(index: usize) -> String {
    if index == 0 {
        HOT.to_owned()
    } else {
        format!("u{index}")
    }
}

/// The data set's shape and generator: everything is a function of the flags and the seed.
struct Shape<'a> {
    args: &'a Args,
    vocabulary: Vocabulary,
    now: DateTime<Utc>,
    /// Every `hot_stride`-th channel (the first `hot_channels` of them) has the hot user.
    hot_stride: usize,
}

impl Shape<'_> {
    fn is_hot(&self, channel: usize) -> bool {
        channel.is_multiple_of(self.hot_stride)
            && channel / self.hot_stride < self.args.hot_channels
    }

    fn users(&self) -> Vec<User> {
        let mut rng = Rng::new(self.args.seed, 1);
        (0..self.args.users)
            .map(|index| {
                let mut user = User::new(user_id(index), "user");
                let name = if index == 0 {
                    "Hot Path".to_owned()
                } else {
                    format!(
                        "{} {} {index}",
                        FIRST[rng.below(FIRST.len())],
                        LAST[rng.below(LAST.len())]
                    )
                };
                user.doc = document(json!({ "name": name }));
                user.created_at = self.now - Span::days(DAYS + 5);
                user.updated_at = user.created_at;
                user
            })
            .collect()
    }

    /// Channels `range` with their members and messages.
    fn batch(&self, range: std::ops::Range<usize>) -> ImportBatch {
        let args = self.args;
        let mut batch = ImportBatch::default();
        // This block's share of the messages, spread at random over its channels.
        let total =
            |end: usize| (args.messages as u128 * end as u128 / args.channels as u128) as usize;
        let mut counts = vec![0usize; range.len()];
        let mut rng = Rng::new(args.seed, 2 + range.start as u64);
        for _ in 0..total(range.end) - total(range.start) {
            counts[rng.below(range.len())] += 1;
        }
        let created = self.now - Span::days(DAYS + 1);
        for (offset, channel) in range.clone().enumerate() {
            let mut rng = Rng::new(args.seed, 1_000_000 + channel as u64);
            let id = format!("c{channel}");
            let cid = format!("messaging:{id}");
            let mut people: Vec<String> = Vec::with_capacity(args.members);
            if self.is_hot(channel) {
                people.push(HOT.to_owned());
            }
            while people.len() < args.members.min(args.users) {
                let candidate = user_id(1 + rng.below(args.users - 1));
                if !people.contains(&candidate) {
                    people.push(candidate);
                }
            }
            let name = format!(
                "{} {} {channel}",
                self.vocabulary.draw(&mut rng),
                self.vocabulary.draw(&mut rng)
            );
            batch.channels.push(Channel {
                cid: cid.clone(),
                kind: "messaging".into(),
                id,
                created_by: people.first().cloned(),
                doc: document(json!({ "name": name })),
                frozen: false,
                disabled: false,
                member_count: 0,
                created_at: created,
                updated_at: created,
                last_message_at: None,
                truncated_at: None,
                deleted_at: None,
            });
            for person in &people {
                batch.members.push(Member {
                    cid: cid.clone(),
                    user_id: person.clone(),
                    channel_role: "channel_member".into(),
                    doc: Document::new(),
                    hidden: false,
                    hide_messages_before: None,
                    created_at: created,
                    updated_at: created,
                    last_read: self.now,
                    last_read_message_id: None,
                    unread_messages: 0,
                    first_unread_message_id: None,
                });
            }
            let window = Span::days(DAYS).num_microseconds().unwrap_or(i64::MAX) as u64;
            let mut times: Vec<DateTime<Utc>> = (0..counts[offset])
                .map(|_| self.now - Span::microseconds((rng.next() % window) as i64))
                .collect();
            times.sort();
            let mut top_level: Vec<usize> = Vec::new();
            let first_message = batch.messages.len();
            for (k, at) in times.into_iter().enumerate() {
                let parent = (!top_level.is_empty() && rng.unit() * 100.0 < args.reply_percent)
                    .then(|| top_level[rng.below(top_level.len())]);
                if parent.is_none() {
                    top_level.push(first_message + k);
                }
                let words = 4 + rng.below(17);
                let text = self.vocabulary.sentence(&mut rng, words);
                let author = people[rng.below(people.len())].clone();
                batch.messages.push(Message {
                    id: format!("m{channel}-{k}"),
                    cid: cid.clone(),
                    parent_id: parent.map(|index| batch.messages[index].id.clone()),
                    user_id: author,
                    kind: if parent.is_some() { "reply" } else { "regular" }.into(),
                    show_in_channel: false,
                    reply_count: 0,
                    doc: document(json!({
                        "text": text,
                        "html": format!("<p>{text}</p>\n"),
                        "attachments": [],
                        "mentioned_users": [],
                        "silent": false,
                    })),
                    reaction_groups: Document::new(),
                    latest_reactions: Vec::new(),
                    thread_participants: Vec::new(),
                    created_at: at,
                    updated_at: at,
                    deleted_at: None,
                });
            }
        }
        batch
    }
}

/// What seeding took.
#[derive(Default)]
struct Seeding {
    reused: bool,
    users: usize,
    channels: usize,
    members: usize,
    messages: usize,
    replies: usize,
    /// Time inside `import` only (data generation excluded).
    import_seconds: f64,
    /// Of which the imports that carried only messages.
    message_seconds: f64,
    wall_seconds: f64,
    db_bytes: u64,
}

fn shape_marker(args: &Args) -> String {
    json!({
        "users": args.users,
        "channels": args.channels,
        "members": args.members,
        "hot_channels": args.hot_channels,
        "messages": args.messages,
        "reply_percent": args.reply_percent,
        "seed": args.seed,
    })
    .to_string()
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

async fn seed(args: &Args, data: &Path) -> Result<Seeding> {
    let marker = data.join(MARKER);
    let db = data.join(DB_FILE);
    if marker.exists() {
        let stored = std::fs::read_to_string(&marker)?;
        if stored == shape_marker(args) {
            eprintln!("w8: reusing the data set in {}", data.display());
            return Ok(Seeding {
                reused: true,
                db_bytes: file_size(&db),
                ..Seeding::default()
            });
        }
        return Err(format!(
            "{} holds a data set of another shape ({stored}); use another --data-dir",
            data.display()
        )
        .into());
    }
    if db.exists() {
        return Err(format!(
            "{} exists but was not seeded completely by w8; remove it or use another --data-dir",
            db.display()
        )
        .into());
    }
    std::fs::create_dir_all(data)?;
    let started = Instant::now();
    let store = SqliteStore::open(&db).await?;
    let app: AppId = store.ensure_app(API_KEY, API_SECRET, "eddy").await?.id;
    let shape = Shape {
        args,
        vocabulary: Vocabulary::new(args.seed),
        now: Utc::now(),
        hot_stride: (args.channels / args.hot_channels.max(1)).max(1),
    };
    let mut seeding = Seeding::default();
    let users = ImportBatch {
        users: shape.users(),
        ..ImportBatch::default()
    };
    let begun = Instant::now();
    store.import(app, &users).await?;
    seeding.import_seconds += begun.elapsed().as_secs_f64();
    seeding.users = users.users.len();
    let mut start = 0;
    while start < args.channels {
        let end = (start + args.batch_channels).min(args.channels);
        let batch = shape.batch(start..end);
        // Channels and members first, then the messages, so the messages' rate is their own.
        let rooms = ImportBatch {
            channels: batch.channels,
            members: batch.members,
            ..ImportBatch::default()
        };
        let begun = Instant::now();
        store.import(app, &rooms).await?;
        let messages = ImportBatch {
            messages: batch.messages,
            ..ImportBatch::default()
        };
        let between = Instant::now();
        store.import(app, &messages).await?;
        seeding.import_seconds += begun.elapsed().as_secs_f64();
        seeding.message_seconds += between.elapsed().as_secs_f64();
        seeding.channels += rooms.channels.len();
        seeding.members += rooms.members.len();
        seeding.messages += messages.messages.len();
        seeding.replies += messages
            .messages
            .iter()
            .filter(|m| m.parent_id.is_some())
            .count();
        eprintln!(
            "w8: seeded channels {start}..{end}: {} messages so far, {:.1} s",
            seeding.messages,
            started.elapsed().as_secs_f64()
        );
        start = end;
    }
    drop(store);
    seeding.wall_seconds = started.elapsed().as_secs_f64();
    seeding.db_bytes = file_size(&db) + file_size(&data.join(format!("{DB_FILE}-wal")));
    std::fs::write(&marker, shape_marker(args))?;
    Ok(seeding)
}

/// One timed query shape and the target its p99 is held against.
struct Shape8 {
    name: &'static str,
    target: &'static str,
    limit_ms: f64,
}

/// Outcome of one shape.
struct Timing {
    latency: Latency,
    mean_ms: f64,
    failures: Vec<String>,
}

/// The list a query's answer must not have empty.
fn answer_items<'a>(answer: &'a Answer, key: &str) -> Option<&'a Vec<Value>> {
    answer.body.get(key).and_then(Value::as_array)
}

async fn time_shape(
    api: &Api,
    token: &str,
    args: &Args,
    key: &str,
    request: impl Fn(usize) -> (String, Option<Value>),
) -> Timing {
    let mut micros = Vec::with_capacity(args.requests);
    let mut failures = Vec::new();
    let deadline = Instant::now() + std::time::Duration::from_secs(args.shape_seconds);
    for index in 0..args.warmup + args.requests {
        if index > args.warmup && Instant::now() > deadline {
            eprintln!(
                "w8: time budget spent after {} timed requests",
                micros.len()
            );
            break;
        }
        let (path, body) = request(index);
        let answer = match &body {
            Some(body) => api.post(&path, token, body).await,
            None => api.get(&path, token).await,
        };
        let problem = match &answer {
            Err(error) => Some(error.to_string()),
            // queryChannels answers 201, as Stream's does; the GET queries answer 200.
            Ok(answer) if !answer.ok() => {
                let mut body = answer.body.to_string();
                body.truncate(300);
                Some(format!("HTTP {} {body}", answer.status))
            }
            Ok(answer) if answer_items(answer, key).is_none_or(Vec::is_empty) => {
                Some(format!("empty {key} for {path}"))
            }
            Ok(_) => None,
        };
        if let Some(problem) = problem {
            if failures.len() < 5 {
                failures.push(problem);
            }
            continue;
        }
        if index >= args.warmup {
            if let Ok(answer) = answer {
                micros.push(u32::try_from(answer.elapsed.as_micros()).unwrap_or(u32::MAX));
            }
        }
    }
    let mean_ms = if micros.is_empty() {
        0.0
    } else {
        micros.iter().map(|&m| f64::from(m)).sum::<f64>() / micros.len() as f64 / 1000.0
    };
    Timing {
        latency: Latency::from_micros(micros),
        mean_ms,
        failures,
    }
}

fn payload_path(path: &str, payload: &Value) -> String {
    format!("{path}?payload={}", urlencode(&payload.to_string()))
}

pub async fn run(args: Args) -> Result<Verdict> {
    if args.users < 2
        || args.channels == 0
        || args.members == 0
        || args.hot_channels > args.channels
        || args.batch_channels == 0
        || args.requests == 0
    {
        return Err("need --users >= 2, --channels, --members, --batch-channels, --requests >= 1 and --hot-channels <= --channels".into());
    }
    let (data, temporary) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir =
                std::env::temp_dir().join(format!("eddy-bench-w8-{}-{nanos}", std::process::id()));
            (dir, true)
        }
    };
    let outcome = measure(&args, &data).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&data);
    }
    outcome
}

async fn measure(args: &Args, data: &Path) -> Result<Verdict> {
    eprintln!(
        "w8: seeding {} users, {} channels x {} members ({} with the hot user), {} messages",
        args.users, args.channels, args.members, args.hot_channels, args.messages
    );
    let seeding = seed(args, data).await?;
    let server = Server::start_on(&args.common, Kind::Eddy, Some(data)).await?;
    let api = Api::new(&server.url)?;
    let token = sign(&json!({ "user_id": HOT }))?;
    let vocabulary = Vocabulary::new(args.seed);
    // Words from frequent to rare (ranks 0..300), so search selectivity varies request to request.
    let words: Vec<&str> = [0, 1, 3, 7, 15, 30, 60, 120, 200, 300]
        .iter()
        .map(|&rank| vocabulary.words[rank.min(Vocabulary::SIZE - 1)].as_str())
        .collect();
    let shapes = [
        Shape8 {
            name: "queryChannels members $in",
            target: "queryChannels p99 < 20 ms",
            limit_ms: 20.0,
        },
        Shape8 {
            name: "queryChannels type + members $in",
            target: "queryChannels p99 < 20 ms",
            limit_ms: 20.0,
        },
        Shape8 {
            name: "queryUsers name $autocomplete",
            target: "W8 p99 < 50 ms",
            limit_ms: 50.0,
        },
        Shape8 {
            name: "search query",
            target: "search p99 < 50 ms",
            limit_ms: 50.0,
        },
        Shape8 {
            name: "search text $q",
            target: "search p99 < 50 ms",
            limit_ms: 50.0,
        },
    ];
    let channel_body = |filter: Value| {
        json!({
            "filter_conditions": filter,
            "sort": [{"field": "last_message_at", "direction": -1}],
            "limit": 30,
            "message_limit": 25,
            "state": true,
            "watch": false,
            "presence": false,
        })
    };
    let mut timings = Vec::new();
    for (index, shape) in shapes.iter().enumerate() {
        eprintln!(
            "w8: {} ({} + {} requests)",
            shape.name, args.warmup, args.requests
        );
        let timing = match index {
            0 => {
                let body = channel_body(json!({"members": {"$in": [HOT]}}));
                time_shape(&api, &token, args, "channels", |_| {
                    ("/channels".to_owned(), Some(body.clone()))
                })
                .await
            }
            1 => {
                let body = channel_body(json!({"type": "messaging", "members": {"$in": [HOT]}}));
                time_shape(&api, &token, args, "channels", |_| {
                    ("/channels".to_owned(), Some(body.clone()))
                })
                .await
            }
            2 => time_shape(&api, &token, args, "users", |i| {
                let payload = json!({
                    "filter_conditions": {"name": {"$autocomplete": PREFIXES[i % PREFIXES.len()]}},
                    "limit": 30,
                });
                (payload_path("/users", &payload), None)
            })
            .await,
            3 => {
                time_shape(&api, &token, args, "results", |i| {
                    let payload = json!({
                        "filter_conditions": {"members": {"$in": [HOT]}},
                        "query": words[i % words.len()],
                        "limit": 25,
                    });
                    (payload_path("/search", &payload), None)
                })
                .await
            }
            _ => {
                time_shape(&api, &token, args, "results", |i| {
                    let payload = json!({
                        "filter_conditions": {"members": {"$in": [HOT]}},
                        "message_filter_conditions": {"text": {"$q": words[i % words.len()]}},
                        "limit": 25,
                    });
                    (payload_path("/search", &payload), None)
                })
                .await
            }
        };
        timings.push(timing);
    }
    let log_lines = server.log_tail(1000).len();
    drop(server);

    let failures: usize = timings.iter().map(|t| t.failures.len()).sum();
    let passed = failures == 0;
    let mut block = Block::new("w8", "W8 queries over a seeded data set");
    block.line(
        "data set",
        format!(
            "{} users, {} messaging channels x {} members, hot user in {} of them, {} messages ({:.1}% replies, 30 days)",
            args.users,
            args.channels,
            args.members,
            args.hot_channels,
            args.messages,
            args.reply_percent
        ),
    );
    if seeding.reused {
        block.line(
            "seeding",
            format!(
                "reused {} ({} MB)",
                data.display(),
                seeding.db_bytes / 1_000_000
            ),
        );
    } else {
        let rows = seeding.users + seeding.channels + seeding.members + seeding.messages;
        block
            .line(
                "seeding",
                format!(
                    "{} rows in {:.1} s of import ({:.0} rows/s), {:.1} s wall with generation; database {} MB",
                    rows,
                    seeding.import_seconds,
                    rows as f64 / seeding.import_seconds.max(0.001),
                    seeding.wall_seconds,
                    seeding.db_bytes / 1_000_000
                ),
            )
            .line(
                "message import",
                format!(
                    "{} messages ({} replies) in {:.1} s = {:.0} messages/s (goal >= 50,000/s)",
                    seeding.messages,
                    seeding.replies,
                    seeding.message_seconds,
                    seeding.messages as f64 / seeding.message_seconds.max(0.001)
                ),
            );
    }
    block.line(
        "requests",
        format!(
            "up to {} timed per shape after {} warm-up (at most {} s a shape), sequential, hot user's JWT, time to last byte",
            args.requests, args.warmup, args.shape_seconds
        ),
    );
    let mut results = Vec::new();
    for (shape, timing) in shapes.iter().zip(&timings) {
        let meets = timing.latency.count > 0 && timing.latency.p99 < shape.limit_ms;
        let mut text = format!(
            "{}  mean {:.2} ms  [{}: {}]",
            timing.latency.line(),
            timing.mean_ms,
            shape.target,
            if meets { "met" } else { "missed" }
        );
        if !timing.failures.is_empty() {
            text.push_str(&format!("  FAILED: {}", timing.failures.join("; ")));
        }
        block.line(shape.name, text);
        results.push(json!({
            "shape": shape.name,
            "latency": timing.latency.json(),
            "mean_ms": round(timing.mean_ms),
            "target": shape.target,
            "meets_target": meets,
            "failures": timing.failures,
        }));
    }
    block
        .line("server log", format!("{log_lines} warning/error lines"))
        .line("result", if passed { "PASS" } else { "FAIL" });
    block
        .field("users", json!(args.users))
        .field("channels", json!(args.channels))
        .field("members", json!(args.members))
        .field("hot_channels", json!(args.hot_channels))
        .field("messages", json!(args.messages))
        .field("seed_reused", json!(seeding.reused))
        .field("seed_import_s", json!(round(seeding.import_seconds)))
        .field("seed_message_s", json!(round(seeding.message_seconds)))
        .field(
            "seed_messages_per_s",
            json!(round(
                seeding.messages as f64 / seeding.message_seconds.max(0.001)
            )),
        )
        .field("requests", json!(args.requests))
        .field("results", json!(results))
        .field("server_log_lines", json!(log_lines))
        .field("pass", json!(passed));
    block.print();
    Ok(passed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn small() -> Args {
        Cli::parse_from([
            "w8",
            "--users",
            "50",
            "--channels",
            "40",
            "--hot-channels",
            "10",
            "--messages",
            "2000",
        ])
        .args
    }

    #[test]
    fn batches_have_the_asked_shape() {
        let args = small();
        let shape = Shape {
            args: &args,
            vocabulary: Vocabulary::new(args.seed),
            now: Utc::now(),
            hot_stride: 4,
        };
        let first = shape.batch(0..25);
        let second = shape.batch(25..40);
        assert_eq!(first.channels.len() + second.channels.len(), 40);
        assert_eq!(first.members.len(), 25 * 5);
        assert_eq!(first.messages.len() + second.messages.len(), 2000);
        let hot = first
            .members
            .iter()
            .chain(&second.members)
            .filter(|m| m.user_id == HOT)
            .count();
        assert_eq!(hot, 10);
        let ids: HashSet<&str> = first.messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids.len(), first.messages.len());
        let replies: Vec<&Message> = first
            .messages
            .iter()
            .filter(|m| m.parent_id.is_some())
            .collect();
        assert!(!replies.is_empty());
        for reply in replies {
            let parent = first
                .messages
                .iter()
                .find(|m| Some(&m.id) == reply.parent_id.as_ref())
                .expect("parent in the batch");
            assert!(parent.parent_id.is_none() && parent.cid == reply.cid);
            assert!(parent.created_at <= reply.created_at);
        }
        // Reproducible.
        assert_eq!(shape.batch(0..25).messages[7].doc, first.messages[7].doc);
    }

    #[test]
    fn vocabulary_is_skewed() {
        let vocabulary = Vocabulary::new(1);
        let mut rng = Rng::new(1, 2);
        let draws = 100_000;
        let top = (0..draws)
            .filter(|_| vocabulary.draw(&mut rng) == vocabulary.words[0])
            .count();
        // P(rank 0) = ln 2 / ln 3001, about 8.7%.
        assert!((7_000..10_500).contains(&top), "{top}");
    }
}
