//! Background tasks (`task_id` + `GET /tasks/{id}`): run for real on the runtime, status kept in memory.

use chrono::Utc;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct TaskRegistry {
    tasks: Arc<Mutex<HashMap<String, Value>>>,
}

impl TaskRegistry {
    fn set(&self, id: &str, value: Value) {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), value);
    }

    /// Starts `work` in the background and returns its task id at once.
    pub fn spawn<F>(&self, work: F) -> String
    where
        F: std::future::Future<Output = Result<Value, String>> + Send + 'static,
    {
        let id = uuid::Uuid::new_v4().to_string();
        let created_at = eddy_protocol::time::format(&Utc::now());
        self.set(&id, json!({"task_id": id, "status": "pending", "created_at": created_at, "updated_at": created_at}));
        let registry = self.clone();
        let task_id = id.clone();
        tokio::spawn(async move {
            let outcome = work.await;
            let now = eddy_protocol::time::format(&Utc::now());
            let mut state =
                json!({"task_id": task_id, "created_at": created_at, "updated_at": now});
            match outcome {
                Ok(result) => {
                    state["status"] = json!("completed");
                    state["result"] = result;
                }
                Err(description) => {
                    state["status"] = json!("failed");
                    state["error"] = json!({"type": "error", "description": description});
                }
            }
            registry.set(&task_id, state);
        });
        id
    }

    pub fn get(&self, id: &str) -> Option<Value> {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }
}
