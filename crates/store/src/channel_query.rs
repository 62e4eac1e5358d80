//! The channel list (queryChannels) and message search statements, rendered once for both backends.
//!
//! A filter that names one member (`members: {$in: [user]}`, which every user's own query carries)
//! is answered from that user's member rows: the query walks the `members_by_user_recent` index
//! (user, channel's `last_message_at` newest first) and stops at the page's end, instead of sorting
//! every channel the user belongs to.

use crate::model::{AppId, ChannelQuery, ListQuery};
use crate::schemas::{CHANNELS, CHANNEL_SORT, MESSAGES};
use eddy_query::{
    render_filter, render_filter_for, render_sort_for, Bind, Dialect, Filter, Op, QueryError,
    Rendered, SortField, SqlTarget,
};
use serde_json::Value;

/// The channels a search looks in, at most (Stream: the channel filter selects up to 500).
pub const SEARCH_CHANNEL_LIMIT: i64 = 500;

/// The member-row copy of the channel's last message time, in the driven form.
const DRIVEN_LAST_MESSAGE_AT: SqlTarget = SqlTarget::Expr {
    sqlite: "d.channel_last_message_at",
    postgres: "d.channel_last_message_at",
};

/// A filter split into the one member it names (if any) and everything else.
struct ChannelSource {
    member: Option<String>,
    rest: Filter,
}

impl ChannelSource {
    fn of(filter: &Filter) -> Self {
        let mut conjuncts = Vec::new();
        flatten_and(filter, &mut conjuncts);
        let position = conjuncts
            .iter()
            .position(|part| single_member(part).is_some());
        match position {
            Some(index) => {
                let member = single_member(conjuncts[index]);
                // The same member named twice (a user's own filter plus the membership eddy adds)
                // is read once.
                let rest = conjuncts
                    .iter()
                    .filter(|part| single_member(part) != member)
                    .map(|part| (*part).clone())
                    .collect::<Vec<_>>();
                ChannelSource {
                    member,
                    rest: if rest.is_empty() {
                        Filter::All
                    } else {
                        Filter::And(rest)
                    },
                }
            }
            None => ChannelSource {
                member: None,
                rest: filter.clone(),
            },
        }
    }

    /// `FROM ... WHERE ...` over channels `c` (and the named member's rows `d`), ending inside the
    /// `WHERE` so callers may append conditions.
    fn render_from(
        &self,
        dialect: Dialect,
        viewer: Option<&str>,
        out: &mut Rendered,
    ) -> Result<(), QueryError> {
        let app = out.app.clone().unwrap_or_else(|| "c.app_id".into());
        match &self.member {
            Some(member) => {
                let member = out.bind(dialect, Bind::Text(member.clone()));
                out.sql.push_str(&format!(
                    "FROM members d JOIN channels c ON c.app_id = d.app_id AND c.cid = d.cid \
                     WHERE d.app_id = {app} AND d.user_id = {member} AND c.deleted_at IS NULL AND "
                ));
            }
            None => out.sql.push_str(&format!(
                "FROM channels c WHERE c.app_id = {app} AND c.deleted_at IS NULL AND "
            )),
        }
        render_filter_for(&self.rest, &CHANNELS, dialect, viewer, out)
    }

    /// The key that breaks ties and makes the order total.
    fn tie_break(&self) -> &'static str {
        if self.member.is_some() {
            "d.cid"
        } else {
            "c.cid"
        }
    }
}

fn flatten_and<'f>(filter: &'f Filter, out: &mut Vec<&'f Filter>) {
    match filter {
        Filter::And(parts) => parts.iter().for_each(|part| flatten_and(part, out)),
        Filter::All => {}
        other => out.push(other),
    }
}

/// The user of `members: {$in: [user]}` or `members: user`.
fn single_member(filter: &Filter) -> Option<String> {
    let Filter::Compare { field, op, value } = filter else {
        return None;
    };
    if field != "members" {
        return None;
    }
    match (op, value) {
        (Op::In, Value::Array(items)) if items.len() == 1 => items[0].as_str().map(str::to_owned),
        (Op::Eq, Value::String(user)) => Some(user.clone()),
        _ => None,
    }
}

