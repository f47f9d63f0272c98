//! Bearer tokens and roles. Tokens are kept only as SHA-256 digests and compared in constant time
//! against every known token; they are never logged.

use redress_schemas::{RecordedBy, RecordedByError};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;
use subtle::ConstantTimeEq;

/// What a token may do. `Admin` ⊇ everything; `Publisher` writes and reads; `Auditor` reads and audits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Publisher,
    Auditor,
    Admin,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Append events: publisher, admin.
    Write,
    /// Read the log and the read models: every role.
    Read,
    /// Verify and replay history: auditor, admin.
    Audit,
    /// Rebuild projections: admin.
    Admin,
}

impl Role {
    /// Whether this role grants `access`.
    pub fn grants(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Role::Admin, _) | (_, Access::Read) | (Role::Publisher, Access::Write) | (Role::Auditor, Access::Audit)
        )
    }

    /// The name of a `role:token` entry, which has none of its own: the role.
    fn credential_name(self) -> RecordedBy {
        RecordedBy::credential(&self.to_string()).expect("a role's name is a valid credential name")
    }

    fn parse(name: &str) -> Option<Role> {
        match name.trim() {
            "publisher" => Some(Role::Publisher),
            "auditor" => Some(Role::Auditor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Publisher => "publisher",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        })
    }
}

/// Why a token configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error(
        "token entry {entry}: expected <role>:<token> or <role>:<name>:<token> with role publisher, auditor or admin"
    )]
    BadEntry { entry: usize },
    /// The `name` of a `role:name:token` entry is not a credential name (it becomes every event's `recorded_by`).
    #[error("token entry {entry}: bad name: {error} (1..=64 bytes of A-Z a-z 0-9 _ . @ -)")]
    BadName { entry: usize, error: RecordedByError },
    #[error("token entry {entry}: a token must be at least {min} characters")]
    TooShort { entry: usize, min: usize },
    #[error("tokens file {path}: {error}")]
    File { path: String, error: std::io::Error },
}

/// The shortest token accepted.
pub const TOKEN_CHARS_MIN: usize = 16;

/// What a token is: its role, and its name — stamped as `recorded_by` on every event it appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub role: Role,
    pub name: RecordedBy,
}

/// The known tokens, as digests with their credentials.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<([u8; 32], Credential)>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokens({} configured)", self.entries.len())
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Tokens {
    /// Parses `role:name:token` and `role:token` entries separated by commas or new lines (`#` starts a
    /// comment line). An entry without a name is named by its role. With two or more `:`, the part between
    /// the first two is the name, so a token that itself holds `:` must be given with a name.
    pub fn parse(text: &str) -> Result<Tokens, TokenError> {
        let mut entries = Vec::new();
        let items = text.split([',', '\n']).map(str::trim).filter(|item| !item.is_empty() && !item.starts_with('#'));
        for (entry, item) in items.enumerate() {
            let (role, rest) = item.split_once(':').ok_or(TokenError::BadEntry { entry })?;
            let role = Role::parse(role).ok_or(TokenError::BadEntry { entry })?;
            let (name, token) = match rest.split_once(':') {
                Some((name, token)) => {
                    (RecordedBy::credential(name.trim()).map_err(|error| TokenError::BadName { entry, error })?, token)
                }
                None => (role.credential_name(), rest),
            };
            let token = token.trim();
            if token.chars().count() < TOKEN_CHARS_MIN {
                return Err(TokenError::TooShort { entry, min: TOKEN_CHARS_MIN });
            }
            entries.push((digest(token), Credential { role, name }));
        }
        Ok(Tokens { entries })
    }

    /// Reads a tokens file in the same format.
    pub fn from_file(path: &Path) -> Result<Tokens, TokenError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| TokenError::File { path: path.display().to_string(), error })?;
        Tokens::parse(&text)
    }

    /// One admin token, named `admin`.
    pub fn single_admin(token: &str) -> Tokens {
        Tokens { entries: vec![(digest(token), Credential { role: Role::Admin, name: Role::Admin.credential_name() })] }
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The role of `token`, comparing against every entry in constant time.
    pub fn role_of(&self, token: &str) -> Option<Role> {
        self.credential_of(token).map(|credential| credential.role)
    }

    /// The credential of `token` (role and name), comparing against every entry in constant time.
    pub fn credential_of(&self, token: &str) -> Option<Credential> {
        let presented = digest(token);
        let mut found = None;
        for (known, credential) in &self.entries {
            if bool::from(known.ct_eq(&presented)) {
                found = Some(credential);
            }
        }
        found.cloned()
    }
}

/// The token of an `Authorization: Bearer <token>` header value. The scheme name is case-insensitive
/// (RFC 9110 §11.1: `bearer x` is as good as `Bearer x`); `None` for another scheme or an empty token.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim_start().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A new random token (256 bits from the OS, hex).
pub fn generate_token() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    format!("{}{}", a.simple(), b.simple())
}

