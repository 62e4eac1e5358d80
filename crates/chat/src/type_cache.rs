//! A short-lived per-app cache of channel-type configs: every channel operation needs one, few change them.

use eddy_store::{AppId, ChannelTypeRecord};
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