/// `SELECT c.* ...` for one page of a channel query, sorted (default: `last_updated` descending),
/// ties broken by cid.
pub fn render_channel_query(
    dialect: Dialect,
    app: AppId,
    query: &ChannelQuery,
) -> Result<Rendered, QueryError> {
    let source = ChannelSource::of(&query.query.filter);
    let mut sql = Rendered::default();
    sql.bind_app(dialect, app);
    sql.sql.push_str("SELECT c.* ");
    source.render_from(dialect, query.viewer.as_deref(), &mut sql)?;
    if let (Some(viewer), Some(hidden)) = (&query.viewer, query.hidden) {
        let viewer = sql.bind(dialect, Bind::Text(viewer.clone()));
        let negation = if hidden { "" } else { "NOT " };
        let is_hidden = match dialect {
            Dialect::Sqlite => "h.hidden = 1",
            Dialect::Postgres => "h.hidden",
        };
        sql.sql.push_str(&format!(
            " AND {negation}EXISTS (SELECT 1 FROM members h WHERE h.app_id = c.app_id AND h.cid = c.cid AND h.user_id = {viewer} AND {is_hidden})"
        ));
    }
    sql.sql.push_str(" ORDER BY ");
    let default_sort = [SortField {
        field: "last_updated".into(),
        direction: -1,
    }];
    let sort: &[SortField] = if query.query.sort.is_empty() {
        &default_sort
    } else {
        &query.query.sort
    };
    let columns: Vec<(&str, SqlTarget)> = CHANNEL_SORT
        .iter()
        .map(|&(name, target)| match (name, &source.member) {
            ("last_message_at", Some(_)) => (name, DRIVEN_LAST_MESSAGE_AT),
            _ => (name, target),
        })
        .collect();
    render_sort_for(
        sort,
        &CHANNELS,
        &columns,
        dialect,
        query.viewer.as_deref(),
        &mut sql,
    )?;
    let limit = sql.bind(dialect, Bind::Int(query.query.limit));
    let offset = sql.bind(dialect, Bind::Int(query.query.offset));
    sql.sql.push_str(&format!(
        ", {} LIMIT {limit} OFFSET {offset}",
        source.tie_break()
    ));
    Ok(sql)
}

/// How a search meets its full-text condition (`text $q`). SQLite keeps no statistics on its
/// full-text index, so the SQLite backend chooses from two capped counts ([`choose_text_plan`]);
/// PostgreSQL's planner has statistics and always gets [`TextPlan::AsFiltered`]. Every plan
/// returns the same rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextPlan {
    /// The filter as rendered; the database plans the query.
    AsFiltered,
    /// Walk the matching rows (few), keep those in the searched channels, then sort.
    MatchesFirst,
    /// Walk the searched channels' messages, keep those in the set of matching rows (built once).
    ChannelMessagesInMatches,
    /// Walk the searched channels' messages (few), probing the full-text index for each.
    ProbeChannelMessages,
    /// Walk messages in the requested order, probing each in the searched channels until the page
    /// is full: cheap for common words, whose matches fill a page quickly.
    ProbeInOrder,
}

/// Up to this many matching rows are counted; at the cap a search's words count as common.
pub const COUNTED_MATCHES: i64 = 50_000;
/// Up to this many messages of the searched channels are counted.
pub const COUNTED_CHANNEL_MESSAGES: i64 = 50_000;

/// The cheapest plan by rough per-row costs measured on SQLite (microseconds: reading a matching
/// row by rowid 2, adding one to a match set 0.1, reading a channel's message 1, probing the
/// full-text index for one row 16), given the number of matching rows and of messages in the
/// searched channels, each counted up to its cap.
pub fn choose_text_plan(matches: i64, channel_messages: i64) -> TextPlan {
    let probe_channel_messages = 16 * channel_messages;
    if matches < COUNTED_MATCHES {
        let candidates = [
            (TextPlan::MatchesFirst, 2 * matches),
            (
                TextPlan::ChannelMessagesInMatches,
                matches / 10 + channel_messages,
            ),
            (TextPlan::ProbeChannelMessages, probe_channel_messages),
        ];
        candidates
            .into_iter()
            .min_by_key(|(_, cost)| *cost)
            .map_or(TextPlan::AsFiltered, |(plan, _)| plan)
    } else if probe_channel_messages <= 20_000 {
        TextPlan::ProbeChannelMessages
    } else {
        // Common words in busy channels: a page fills after a few probes. (Slow only when the
        // words are common elsewhere but rare in these channels.)
        TextPlan::ProbeInOrder
    }
}

/// The SQLite full-text probe for one message row; `{query}` is the bound FTS5 query.
const SQLITE_TEXT_PROBE: &str =
    "EXISTS (SELECT 1 FROM messages_fts f WHERE messages_fts MATCH {query} AND f.rowid = m.rowid)";
/// The SQLite set of matching rows; `{query}` is the bound FTS5 query.
const SQLITE_TEXT_MATCHES: &str = "SELECT rowid FROM messages_fts WHERE messages_fts MATCH {query}";

