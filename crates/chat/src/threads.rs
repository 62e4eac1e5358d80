//! Threads (`POST /threads`, `GET/PATCH /threads/{id}`): thread parents the user takes part in, with replies, participants and read state.

use crate::channels::ChannelContext;
use crate::cursor::{decode_offset, encode_offset};
use crate::events::channel_event;
use crate::render;
use crate::requests::{GetThread, QueryThreads, UpdateThreadPartial};
use crate::{store_error, Actor, Chat, ChatResult};
use chrono::Utc;
use eddy_bus::Audience;
use eddy_protocol::ApiError;
use eddy_query::{parse_filter, parse_sort};
use eddy_store::{AppId, ListQuery, Member, Message, MessagePage, User};
use serde_json::{json, Map, Value};

const DEFAULT_LIMIT: i64 = 10;
const MAX_LIMIT: i64 = 100;
const DEFAULT_REPLY_LIMIT: i64 = 2;
const MAX_REPLY_LIMIT: i64 = 10;
const DEFAULT_PARTICIPANT_LIMIT: i64 = 100;
/// Thread title and custom data live in the parent message's document under this key.
pub(crate) const THREAD_DATA_KEY: &str = "thread";
/// Keys of a thread that `PATCH /threads/{id}` may not set.
const RESERVED_THREAD_KEYS: &[&str] = &[
    "created_at",
    "id",
    "last_message_at",
    "type",
    "updated_at",
    "user",
    "reply_count",
    "participants",
    "channel",
    "custom",
];

/// Thread cursors carry the offset of the page they point at.
const CURSOR_KIND: &str = "threads";

/// How much of each thread to show.
#[derive(Debug, Clone, Copy)]
struct ThreadShape {
    reply_limit: i64,
    participant_limit: i64,
}

impl ThreadShape {
    fn new(reply_limit: Option<i64>, participant_limit: Option<i64>) -> Self {
        ThreadShape {
            reply_limit: reply_limit
                .unwrap_or(DEFAULT_REPLY_LIMIT)
                .clamp(0, MAX_REPLY_LIMIT),
            participant_limit: participant_limit
                .unwrap_or(DEFAULT_PARTICIPANT_LIMIT)
                .clamp(0, DEFAULT_PARTICIPANT_LIMIT),
        }
    }
}

