//! Per-minute request budgets per (app, endpoint, platform), with Stream's `X-RateLimit-*` headers on every answer.

use crate::context::RequestContext;
use crate::reply::{ErrorReply, Outcome, Reply};
use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use eddy_protocol::{ApiError, ErrorCode};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Windows kept before stale ones (older minutes) are swept.
const SWEEP_AT: usize = 50_000;

#[derive(Clone, Copy)]
struct Window {
    minute: i64,
    used: u32,
}

/// Fixed one-minute windows. Each node counts its own traffic against its share of the budget:
/// with N nodes in the cluster (this one plus those it hears from), 1/N of it, rounded up, which
/// holds the whole cluster to the budget when the load balancer spreads requests evenly.
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<(String, String, &'static str), Window>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// This node's budget per window when the cluster has `nodes` nodes.
    fn share(&self, nodes: usize) -> u32 {
        let nodes = u32::try_from(nodes.max(1)).unwrap_or(u32::MAX);
        self.per_minute.div_ceil(nodes)
    }

    /// Counts one request against this node's share; returns (allowed, limit, remaining, reset
    /// unix second).
    fn take(
        &self,
        key: (String, String, &'static str),
        now: i64,
        nodes: usize,
    ) -> (bool, u32, u32, i64) {
        let limit = self.share(nodes);
        let minute = now / 60;
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, window| window.minute == minute);
        }
        let window = windows.entry(key).or_insert(Window { minute, used: 0 });
        if window.minute != minute {
            *window = Window { minute, used: 0 };
        }
        let allowed = window.used < limit;
        if allowed {
            window.used += 1;
        }
        let (limit, remaining, reset) = report(limit, window.used, minute);
        (allowed, limit, remaining, reset)
    }

    /// The window of `key` as `take` would report it, without counting a request: (limit,
    /// remaining, reset unix second). A window of an earlier minute (or none) is unused.
    fn peek(
        &self,
        key: &(String, String, &'static str),
        now: i64,
        nodes: usize,
    ) -> (u32, u32, i64) {
        let minute = now / 60;
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let used = windows
            .get(key)
            .filter(|window| window.minute == minute)
            .map_or(0, |window| window.used);
        report(self.share(nodes), used, minute)
    }
}

/// (limit, remaining, reset unix second) of a window of `minute` with `used` requests counted.
fn report(limit: u32, used: u32, minute: i64) -> (u32, u32, i64) {
    (limit, limit.saturating_sub(used), (minute + 1) * 60)
}

/// The platforms a window may belong to, in the order `GET /rate_limits` names them.
const PLATFORMS: [&str; 4] = ["server_side", "android", "ios", "web"];

/// The endpoints `GET /rate_limits` reports: each served v2 operation under its Stream operation
/// name, with the window of the root route that answers it. Windows are per route, not per
/// method, so operations sharing a route (GetChannel, UpdateChannel, ...) share a window and
/// report the same numbers.
fn named_endpoints() -> Vec<(&'static str, &'static str)> {
    let mut endpoints: Vec<(&'static str, &'static str)> = Vec::new();
    for operation in crate::v2::OPERATIONS {
        if !endpoints.iter().any(|(name, _)| *name == operation.id) {
            endpoints.push((operation.id, crate::v2::root_route(operation)));
        }
    }
    endpoints
}

/// `GET /rate_limits` (GetRateLimits, server-side only): this node's windows of the caller's app
/// for the requested platforms (`server_side`, `android`, `ios`, `web`; all when none is named)
/// and endpoints (`endpoints`: operation names, or root route paths such as `/channels/{type}/{id}`
/// for routes no operation names; all named operations when absent). Reading uses no window.
pub async fn get_rate_limits(State(state): State<AppState>, context: RequestContext) -> Outcome {
    context.require_server("GetRateLimits")?;
    let mut platforms: Vec<&'static str> =
        PLATFORMS.into_iter().filter(|p| context.flag(p)).collect();
    if platforms.is_empty() {
        platforms = PLATFORMS.to_vec();
    }
    let named = named_endpoints();
    let endpoints: Vec<(String, String)> = match context.param("endpoints") {
        None => named
            .iter()
            .map(|(name, route)| ((*name).to_owned(), (*route).to_owned()))
            .collect(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter_map(
                |wanted| match named.iter().find(|(name, _)| *name == wanted) {
                    Some((name, route)) => Some(((*name).to_owned(), (*route).to_owned())),
                    None if wanted.starts_with('/') => Some((wanted.to_owned(), wanted.to_owned())),
                    None => None,
                },
            )
            .collect(),
    };
    let now = chrono::Utc::now().timestamp();
    let nodes = 1 + state.chat.hub.remote_node_count();
    let mut body = Map::new();
    for platform in platforms {
        let mut windows = Map::new();
        for (name, route) in &endpoints {
            let key = (context.app.api_key.clone(), route.clone(), platform);
            let (limit, remaining, reset) = state.rate_limiter.peek(&key, now, nodes);
            windows.insert(
                name.clone(),
                json!({ "limit": limit, "remaining": remaining, "reset": reset }),
            );
        }
        body.insert(platform.to_owned(), Value::Object(windows));
    }
    Ok(Reply {
        status: StatusCode::OK,
        body: Value::Object(body).into(),
        started: context.started,
    })
}

/// Stream's platforms, from the auth mode and the SDK's `X-Stream-Client`.
fn platform(request: &Request) -> &'static str {
    let client = request
        .headers()
        .get("x-stream-client")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if client.contains("android") {
        "android"
    } else if client.contains("swift") || client.contains("ios") {
        "ios"
    } else if client.contains("browser") || client.contains("react") {
        "web"
    } else {
        "server_side"
    }
}

