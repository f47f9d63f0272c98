//! [`RecordedBy`]: who appended an event (EVENTS.md `recorded_by`, v1.1), stamped by the engine's caller
//! from the credential it authenticated, never taken from a publisher's body.
//!
//! Three forms, which cannot be mistaken for one another because a credential name holds no `:`:
//! - `<credential name>` — an HTTP token's name (`role:name:token`; a `role:token` entry is named by its role);
//! - `local:<os user>` — the command line, run by that operating-system user;
//! - [`RecordedBy::UNATTRIBUTED`] — a program that appended through the Rust API without naming anyone.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest `recorded_by`, in bytes.
pub const RECORDED_BY_BYTES_MAX: usize = 128;

/// The longest credential name (the `name` of `role:name:token`), in bytes.
pub const CREDENTIAL_NAME_BYTES_MAX: usize = 64;

/// Why a `recorded_by` or a credential name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordedByError {
    /// The name is empty.
    #[error("the name is empty")]
    Empty,
    /// The name is longer than its limit.
    #[error("the name is {actual} bytes, the limit is {limit}")]
    TooLong { limit: usize, actual: usize },
    /// A character outside the allowed set.
    #[error("the name contains {character:?}; allowed are {allowed}")]
    BadCharacter { character: char, allowed: &'static str },
}

/// Who appended an event: 1..=[`RECORDED_BY_BYTES_MAX`] bytes of `[A-Za-z0-9_.@:-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RecordedBy(String);

const RECORDED_BY_CHARS: &str = "A-Z a-z 0-9 _ . @ : -";
const CREDENTIAL_CHARS: &str = "A-Z a-z 0-9 _ . @ -";

fn check(text: &str, limit: usize, colon: bool, allowed: &'static str) -> Result<(), RecordedByError> {
    if text.is_empty() {
        return Err(RecordedByError::Empty);
    }
    if text.len() > limit {
        return Err(RecordedByError::TooLong { limit, actual: text.len() });
    }
    match text
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-') || (colon && c == ':')))
    {
        Some(character) => Err(RecordedByError::BadCharacter { character, allowed }),
        None => Ok(()),
    }
}

impl RecordedBy {
    /// What the engine stamps on an event appended through the Rust API without a name (tests, benches,
    /// embedding programs). The HTTP API and the command line always name the caller.
    pub const UNATTRIBUTED: &'static str = "engine:unattributed";

    /// A stored or exported `recorded_by`, checked against the general form.
    pub fn new(text: impl Into<String>) -> Result<RecordedBy, RecordedByError> {
        let text = text.into();
        check(&text, RECORDED_BY_BYTES_MAX, true, RECORDED_BY_CHARS)?;
        Ok(RecordedBy(text))
    }

    /// The name of a credential (an HTTP token): 1..=[`CREDENTIAL_NAME_BYTES_MAX`] bytes of
    /// `[A-Za-z0-9_.@-]` — no `:`, so no token can pass for `local:` or the engine.
    pub fn credential(name: &str) -> Result<RecordedBy, RecordedByError> {
        check(name, CREDENTIAL_NAME_BYTES_MAX, false, CREDENTIAL_CHARS)?;
        Ok(RecordedBy(name.to_owned()))
    }

    /// `local:<os user>` for the command line. Characters outside the allowed set become `_` and the
    /// name is cut to the limit, so any user name gives a valid value; an empty one is `local:unknown`.
    pub fn local(os_user: &str) -> RecordedBy {
        let room = RECORDED_BY_BYTES_MAX - "local:".len();
        let user: String = os_user
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-') { c } else { '_' })
            .take(room)
            .collect();
        let user = if user.is_empty() { "unknown".to_owned() } else { user };
        RecordedBy(format!("local:{user}"))
    }

    /// [`RecordedBy::UNATTRIBUTED`].
    pub fn unattributed() -> RecordedBy {
        RecordedBy(Self::UNATTRIBUTED.to_owned())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RecordedBy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RecordedBy::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names_are_bounded_and_hold_no_colon() {
        assert_eq!(RecordedBy::credential("callcenter-1").unwrap().as_str(), "callcenter-1");
        assert!(RecordedBy::credential("auditor.li@hq").is_ok());
        assert_eq!(RecordedBy::credential(""), Err(RecordedByError::Empty));
        assert!(matches!(
            RecordedBy::credential("local:root"),
            Err(RecordedByError::BadCharacter { character: ':', .. })
        ));
        assert!(matches!(RecordedBy::credential("a b"), Err(RecordedByError::BadCharacter { character: ' ', .. })));
        assert!(RecordedBy::credential(&"x".repeat(64)).is_ok());
        assert_eq!(RecordedBy::credential(&"x".repeat(65)), Err(RecordedByError::TooLong { limit: 64, actual: 65 }));
    }

    #[test]
    fn any_os_user_gives_a_valid_local_name() {
        assert_eq!(RecordedBy::local("li.wei").as_str(), "local:li.wei");
        assert_eq!(RecordedBy::local("李 伟").as_str(), "local:___");
        assert_eq!(RecordedBy::local("").as_str(), "local:unknown");
        let long = RecordedBy::local(&"u".repeat(500));
        assert_eq!(long.as_str().len(), RECORDED_BY_BYTES_MAX);
        for made in [RecordedBy::local("李 伟"), long, RecordedBy::unattributed()] {
            assert_eq!(RecordedBy::new(made.as_str()), Ok(made.clone()), "{made} reads back");
        }
    }

    #[test]
    fn stored_values_are_checked_on_read() {
        assert!(RecordedBy::new("local:root").is_ok());
        assert!(matches!(RecordedBy::new("a\nb"), Err(RecordedByError::BadCharacter { character: '\n', .. })));
        assert!(matches!(RecordedBy::new("x".repeat(129)), Err(RecordedByError::TooLong { limit: 128, .. })));
    }
}