/// `SELECT m.* ...` for one page of a message search: messages of the (at most 500) channels the
/// channel filter selects, matching the message filter, in the search order, ties broken by id.
/// Plans other than `AsFiltered` need `text_query`, the FTS5 query of the filter's top-level
/// `text $q` ([`sqlite_text_query`]), which is then taken out of the filter and applied as the
/// plan says; without it every plan is `AsFiltered`.
pub fn render_search(
    dialect: Dialect,
    app: AppId,
    channels: &ChannelQuery,
    messages: &ListQuery,
    plan: TextPlan,
    text_query: Option<&str>,
) -> Result<Rendered, QueryError> {
    let source = ChannelSource::of(&channels.query.filter);
    let (plan, message_filter) = match text_query {
        Some(_) if plan != TextPlan::AsFiltered => (plan, without_text_search(&messages.filter)),
        _ => (TextPlan::AsFiltered, messages.filter.clone()),
    };
    let mut sql = Rendered::default();
    let app_param = sql.bind_app(dialect, app);
    let channel_ids = render_searched_channels(&source, dialect, &mut sql)?;
    let text = match text_query {
        Some(query) if plan != TextPlan::AsFiltered => {
            sql.bind(dialect, Bind::Text(query.to_owned()))
        }
        _ => String::new(),
    };
    let visible = "m.deleted_at IS NULL AND m.type <> 'system'";
    // CROSS JOIN keeps its left side as the outer loop (SQLite never reorders it).
    let (from, text_condition) = match plan {
        TextPlan::AsFiltered => (
            format!("messages m WHERE m.app_id = {app_param} AND m.cid IN ({channel_ids})"),
            String::new(),
        ),
        TextPlan::MatchesFirst => (
            format!(
                "({}) t CROSS JOIN messages m ON m.rowid = t.rowid \
                 WHERE m.app_id = {app_param} AND m.cid IN ({channel_ids})",
                SQLITE_TEXT_MATCHES.replace("{query}", &text)
            ),
            String::new(),
        ),
        TextPlan::ChannelMessagesInMatches => (
            format!("({channel_ids}) s CROSS JOIN messages m ON m.app_id = {app_param} AND m.cid = s.cid WHERE 1 = 1"),
            format!(
                " AND m.rowid IN ({})",
                SQLITE_TEXT_MATCHES.replace("{query}", &text)
            ),
        ),
        TextPlan::ProbeChannelMessages => (
            format!("({channel_ids}) s CROSS JOIN messages m ON m.app_id = {app_param} AND m.cid = s.cid WHERE 1 = 1"),
            format!(" AND {}", SQLITE_TEXT_PROBE.replace("{query}", &text)),
        ),
        TextPlan::ProbeInOrder => (
            format!("messages m WHERE m.app_id = {app_param} AND m.cid IN ({channel_ids})"),
            format!(" AND {}", SQLITE_TEXT_PROBE.replace("{query}", &text)),
        ),
    };
    sql.sql = format!("SELECT m.* FROM {from} AND {visible} AND ");
    render_filter(&message_filter, &MESSAGES, dialect, &mut sql)?;
    sql.sql.push_str(&text_condition);
    sql.sql.push_str(" ORDER BY ");
    crate::search_order::render_search_order(messages, dialect, &mut sql)?;
    let limit = sql.bind(dialect, Bind::Int(messages.limit));
    let offset = sql.bind(dialect, Bind::Int(messages.offset));
    sql.sql
        .push_str(&format!(", m.id LIMIT {limit} OFFSET {offset}"));
    Ok(sql)
}

/// `SELECT <cid> AS cid ...` of the channels a search looks in; binds go to `out`, the text is returned.
fn render_searched_channels(
    source: &ChannelSource,
    dialect: Dialect,
    out: &mut Rendered,
) -> Result<String, QueryError> {
    let outer = std::mem::replace(
        &mut out.sql,
        format!("SELECT {} AS cid ", source.tie_break()),
    );
    source.render_from(dialect, None, out)?;
    let channel_limit = out.bind(dialect, Bind::Int(SEARCH_CHANNEL_LIMIT));
    let channels = format!("{} LIMIT {channel_limit}", out.sql);
    out.sql = outer;
    Ok(channels)
}

/// How many messages the searched channels hold, counted up to `cap` (a cheap bound for choosing
/// a [`TextPlan`]).
pub fn render_searched_message_count(
    dialect: Dialect,
    app: AppId,
    channels: &ChannelQuery,
    cap: i64,
) -> Result<Rendered, QueryError> {
    let source = ChannelSource::of(&channels.query.filter);
    let mut sql = Rendered::default();
    let app_param = sql.bind_app(dialect, app);
    let channel_ids = render_searched_channels(&source, dialect, &mut sql)?;
    let cap = sql.bind(dialect, Bind::Int(cap));
    sql.sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM messages m WHERE m.app_id = {app_param} AND m.cid IN ({channel_ids}) LIMIT {cap}) AS counted"
    );
    Ok(sql)
}