pub async fn limit(
    State(state): State<AppState>,
    path: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let api_key = request
        .uri()
        .query()
        .and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("api_key="))
        })
        .unwrap_or_default()
        .to_owned();
    let route = path.map(|p| p.as_str().to_owned()).unwrap_or_default();
    let key = (api_key, route, platform(&request));
    let nodes = 1 + state.chat.hub.remote_node_count();
    let (allowed, limit, remaining, reset) =
        state
            .rate_limiter
            .take(key, chrono::Utc::now().timestamp(), nodes);
    let mut response = if allowed {
        next.run(request).await
    } else {
        let error = ApiError::new(
            ErrorCode::RateLimit,
            "Too many requests, check response headers for the rate limit budget",
        );
        let mut response = ErrorReply::new(error, started).into_response();
        let wait = (reset - chrono::Utc::now().timestamp()).max(1);
        if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert("retry-after", value);
        }
        response
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_run_out_and_refill_next_minute() {
        let limiter = RateLimiter::new(2);
        let key = || ("k".to_owned(), "/app".to_owned(), "server_side");
        assert_eq!(limiter.take(key(), 120, 1), (true, 2, 1, 180));
        assert_eq!(limiter.take(key(), 121, 1), (true, 2, 0, 180));
        assert_eq!(limiter.take(key(), 122, 1), (false, 2, 0, 180));
        assert_eq!(limiter.take(key(), 180, 1), (true, 2, 1, 240));
        assert_eq!(
            limiter.take(("other".to_owned(), "/app".to_owned(), "web"), 122, 1),
            (true, 2, 1, 180)
        );
    }

    #[test]
    fn each_node_of_a_cluster_holds_its_share_of_the_budget() {
        let limiter = RateLimiter::new(5);
        let key = || ("k".to_owned(), "/app".to_owned(), "server_side");
        // Two nodes: 3 each (rounded up), so the cluster allows at most 6 of the 5 per minute.
        assert_eq!(limiter.take(key(), 60, 2), (true, 3, 2, 120));
        assert_eq!(limiter.take(key(), 61, 2), (true, 3, 1, 120));
        assert_eq!(limiter.take(key(), 62, 2), (true, 3, 0, 120));
        assert_eq!(limiter.take(key(), 63, 2), (false, 3, 0, 120));
        // The other node went away: this one has the whole budget again.
        assert_eq!(limiter.take(key(), 64, 1), (true, 5, 1, 120));
        assert_eq!(RateLimiter::new(10).share(3), 4);
        assert_eq!(RateLimiter::new(10).share(0), 10);
    }

    #[test]
    fn peeking_reads_a_window_without_using_it() {
        let limiter = RateLimiter::new(3);
        let key = ("k".to_owned(), "/app".to_owned(), "server_side");
        assert_eq!(limiter.peek(&key, 60, 1), (3, 3, 120));
        limiter.take(key.clone(), 61, 1);
        assert_eq!(limiter.peek(&key, 62, 1), (3, 2, 120));
        assert_eq!(limiter.peek(&key, 62, 1), (3, 2, 120));
        // Another platform's window and the next minute are untouched.
        assert_eq!(
            limiter.peek(&("k".to_owned(), "/app".to_owned(), "web"), 62, 1),
            (3, 3, 120)
        );
        assert_eq!(limiter.peek(&key, 121, 1), (3, 3, 180));
        // Served operations are named, and GetChannel shares the window of its route.
        let named = named_endpoints();
        assert!(named.contains(&("GetChannel", "/channels/{type}/{id}")));
        assert!(named.contains(&("UpdateChannel", "/channels/{type}/{id}")));
        assert!(named.contains(&("unban", "/moderation/ban")));
    }
}
