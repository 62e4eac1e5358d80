//! Identifiers that validate on parse, so a value of these types is always well formed.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is invalid: {rule}")]
pub struct IdError {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

fn check(
    what: &'static str,
    value: &str,
    max_len: usize,
    allowed: fn(char) -> bool,
    rule: &'static str,
) -> Result<(), IdError> {
    if value.is_empty() || value.len() > max_len || !value.chars().all(allowed) {
        return Err(IdError {
            what,
            value: value.chars().take(80).collect(),
            rule,
        });
    }
    Ok(())
}

macro_rules! string_id {
    ($name:ident) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(UserId);
string_id!(ChannelTypeName);
string_id!(ChannelId);
string_id!(MessageId);
string_id!(Cid);

impl UserId {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check(
            "user id",
            value,
            255,
            |c| c.is_ascii_alphanumeric() || matches!(c, '@' | '_' | '-' | '.'),
            "1-255 characters of a-z, A-Z, 0-9, @, _, -, .",
        )?;
        Ok(UserId(value.to_owned()))
    }
}

impl ChannelTypeName {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check(
            "channel type",
            value,
            64,
            |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'),
            "1-64 characters of a-z, A-Z, 0-9, _, -",
        )?;
        Ok(ChannelTypeName(value.to_owned()))
    }
}

impl ChannelId {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check(
            "channel id",
            value,
            64,
            |c| c.is_ascii_alphanumeric() || matches!(c, '@' | '_' | '-' | '!' | '.'),
            "1-64 characters of a-z, A-Z, 0-9, @, _, -, !, .",
        )?;
        Ok(ChannelId(value.to_owned()))
    }
}

impl MessageId {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check(
            "message id",
            value,
            255,
            |c| !c.is_control() && c != ',' && c != '%',
            "1-255 characters without ',' or '%'",
        )?;
        Ok(MessageId(value.to_owned()))
    }
}

impl Cid {
    pub fn new(channel_type: &ChannelTypeName, id: &ChannelId) -> Self {
        Cid(format!("{channel_type}:{id}"))
    }

    /// Parses `type:id`.
    pub fn parse(value: &str) -> Result<(ChannelTypeName, ChannelId), IdError> {
        let invalid = || IdError {
            what: "cid",
            value: value.chars().take(80).collect(),
            rule: "the form type:id",
        };
        let (kind, id) = value.split_once(':').ok_or_else(invalid)?;
        Ok((ChannelTypeName::parse(kind)?, ChannelId::parse(id)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_follow_streams_charset() {
        assert!(UserId::parse("frodo-baggins").is_ok());
        assert!(UserId::parse("Alice@example.com").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("has space").is_err());
        assert!(UserId::parse("bang!").is_err());
        assert!(UserId::parse(&"x".repeat(256)).is_err());
    }

    #[test]
    fn cids_split_into_type_and_id() {
        let parsed = Cid::parse("messaging:general");
        assert!(
            matches!(parsed, Ok((ref t, ref i)) if t.as_str() == "messaging" && i.as_str() == "general")
        );
        assert!(Cid::parse("nocolon").is_err());
        assert!(Cid::parse("messaging:").is_err());
    }

    #[test]
    fn message_ids_refuse_commas_and_percent() {
        assert!(MessageId::parse("abc-123").is_ok());
        assert!(MessageId::parse("a,b").is_err());
        assert!(MessageId::parse("a%b").is_err());
    }
}