/// The filter without its top-level `text $q` conditions (the caller probes the text instead).
fn without_text_search(filter: &Filter) -> Filter {
    let mut conjuncts = Vec::new();
    flatten_and(filter, &mut conjuncts);
    let rest: Vec<Filter> = conjuncts
        .into_iter()
        .filter(|part| !is_text_search(part))
        .cloned()
        .collect();
    if rest.is_empty() {
        Filter::All
    } else {
        Filter::And(rest)
    }
}

fn is_text_search(filter: &Filter) -> bool {
    matches!(filter, Filter::Compare { field, op: Op::Q, .. } if field == "text")
}

/// The FTS5 query of the filter's top-level `text $q` (each word quoted, all required), if it has
/// exactly one and it has words: what [`render_search`] probes under the probing plans.
pub fn sqlite_text_query(filter: &Filter) -> Option<String> {
    let mut conjuncts = Vec::new();
    flatten_and(filter, &mut conjuncts);
    let mut searches = conjuncts.into_iter().filter(|part| is_text_search(part));
    let Some(Filter::Compare { value, .. }) = searches.next() else {
        return None;
    };
    if searches.next().is_some() {
        return None;
    }
    eddy_query::fts5_query(value.as_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_query::parse_filter;
    use serde_json::json;

    #[test]
    fn text_plans_follow_the_counts() {
        // Figures of the W8 data set: a user's 500 searched channels hold ~5,000 messages.
        assert_eq!(choose_text_plan(50_000, 5_000), TextPlan::ProbeInOrder);
        assert_eq!(
            choose_text_plan(47_000, 5_000),
            TextPlan::ChannelMessagesInMatches
        );
        assert_eq!(
            choose_text_plan(5_000, 5_000),
            TextPlan::ChannelMessagesInMatches
        );
        // Rare words in very busy channels: read the matches.
        assert_eq!(choose_text_plan(2_000, 50_000), TextPlan::MatchesFirst);
        // Few messages to search: probe them, whatever the words.
        assert_eq!(
            choose_text_plan(50_000, 300),
            TextPlan::ProbeChannelMessages
        );
        assert_eq!(
            choose_text_plan(40_000, 100),
            TextPlan::ProbeChannelMessages
        );
        assert_eq!(choose_text_plan(0, 0), TextPlan::MatchesFirst);
    }

    #[test]
    fn one_member_drives_the_channel_query_once() {
        let filter = parse_filter(
            &json!({"$and": [{"members": {"$in": ["ann"]}}, {"type": "messaging"}, {"members": "ann"}]}),
            &CHANNELS,
        )
        .unwrap();
        let source = ChannelSource::of(&filter);
        assert_eq!(source.member.as_deref(), Some("ann"));
        assert_eq!(
            source.rest,
            Filter::And(vec![Filter::Compare {
                field: "type".into(),
                op: Op::Eq,
                value: json!("messaging"),
            }])
        );
        for undriven in [
            json!({"members": {"$in": ["ann", "bob"]}}),
            json!({"members": {"$eq": ["ann"]}}),
            json!({"$or": [{"members": {"$in": ["ann"]}}, {"type": "team"}]}),
        ] {
            let filter = parse_filter(&undriven, &CHANNELS).unwrap();
            assert_eq!(ChannelSource::of(&filter).member, None, "{undriven}");
        }
    }

    #[test]
    fn searches_render_every_plan_with_bound_words() {
        let channels = ChannelQuery {
            query: ListQuery {
                filter: parse_filter(&json!({"members": {"$in": ["ann"]}}), &CHANNELS).unwrap(),
                sort: Vec::new(),
                limit: 10,
                offset: 0,
            },
            viewer: Some("ann".into()),
            hidden: None,
        };
        let messages = ListQuery {
            filter: parse_filter(&json!({"text": {"$q": "hello"}}), &MESSAGES).unwrap(),
            sort: Vec::new(),
            limit: 25,
            offset: 0,
        };
        let query = sqlite_text_query(&messages.filter);
        assert_eq!(query.as_deref(), Some("\"hello\""));
        for plan in [
            TextPlan::MatchesFirst,
            TextPlan::ChannelMessagesInMatches,
            TextPlan::ProbeChannelMessages,
            TextPlan::ProbeInOrder,
        ] {
            let sql = render_search(
                Dialect::Sqlite,
                1,
                &channels,
                &messages,
                plan,
                query.as_deref(),
            )
            .unwrap();
            assert!(!sql.sql.contains("hello"), "{plan:?}: {}", sql.sql);
            assert_eq!(sql.sql.matches("MATCH").count(), 1, "{plan:?}: {}", sql.sql);
            assert!(
                sql.sql.contains("FROM members d JOIN channels c"),
                "{plan:?}"
            );
            assert!(
                sql.binds.contains(&Bind::Text("\"hello\"".into())),
                "{plan:?}"
            );
        }
    }
}
