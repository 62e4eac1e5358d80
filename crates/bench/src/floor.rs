//! The floor for W1/W3: a bare tokio-tungstenite broadcast server (no auth, no storage, no event JSON) run as `eddy-bench floor-server`.

use crate::Result;
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Frames queued per connection before the floor drops it (eddy's queue bound is of the same order).
const QUEUE: usize = 1024;

type Peers = Arc<Mutex<HashMap<u64, mpsc::Sender<Arc<str>>>>>;

/// Serves until stdin closes (the bench holds the other end), printing `EDDY_URL=` like eddy does.
pub async fn serve() -> Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("EDDY_URL=http://{}", listener.local_addr()?);
    // The parent keeps our stdin open; its end closing (the bench exits) ends the floor.
    let (gone_tx, mut gone) = mpsc::channel::<()>(1);
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        while let Ok(n) = std::io::stdin().read(&mut sink) {
            if n == 0 {
                break;
            }
        }
        let _ = gone_tx.blocking_send(());
    });
    let peers: Peers = Arc::new(Mutex::new(HashMap::new()));
    let next_id = Arc::new(AtomicU64::new(0));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(connection(stream, id, peers.clone()));
            }
            _ = gone.recv() => return Ok(()),
        }
    }
}

async fn connection(stream: TcpStream, id: u64, peers: Peers) {
    let _ = stream.set_nodelay(true);
    let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut source) = socket.split();
    let first = format!(r#"{{"type":"health.check","connection_id":"floor-{id}","me":{{}}}}"#);
    if sink.send(Message::Text(first)).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::channel::<Arc<str>>(QUEUE);
    peers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, tx);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if sink.send(Message::Text(frame.to_string())).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(frame)) = source.next().await {
        match frame {
            Message::Text(text) if text.contains("message.new") => {
                let shared: Arc<str> = text.into();
                let mut slow = Vec::new();
                let mut map = peers.lock().unwrap_or_else(|p| p.into_inner());
                for (peer, queue) in map.iter() {
                    if *peer != id && queue.try_send(shared.clone()).is_err() {
                        slow.push(*peer);
                    }
                }
                for peer in slow {
                    map.remove(&peer);
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    peers.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    writer.abort();
}
