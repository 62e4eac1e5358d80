//! Slow mode: a channel's `cooldown` (1–120 s) is the least time between two messages of one user.
//!
//! A send first asks the store when the user last posted in the channel (so a message taken by
//! another node, or before a restart, counts), then checks and records the time here, in memory, as
//! one step under a lock, so two concurrent sends on one node cannot both pass. Two sends racing on
//! two different nodes within milliseconds can both pass.
//! The clock is injectable so tests control time.

use eddy_store::AppId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest cooldown Stream allows; older entries can no longer refuse anything.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(120);
/// Past this many entries, a send first drops the ones older than [`MAX_COOLDOWN`].
const PRUNE_ABOVE: usize = 10_000;

/// Where "now" comes from.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

type Key = (AppId, String, String);

/// The last message time of each (app, channel, user) on this node.
#[derive(Clone)]
pub struct SlowMode {
    last: Arc<Mutex<HashMap<Key, Instant>>>,
    clock: Clock,
}

impl Default for SlowMode {
    fn default() -> Self {
        Self::with_clock(Arc::new(Instant::now))
    }
}

impl std::fmt::Debug for SlowMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlowMode").finish_non_exhaustive()
    }
}

impl SlowMode {
    pub fn with_clock(clock: Clock) -> Self {
        SlowMode {
            last: Arc::default(),
            clock,
        }
    }

    /// Records a message of `user` in `cid` now, unless their previous one there is less than
    /// `cooldown` ago: then nothing is recorded and the time still to wait is returned.
    pub fn try_send(
        &self,
        app: AppId,
        cid: &str,
        user: &str,
        cooldown: Duration,
    ) -> Result<(), Duration> {
        let now = (self.clock)();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let key = (app, cid.to_owned(), user.to_owned());
        if let Some(previous) = last.get(&key) {
            let since = now.saturating_duration_since(*previous);
            if since < cooldown {
                return Err(cooldown - since);
            }
        }
        if last.len() > PRUNE_ABOVE {
            last.retain(|_, at| now.saturating_duration_since(*at) < MAX_COOLDOWN);
        }
        last.insert(key, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn manual_clock() -> (Clock, Arc<AtomicU64>) {
        let start = Instant::now();
        let offset_ms = Arc::new(AtomicU64::new(0));
        let read = offset_ms.clone();
        let clock: Clock =
            Arc::new(move || start + Duration::from_millis(read.load(Ordering::SeqCst)));
        (clock, offset_ms)
    }

    #[test]
    fn a_second_message_waits_for_the_cooldown() {
        let (clock, offset) = manual_clock();
        let slow = SlowMode::with_clock(clock);
        let cooldown = Duration::from_secs(10);
        assert!(slow.try_send(1, "messaging:a", "u", cooldown).is_ok());
        offset.store(4_000, Ordering::SeqCst);
        assert_eq!(
            slow.try_send(1, "messaging:a", "u", cooldown),
            Err(Duration::from_secs(6))
        );
        // Others, other channels and other apps are counted apart.
        assert!(slow.try_send(1, "messaging:a", "v", cooldown).is_ok());
        assert!(slow.try_send(1, "messaging:b", "u", cooldown).is_ok());
        assert!(slow.try_send(2, "messaging:a", "u", cooldown).is_ok());
        // A refused send does not restart the wait.
        offset.store(10_000, Ordering::SeqCst);
        assert!(slow.try_send(1, "messaging:a", "u", cooldown).is_ok());
        offset.store(19_999, Ordering::SeqCst);
        assert!(slow.try_send(1, "messaging:a", "u", cooldown).is_err());
    }
}
