//! The single-node bus: a tokio broadcast channel; publishing never blocks and never fails while the node lives.

use crate::{Bus, BusError, Envelope, Subscription};
use std::sync::Arc;
use tokio::sync::broadcast;

pub struct InProcessBus {
    sender: broadcast::Sender<Arc<Envelope>>,
}

impl InProcessBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        InProcessBus { sender }
    }
}

#[async_trait::async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError> {
        // No subscriber (no node hub yet) is not an error: nobody is connected.
        let _ = self.sender.send(Arc::new(envelope));
        Ok(())
    }

    fn subscribe(&self) -> Subscription {
        Subscription {
            receiver: self.sender.subscribe(),
        }
    }
}
