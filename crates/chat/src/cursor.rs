//! Opaque page cursors for offset-paged queries (search, threads): a query name and the page's offset, base64.

use base64::Engine;

/// The cursor of the page at `offset` of the query named `kind`.
pub(crate) fn encode_offset(kind: &str, offset: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{offset}"))
}

/// The offset in a cursor this server issued for `kind`; `None` for anything else.
pub(crate) fn decode_offset(kind: &str, cursor: &str) -> Option<i64> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(kind)?
        .strip_prefix(':')?
        .parse()
        .ok()
        .filter(|offset: &i64| *offset >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(
            decode_offset("offset", &encode_offset("offset", 40)),
            Some(40)
        );
        assert_eq!(
            decode_offset("threads", &encode_offset("threads", 20)),
            Some(20)
        );
        assert_eq!(decode_offset("threads", &encode_offset("offset", 20)), None);
        assert_eq!(decode_offset("offset", "not-a-cursor"), None);
        assert_eq!(
            decode_offset("threads", &encode_offset("threads", -5)),
            None
        );
    }
}
