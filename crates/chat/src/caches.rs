//! Short-lived per-node caches of what every request reads and few change: apps (by key) and channel types.

use eddy_store::{App, AppId, ChannelTypeRecord};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a node trusts its copy; writes on this node invalidate at once, other nodes' writes are
/// seen within this time.
pub const TYPE_CACHE_TTL: Duration = Duration::from_secs(2);

/// When an app's types were read, and the types.
type Entry = (Instant, Arc<Vec<ChannelTypeRecord>>);

#[derive(Clone, Default)]
pub struct ChannelTypeCache {
    entries: Arc<Mutex<HashMap<AppId, Entry>>>,
}

impl ChannelTypeCache {
    pub fn get(&self, app: AppId) -> Option<Arc<Vec<ChannelTypeRecord>>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&app)
            .filter(|(at, _)| at.elapsed() < TYPE_CACHE_TTL)
            .map(|(_, types)| types.clone())
    }

    pub fn put(&self, app: AppId, types: Vec<ChannelTypeRecord>) -> Arc<Vec<ChannelTypeRecord>> {
        let types = Arc::new(types);
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(app, (Instant::now(), types.clone()));
        types
    }

    pub fn invalidate(&self, app: AppId) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&app);
    }
}

/// How long a node trusts its copy of an app; `PATCH /app` on this node invalidates at once.
pub const APP_CACHE_TTL: Duration = Duration::from_secs(2);

/// Apps by API key; each request starts with this lookup.
#[derive(Clone, Default)]
pub struct AppCache {
    entries: Arc<Mutex<HashMap<String, (Instant, App)>>>,
}

impl AppCache {
    pub fn get(&self, api_key: &str) -> Option<App> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(api_key)
            .filter(|(at, _)| at.elapsed() < APP_CACHE_TTL)
            .map(|(_, app)| app.clone())
    }

    /// The cached app with this id, if any (apps are few; entries are scanned).
    pub fn by_id(&self, id: eddy_store::AppId) -> Option<App> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .values()
            .find(|(at, app)| app.id == id && at.elapsed() < APP_CACHE_TTL)
            .map(|(_, app)| app.clone())
    }

    pub fn put(&self, app: &App) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 10_000 {
            entries.retain(|_, (at, _)| at.elapsed() < APP_CACHE_TTL);
        }
        entries.insert(app.api_key.clone(), (Instant::now(), app.clone()));
    }

    pub fn invalidate(&self, api_key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(api_key);
    }
}