/// The admin token kept in `<data-dir>/admin.token` (created with mode 0600 if absent).
/// Returns the token and whether it was created now (then the caller prints it once).
pub fn admin_token_file(data_dir: &Path) -> std::io::Result<(String, bool)> {
    let path = data_dir.join("admin.token");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok((text.trim().to_owned(), false)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    crate::files::create_private_dir(data_dir)?;
    let token = generate_token();
    use std::io::Write;
    let mut file = crate::files::private_file_options().write(true).create(true).truncate(true).open(&path)?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok((token, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_api_says() {
        use Access::*;
        assert!(Role::Publisher.grants(Write) && Role::Publisher.grants(Read));
        assert!(!Role::Publisher.grants(Audit) && !Role::Publisher.grants(Admin));
        assert!(Role::Auditor.grants(Read) && Role::Auditor.grants(Audit));
        assert!(!Role::Auditor.grants(Write) && !Role::Auditor.grants(Admin));
        assert!([Write, Read, Audit, Admin].into_iter().all(|a| Role::Admin.grants(a)));
    }

    #[test]
    fn tokens_parse_and_match_only_exactly() {
        let tokens =
            Tokens::parse("admin:aaaaaaaaaaaaaaaa1, publisher:pppppppppppppppp1\n# c\nauditor:uuuuuuuuuuuuuuuu1")
                .unwrap();
        assert_eq!(tokens.role_of("aaaaaaaaaaaaaaaa1"), Some(Role::Admin));
        assert_eq!(tokens.role_of("pppppppppppppppp1"), Some(Role::Publisher));
        assert_eq!(tokens.role_of("uuuuuuuuuuuuuuuu1"), Some(Role::Auditor));
        assert_eq!(tokens.role_of("aaaaaaaaaaaaaaaa"), None);
        assert_eq!(tokens.role_of(""), None);
    }

    #[test]
    fn named_entries_carry_their_name_and_unnamed_ones_are_named_by_their_role() {
        let tokens = Tokens::parse(
            "publisher:callcenter:pppppppppppppppp1\nauditor:auditor-li:uuuuuuuuuuuuuuuu1, admin:aaaaaaaaaaaaaaaa1",
        )
        .unwrap();
        let named = |token: &str| tokens.credential_of(token).map(|c| (c.role, c.name.as_str().to_owned()));
        assert_eq!(named("pppppppppppppppp1"), Some((Role::Publisher, "callcenter".into())));
        assert_eq!(named("uuuuuuuuuuuuuuuu1"), Some((Role::Auditor, "auditor-li".into())));
        assert_eq!(named("aaaaaaaaaaaaaaaa1"), Some((Role::Admin, "admin".into())));
        assert_eq!(named("callcenter:pppppppppppppppp1"), None, "the name is not part of the token");
    }

    #[test]
    fn bad_names_are_refused_with_their_entry() {
        for text in [
            "publisher::pppppppppppppppp1",
            "publisher:call center:pppppppppppppppp1",
            &format!("publisher:{}:pppppppppppppppp1", "n".repeat(65)),
            "admin:aaaaaaaaaaaaaaaa1\npublisher:呼叫中心:pppppppppppppppp1",
        ] {
            let err = Tokens::parse(text).err().unwrap_or_else(|| panic!("{text:?} was accepted"));
            assert!(matches!(err, TokenError::BadName { .. }), "{text:?}: {err}");
        }
        let err = Tokens::parse("admin:aaaaaaaaaaaaaaaa1\npublisher:a b:pppppppppppppppp1").err().unwrap();
        assert!(err.to_string().starts_with("token entry 1: bad name"), "{err}");
        assert!(matches!(Tokens::parse("publisher:callcenter:short"), Err(TokenError::TooShort { .. })));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_not_bearer() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "  bEaReR   abc  ", "Bearer\tabc"] {
            assert_eq!(bearer_token(value), Some("abc"), "{value:?}");
        }
        for value in ["Basic abc", "Bearer", "Bearer   ", "Bearerabc", "abc", ""] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(matches!(Tokens::parse("root:xxxxxxxxxxxxxxxxxxxx"), Err(TokenError::BadEntry { entry: 0 })));
        assert!(matches!(Tokens::parse("admin:short"), Err(TokenError::TooShort { .. })));
        assert!(matches!(Tokens::parse("admin"), Err(TokenError::BadEntry { .. })));
    }

    #[test]
    fn the_generated_admin_token_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let (token, created) = admin_token_file(dir.path()).unwrap();
        assert!(created && token.len() == 64);
        let (again, created_again) = admin_token_file(dir.path()).unwrap();
        assert_eq!((again.as_str(), created_again), (token.as_str(), false));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("admin.token")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
