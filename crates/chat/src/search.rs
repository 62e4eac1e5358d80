//! Message search (`GET /search`): a channel filter, a message filter or query text, sort and cursor pages.

use crate::cursor::{decode_offset, encode_offset};
use crate::render;
use crate::requests::Search;
use crate::{store_error, Actor, Chat, ChatResult};
use eddy_protocol::ApiError;
use eddy_query::{parse_filter, parse_sort, Filter, Op};
use eddy_store::{AppId, ChannelQuery, ListQuery};
use serde_json::{json, Value};
use std::collections::HashMap;

const OP: &str = "Search";
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 100;
const MAX_OFFSET: i64 = 1000;

/// Search cursors carry the offset of the page they point at.
const CURSOR_KIND: &str = "offset";

impl Chat {
    pub async fn search(&self, app: AppId, actor: &Actor, request: Search) -> ChatResult<Value> {
        let viewer = match actor {
            Actor::Server => {
                self.acting_user(app, actor, request.user_id.as_deref(), None)
                    .await?
            }
            _ => self.acting_user(app, actor, None, None).await?,
        };
        if request
            .filter_conditions
            .as_object()
            .is_none_or(|f| f.is_empty())
        {
            return Err(
                ApiError::input("filter_conditions (a channel filter) is required")
                    .in_operation(OP),
            );
        }
        let mut channel_filter =
            parse_filter(&request.filter_conditions, &eddy_store::schemas::CHANNELS)
                .map_err(|e| ApiError::input(format!("channel filter: {e}")).in_operation(OP))?;
        if let Actor::User(user) = actor {
            // Users search only the channels they belong to.
            let membership = Filter::Compare {
                field: "members".into(),
                op: Op::In,
                value: json!([user.id]),
            };
            channel_filter = Filter::And(vec![channel_filter, membership]);
        }
        if let Some(teams) = crate::teams::confined_teams(self.multi_tenant(app).await?, actor) {
            channel_filter = Filter::And(vec![
                channel_filter,
                crate::teams::channel_condition(&teams),
            ]);
        }
        let mut message_filters = Vec::new();
        if let Some(text) = request.query.as_deref().filter(|t| !t.trim().is_empty()) {
            message_filters.push(Filter::Compare {
                field: "text".into(),
                op: Op::Q,
                value: json!(text),
            });
        }
        if let Some(conditions) = &request.message_filter_conditions {
            let parsed = parse_filter(conditions, &eddy_store::schemas::MESSAGES)
                .map_err(|e| ApiError::input(format!("message filter: {e}")).in_operation(OP))?;
            message_filters.push(parsed);
        }
        if message_filters.is_empty() {
            return Err(
                ApiError::input("either query or message_filter_conditions is required")
                    .in_operation(OP),
            );
        }
        if let Some(viewer) = &viewer {
            // Messages posted under a shadow ban are found only by their author.
            message_filters.push(Filter::Or(vec![
                Filter::Compare {
                    field: "shadowed".into(),
                    op: Op::Ne,
                    value: json!(true),
                },
                Filter::Compare {
                    field: "user_id".into(),
                    op: Op::Eq,
                    value: json!(viewer.id),
                },
            ]));
        }
        let sort = parse_sort(
            request.sort.as_ref(),
            &[
                "relevance",
                "id",
                "created_at",
                "updated_at",
                "reply_count",
                "text",
            ],
            true,
        )
        .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        if request.offset.is_some_and(|o| o > 0) && (!sort.is_empty() || request.next.is_some()) {
            return Err(
                ApiError::input("offset cannot be used together with sort or next")
                    .in_operation(OP),
            );
        }
        let offset = match &request.next {
            Some(cursor) => decode_offset(CURSOR_KIND, cursor).ok_or_else(|| {
                ApiError::input("next is not a cursor this server issued").in_operation(OP)
            })?,
            None => request.offset.unwrap_or(0),
        };
        if request.next.is_none() && !(0..=MAX_OFFSET).contains(&offset) {
            return Err(
                ApiError::input(format!("offset must be between 0 and {MAX_OFFSET}"))
                    .in_operation(OP),
            );
        }
        let limit = request.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let channels = ChannelQuery {
            query: ListQuery {
                filter: channel_filter,
                sort: Vec::new(),
                limit: 500,
                offset: 0,
            },
            viewer: None,
            hidden: None,
        };
        let messages = ListQuery {
            filter: if message_filters.len() == 1 {
                message_filters.remove(0)
            } else {
                Filter::And(message_filters)
            },
            sort,
            // One more than a page, to know whether another page follows.
            limit: limit + 1,
            offset,
        };
        let mut found = self
            .store
            .search_messages(app, &channels, &messages)
            .await
            .map_err(store_error(OP))?;
        let more = found.len() as i64 > limit;
        found.truncate(limit as usize);
        let rendered = self.render_messages(app, &found, viewer.as_ref()).await?;
        let mut cids: Vec<String> = found.iter().map(|m| m.cid.clone()).collect();
        cids.sort();
        cids.dedup();
        let channel_rows = self
            .store
            .channels(app, &cids)
            .await
            .map_err(store_error(OP))?;
        let users = self
            .load_users(
                app,
                channel_rows
                    .iter()
                    .filter_map(|c| c.created_by.clone())
                    .collect(),
            )
            .await?;
        let mut channels_json: HashMap<String, Value> = HashMap::new();
        for channel in &channel_rows {
            let config = self.channel_type_config(app, &channel.kind, OP).await?;
            channels_json.insert(
                channel.cid.clone(),
                render::channel(channel, &config, &users, None),
            );
        }
        let results: Vec<Value> = found
            .iter()
            .zip(rendered)
            .map(|(message, mut json)| {
                json["channel"] = channels_json
                    .get(&message.cid)
                    .cloned()
                    .unwrap_or(Value::Null);
                json!({ "message": json })
            })
            .collect();
        let mut response = json!({ "results": results });
        if more {
            response["next"] = json!(encode_offset(CURSOR_KIND, offset + limit));
        }
        if offset > 0 {
            response["previous"] = json!(encode_offset(CURSOR_KIND, (offset - limit).max(0)));
        }
        Ok(response)
    }
}