impl Chat {
    pub async fn query_threads(
        &self,
        app: AppId,
        actor: &Actor,
        request: QueryThreads,
        connection_id: Option<&str>,
    ) -> ChatResult<Value> {
        const OP: &str = "QueryThreads";
        let viewer = self
            .thread_viewer(app, actor, request.user_id.as_deref(), OP)
            .await?;
        let filter = parse_filter(&request.filter, &eddy_store::schemas::THREADS)
            .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        let sort = parse_sort(
            request.sort.as_ref(),
            &eddy_store::schemas::THREAD_SORT
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>(),
            false,
        )
        .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(
                ApiError::input(format!("limit must be between 1 and {MAX_LIMIT}"))
                    .in_operation(OP),
            );
        }
        let cursor = request.next.as_deref().or(request.prev.as_deref());
        let offset = match cursor {
            Some(cursor) => decode_offset(CURSOR_KIND, cursor).ok_or_else(|| {
                ApiError::input("next/prev is not a cursor this server issued").in_operation(OP)
            })?,
            None => 0,
        };
        let query = ListQuery {
            filter,
            sort,
            // One more than a page, to know whether another page follows.
            limit: limit + 1,
            offset,
        };
        let mut parents = self
            .store
            .query_threads(app, &viewer.id, &query)
            .await
            .map_err(store_error(OP))?;
        let more = parents.len() as i64 > limit;
        parents.truncate(limit as usize);
        let shape = ThreadShape::new(request.reply_limit, request.participant_limit);
        let mut threads = Vec::with_capacity(parents.len());
        for parent in &parents {
            let context = self
                .channel_context(app, &parent.cid, Some(&viewer), OP)
                .await?;
            if request.watch {
                self.watch_channel(app, &context.channel, Some(&viewer), connection_id)
                    .await;
            }
            threads.push(
                self.thread_state(app, parent, &context, &viewer, shape)
                    .await?,
            );
        }
        let mut response = json!({ "threads": threads });
        if more {
            response["next"] = json!(encode_offset(CURSOR_KIND, offset + limit));
        }
        if offset > 0 {
            response["prev"] = json!(encode_offset(CURSOR_KIND, (offset - limit).max(0)));
        }
        Ok(response)
    }

    pub async fn get_thread(
        &self,
        app: AppId,
        actor: &Actor,
        message_id: &str,
        request: GetThread,
        connection_id: Option<&str>,
    ) -> ChatResult<Value> {
        const OP: &str = "GetThread";
        let viewer = self
            .thread_viewer(app, actor, request.user_id.as_deref(), OP)
            .await?;
        let (parent, context) = self
            .thread_parent(app, actor, message_id, &viewer, OP)
            .await?;
        if request.watch {
            self.watch_channel(app, &context.channel, Some(&viewer), connection_id)
                .await;
        }
        let shape = ThreadShape::new(request.reply_limit, request.participant_limit);
        let thread = self
            .thread_state(app, &parent, &context, &viewer, shape)
            .await?;
        Ok(json!({ "thread": thread }))
    }

    pub async fn update_thread_partial(
        &self,
        app: AppId,
        actor: &Actor,
        message_id: &str,
        request: UpdateThreadPartial,
    ) -> ChatResult<Value> {
        const OP: &str = "UpdateThreadPartial";
        let viewer = self
            .thread_viewer(app, actor, request.user_id.as_deref(), OP)
            .await?;
        if let Some(key) = request
            .set
            .keys()
            .chain(request.unset.iter())
            .find(|key| RESERVED_THREAD_KEYS.contains(&key.as_str()))
        {
            return Err(ApiError::input(format!(
                "thread field {key:?} is reserved and cannot be changed"
            ))
            .in_operation(OP));
        }
        let (mut parent, context) = self
            .thread_parent(app, actor, message_id, &viewer, OP)
            .await?;
        let is_author = parent.user_id == viewer.id;
        self.require(
            &context,
            actor,
            Some(&viewer),
            "update-thread",
            is_author,
            OP,
        )
        .or_else(|_| {
            self.require(
                &context,
                actor,
                Some(&viewer),
                "update-message",
                is_author,
                OP,
            )
        })?;
        let mut data = thread_data(&parent);
        for (key, value) in request.set {
            data.insert(key, value);
        }
        for key in &request.unset {
            data.remove(key);
        }
        data.insert(
            "updated_at".into(),
            json!(eddy_protocol::time::format(&Utc::now())),
        );
        crate::users::check_size("thread", &data).map_err(|e| e.in_operation(OP))?;
        parent
            .doc
            .insert(THREAD_DATA_KEY.into(), Value::Object(data));
        let parent = self
            .store
            .update_message(app, &parent)
            .await
            .map_err(store_error(OP))?;
        let shape = ThreadShape::new(None, None);
        let thread = self
            .thread_state(app, &parent, &context, &viewer, shape)
            .await?;
        let mut event = channel_event("thread.updated", &context.channel);
        event.insert("thread".into(), thread.clone());
        self.publish(
            app,
            vec![Audience::Watchers {
                cid: context.channel.cid.clone(),
            }],
            event,
            Vec::new(),
        )
        .await;
        Ok(json!({ "thread": thread }))
    }

    /// The user a thread request is for: the token user, or `user_id` on server-side calls.
    async fn thread_viewer(
        &self,
        app: AppId,
        actor: &Actor,
        user_id: Option<&str>,
        operation: &'static str,
    ) -> ChatResult<User> {
        let viewer = match actor {
            Actor::Server => self.acting_user(app, actor, user_id, None).await?,
            _ => self.acting_user(app, actor, None, None).await?,
        };
        viewer.ok_or_else(|| {
            ApiError::input("user_id is required for server-side thread requests")
                .in_operation(operation)
        })
    }

    /// A thread's parent message and channel, readable by the viewer.
    async fn thread_parent(
        &self,
        app: AppId,
        actor: &Actor,
        message_id: &str,
        viewer: &User,
        operation: &'static str,
    ) -> ChatResult<(Message, ChannelContext)> {
        let parent = self
            .store
            .message(app, message_id)
            .await
            .map_err(store_error(operation))?
            .filter(|message| message.parent_id.is_none() && message.deleted_at.is_none())
            .ok_or_else(|| {
                ApiError::not_found(format!("thread {message_id} not found"))
                    .in_operation(operation)
            })?;
        let context = self
            .channel_context(app, &parent.cid, Some(viewer), operation)
            .await?;
        let owner = context.channel.created_by.as_deref() == Some(viewer.id.as_str());
        self.require(
            &context,
            actor,
            Some(viewer),
            "read-channel",
            owner,
            operation,
        )?;
        Ok((parent, context))
    }

    /// Stream's ThreadState for one parent, as `viewer` sees it.
    async fn thread_state(
        &self,
        app: AppId,
        parent: &Message,
        context: &ChannelContext,
        viewer: &User,
        shape: ThreadShape,
    ) -> ChatResult<Value> {
        const OP: &str = "Thread";
        // One read serves both: the newest replies, ascending, end with the latest one.
        let page = MessagePage {
            limit: shape.reply_limit.max(1),
            ..MessagePage::default()
        };
        let mut replies = self
            .store
            .replies(app, &parent.id, &page)
            .await
            .map_err(store_error(OP))?;
        let last_message_at = replies.last().map(|reply| reply.created_at);
        if shape.reply_limit == 0 {
            replies.clear();
        }
        // Shadowed replies are shown to their author only.
        replies.retain(|reply| !crate::bans::hidden_from(reply, Some(viewer)));
        let mut rendered = self
            .render_messages(
                app,
                &std::iter::once(parent.clone())
                    .chain(replies.iter().cloned())
                    .collect::<Vec<_>>(),
                Some(viewer),
            )
            .await?;
        let parent_json = rendered.remove(0);
        let participant_ids: Vec<String> = parent
            .thread_participants
            .iter()
            .take(shape.participant_limit as usize)
            .cloned()
            .collect();
        let members = self
            .store
            .members_of(app, std::slice::from_ref(&parent.cid), None)
            .await
            .map_err(store_error(OP))?;
        let mut user_ids = participant_ids.clone();
        user_ids.push(parent.user_id.clone());
        user_ids.extend(members.iter().map(|m| m.user_id.clone()));
        if let Some(creator) = &context.channel.created_by {
            user_ids.push(creator.clone());
        }
        let users = self.load_users(app, user_ids).await?;
        let participants: Vec<Value> = participant_ids
            .iter()
            .map(|user_id| {
                json!({
                    "channel_cid": parent.cid,
                    "thread_id": parent.id,
                    "user_id": user_id,
                    "user": users.get(user_id),
                    "created_at": eddy_protocol::time::format(&parent.created_at),
                    "last_thread_message_at": last_message_at.as_ref().map(eddy_protocol::time::format),
                    "left_thread_at": Value::Null,
                    "last_read_at": members
                        .iter()
                        .find(|m| &m.user_id == user_id)
                        .map(|m| eddy_protocol::time::format(&m.last_read)),
                })
            })
            .collect();
        let read: Vec<Value> = members
            .iter()
            .filter(|member| participant_ids.contains(&member.user_id))
            .map(|member| thread_read(member, &replies, &users))
            .collect();
        let data = thread_data(parent);
        let mut channel = render::channel(
            &context.channel,
            &context.config,
            &users,
            Some((viewer, context.membership.as_ref())),
        );
        channel["members"] = Value::Array(
            members
                .iter()
                .map(|member| render::member(member, &users))
                .collect(),
        );
        let mut state = Map::new();
        state.insert("channel_cid".into(), json!(parent.cid));
        state.insert("channel".into(), channel);
        state.insert("parent_message_id".into(), json!(parent.id));
        state.insert("parent_message".into(), parent_json);
        state.insert("created_by_user_id".into(), json!(parent.user_id));
        state.insert("created_by".into(), users.get(&parent.user_id));
        state.insert("reply_count".into(), json!(parent.reply_count));
        state.insert(
            "participant_count".into(),
            json!(parent.thread_participants.len()),
        );
        state.insert(
            "active_participant_count".into(),
            json!(parent.thread_participants.len()),
        );
        state.insert("thread_participants".into(), Value::Array(participants));
        state.insert("latest_replies".into(), Value::Array(rendered));
        state.insert("read".into(), Value::Array(read));
        state.insert(
            "title".into(),
            data.get("title").cloned().unwrap_or_else(|| json!("")),
        );
        let custom: Map<String, Value> = data
            .iter()
            .filter(|(key, _)| !matches!(key.as_str(), "title" | "updated_at"))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        state.insert("custom".into(), Value::Object(custom.clone()));
        // Legacy clients read custom thread data flattened.
        for (key, value) in custom {
            state.entry(key).or_insert(value);
        }
        state.insert(
            "last_message_at".into(),
            json!(last_message_at.as_ref().map(eddy_protocol::time::format)),
        );
        state.insert(
            "created_at".into(),
            json!(eddy_protocol::time::format(&parent.created_at)),
        );
        let updated_at = data
            .get("updated_at")
            .cloned()
            .unwrap_or_else(|| json!(eddy_protocol::time::format(&parent.updated_at)));
        state.insert("updated_at".into(), updated_at);
        state.insert("deleted_at".into(), Value::Null);
        Ok(Value::Object(state))
    }
}

/// Title and custom data of a thread.
fn thread_data(parent: &Message) -> Map<String, Value> {
    parent
        .doc
        .get(THREAD_DATA_KEY)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// A participant's read state of a thread: threads share their channel's read state, so replies by
/// others after the member last read the channel are unread.
fn thread_read(member: &Member, replies: &[Message], users: &render::Users) -> Value {
    let unread = replies
        .iter()
        .filter(|reply| reply.user_id != member.user_id && reply.created_at > member.last_read)
        .count();
    json!({
        "user": users.get(&member.user_id),
        "last_read": eddy_protocol::time::format(&member.last_read),
        "last_read_message_id": member.last_read_message_id,
        "unread_messages": unread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_clamped_to_streams_limits() {
        let shape = ThreadShape::new(Some(50), Some(1000));
        assert_eq!(shape.reply_limit, MAX_REPLY_LIMIT);
        assert_eq!(shape.participant_limit, DEFAULT_PARTICIPANT_LIMIT);
        let defaults = ThreadShape::new(None, None);
        assert_eq!(defaults.reply_limit, DEFAULT_REPLY_LIMIT);
    }
}
