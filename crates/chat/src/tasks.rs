//! Background tasks (`task_id` + `GET /tasks/{id}`): run for real on the runtime, status kept in memory
//! (the most recent `MAX_KEPT`; older finished tasks are forgotten).

use chrono::Utc;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Task states kept for `GET /tasks/{id}`.
const MAX_KEPT: usize = 10_000;

/// States by id, plus ids in creation order for forgetting the oldest.
#[derive(Default)]
struct TaskStates {
    states: HashMap<String, Value>,
    order: VecDeque<String>,
}

#[derive(Clone, Default)]
pub struct TaskRegistry {
    tasks: Arc<Mutex<TaskStates>>,
}

impl TaskRegistry {
    fn set(&self, id: &str, value: Value) {
        let mut guard = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        let TaskStates { states, order } = &mut *guard;
        if states.insert(id.to_owned(), value).is_none() {
            order.push_back(id.to_owned());
        }
        while order.len() > MAX_KEPT {
            // Forget the oldest finished task; a pending one stays (and is finished soon).
            let Some(position) = order
                .iter()
                .position(|old| states.get(old).is_some_and(|s| s["status"] != "pending"))
            else {
                break;
            };
            if let Some(old) = order.remove(position) {
                states.remove(&old);
            }
        }
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
            .states
            .get(id)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn settled(registry: &TaskRegistry, id: &str) -> Value {
        for _ in 0..100 {
            let state = registry.get(id).unwrap_or(Value::Null);
            if state["status"] != "pending" {
                return state;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Value::Null
    }

    #[tokio::test]
    async fn tasks_report_their_result_or_error() {
        let registry = TaskRegistry::default();
        let ok = registry.spawn(async { Ok(json!({"done": 1})) });
        let failed = registry.spawn(async { Err("no luck".to_owned()) });
        assert_eq!(ok.len(), 36);
        let ok_state = settled(&registry, &ok).await;
        assert_eq!(
            (ok_state["status"].clone(), ok_state["result"].clone()),
            (json!("completed"), json!({"done": 1}))
        );
        let failed_state = settled(&registry, &failed).await;
        assert_eq!(failed_state["status"], "failed");
        assert_eq!(failed_state["error"]["description"], "no luck");
        assert!(registry.get("unknown").is_none());
    }
}
