//! What both backends' bulk import share: de-duplicated upsert rows, the keys a batch touched, thread summaries.

use crate::model::*;
use std::collections::{BTreeMap, BTreeSet};

/// The last occurrence of each key (a later record replaces an earlier one), in key order, so a
/// multi-row upsert never meets one key twice and concurrent writers lock rows in one order.
pub fn latest_by_key<'a, T>(items: &'a [T], key: impl Fn(&'a T) -> &'a str) -> Vec<&'a T> {
    let mut latest: BTreeMap<&str, &T> = BTreeMap::new();
    for item in items {
        latest.insert(key(item), item);
    }
    latest.into_values().collect()
}

/// The channels (every cid the batch names) and thread parents (every reply's parent) whose derived
/// fields need recomputing, each sorted and distinct.
pub fn touched(batch: &ImportBatch) -> (Vec<&str>, Vec<&str>) {
    let mut cids = BTreeSet::new();
    cids.extend(batch.channels.iter().map(|channel| channel.cid.as_str()));
    cids.extend(batch.members.iter().map(|member| member.cid.as_str()));
    cids.extend(batch.messages.iter().map(|message| message.cid.as_str()));
    let parents: BTreeSet<&str> = batch
        .messages
        .iter()
        .filter_map(|message| message.parent_id.as_deref())
        .collect();
    (cids.into_iter().collect(), parents.into_iter().collect())
}

/// A parent's derived thread fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadSummary {
    pub id: String,
    pub reply_count: i64,
    /// The parent's author first, then reply authors in reply order, each once (empty without replies).
    pub participants: Vec<String>,
}

/// Summaries of stored parents from `(id, author)` of each parent and `(parent_id, author)` of every
/// stored reply in reply order; parents that are not stored are left out.
pub fn thread_summaries(
    parents: Vec<(String, String)>,
    replies: Vec<(String, String)>,
) -> Vec<ThreadSummary> {
    let mut summaries: BTreeMap<String, ThreadSummary> = parents
        .into_iter()
        .map(|(id, author)| {
            (
                id.clone(),
                ThreadSummary {
                    id,
                    reply_count: 0,
                    participants: vec![author],
                },
            )
        })
        .collect();
    for (parent, author) in replies {
        if let Some(summary) = summaries.get_mut(&parent) {
            summary.reply_count += 1;
            if !summary.participants.contains(&author) {
                summary.participants.push(author);
            }
        }
    }
    summaries
        .into_values()
        .map(|mut summary| {
            if summary.reply_count == 0 {
                summary.participants.clear();
            }
            summary
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_owned(), b.to_owned())
    }

    #[test]
    fn participants_start_with_the_parent_author_and_keep_reply_order() {
        let summaries = thread_summaries(
            vec![pair("p", "ann"), pair("q", "bob"), pair("lonely", "cat")],
            vec![
                pair("p", "dan"),
                pair("p", "ann"),
                pair("p", "eve"),
                pair("p", "dan"),
                pair("q", "bob"),
                pair("unknown", "zed"),
            ],
        );
        assert_eq!(
            summaries,
            vec![
                ThreadSummary {
                    id: "lonely".into(),
                    reply_count: 0,
                    participants: vec![],
                },
                ThreadSummary {
                    id: "p".into(),
                    reply_count: 4,
                    participants: vec!["ann".into(), "dan".into(), "eve".into()],
                },
                ThreadSummary {
                    id: "q".into(),
                    reply_count: 1,
                    participants: vec!["bob".into()],
                },
            ]
        );
    }

    #[test]
    fn the_last_record_of_a_key_wins() {
        let items = [("b", 1), ("a", 2), ("b", 3)];
        let latest = latest_by_key(&items, |item| item.0);
        assert_eq!(latest, vec![&("a", 2), &("b", 3)]);
    }
}
