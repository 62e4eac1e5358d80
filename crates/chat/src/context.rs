//! The chat service handle and who is acting on a request.

use crate::tasks::TaskRegistry;
use eddy_bus::Bus;
use eddy_realtime::Hub;
use eddy_store::{App, Store, User};
use std::sync::Arc;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A server-side token: may do anything, names the acting user in the request where needed.
    Server,
    /// A user token (or a connected user).
    User(Box<User>),
    /// `stream-auth-type: anonymous`.
    Anonymous,
}

impl Actor {
    pub fn user(&self) -> Option<&User> {
        match self {
            Actor::User(user) => Some(user),
            _ => None,
        }
    }

    pub fn is_server(&self) -> bool {
        matches!(self, Actor::Server)
    }
}

/// Shared handles for every chat operation; cheap to clone.
#[derive(Clone)]
pub struct Chat {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub hub: Arc<Hub>,
    pub tasks: TaskRegistry,
    pub channel_types: crate::caches::ChannelTypeCache,
    pub apps: crate::caches::AppCache,
    /// Where channel events go to be kept for `/sync`; none until [`Chat::keep_events`].
    pub recorder: Option<crate::sync::EventRecorder>,
    /// How long a user with no connection stays online (see `presence`).
    pub presence_grace: std::time::Duration,
    /// Users' last message times for channels in slow mode (per node, see `slow_mode`).
    pub slow_mode: crate::slow_mode::SlowMode,
}

impl Chat {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, hub: Arc<Hub>) -> Self {
        Chat {
            store,
            bus,
            hub,
            tasks: TaskRegistry::default(),
            channel_types: crate::caches::ChannelTypeCache::default(),
            apps: crate::caches::AppCache::default(),
            recorder: None,
            presence_grace: crate::presence::OFFLINE_GRACE,
            slow_mode: crate::slow_mode::SlowMode::default(),
        }
    }

    /// Keeps channel events for `/sync` (a background writer) and prunes old ones.
    pub fn keep_events(&mut self) {
        self.recorder = Some(crate::sync::start_recorder(self.store.clone()));
        crate::sync::start_pruner(self.store.clone());
    }

    /// An app by id: from this node's cache, else from the store.
    pub(crate) async fn app_by_id(&self, app: eddy_store::AppId) -> crate::ChatResult<Option<App>> {
        if let Some(record) = self.apps.by_id(app) {
            return Ok(Some(record));
        }
        let record = self
            .store
            .list_apps()
            .await
            .map_err(crate::store_error("GetApp"))?
            .into_iter()
            .find(|a| a.id == app);
        if let Some(record) = &record {
            self.apps.put(record);
        }
        Ok(record)
    }

    /// The app a request speaks to, by its API key.
    pub async fn app_by_key(&self, api_key: &str) -> crate::ChatResult<Option<App>> {
        if let Some(app) = self.apps.get(api_key) {
            return Ok(Some(app));
        }
        let app = self
            .store
            .app_by_key(api_key)
            .await
            .map_err(crate::store_error("GetApp"))?;
        if let Some(app) = &app {
            self.apps.put(app);
        }
        Ok(app)
    }
}
