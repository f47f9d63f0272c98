//! Console sessions: a token signs in once, the browser then holds only a random session id in an
//! `HttpOnly` cookie. Sessions live in memory (a restart signs everyone out), are bounded in number,
//! expire, and carry the CSRF token every writing form must echo.

use super::super::auth::{generate_token, Role};
use redress_schemas::RecordedBy;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Sessions kept at most. Past it, signing in ends the session unused for longest: a signed-in user
/// can push others out, an anonymous client cannot (signing in needs a valid token).
pub const SESSIONS_MAX: usize = 10_000;
/// A session ends this long after sign-in, used or not (a working day).
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// A session ends after this long without a request.
pub const SESSION_IDLE_MAX: Duration = Duration::from_secs(3600);

/// Who a session belongs to, as a page sees it.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub role: Role,
    /// The credential's name: stamped as `recorded_by` (and the actor) on what the console writes.
    pub name: RecordedBy,
    /// The token a form must carry to write (compared in constant time).
    pub csrf: String,
}

impl SessionUser {
    /// Whether `given` is this session's CSRF token.
    pub fn csrf_matches(&self, given: &str) -> bool {
        given.len() == self.csrf.len() && bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

struct Entry {
    user: SessionUser,
    started: Instant,
    seen: Instant,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.started) >= SESSION_LIFETIME || now.duration_since(self.seen) >= SESSION_IDLE_MAX
    }
}

/// The live sessions, keyed by the SHA-256 of their id (a lookup leaks nothing of an id's bytes
/// through timing, and a memory dump holds no usable cookie).
#[derive(Default)]
pub struct Sessions {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Starts a session for `role`/`name`; returns its id (the cookie's value).
    pub fn start(&self, role: Role, name: RecordedBy) -> String {
        let id = generate_token();
        let now = Instant::now();
        let user = SessionUser { role, name, csrf: generate_token() };
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.retain(|_, entry| !entry.expired(now));
        if entries.len() >= SESSIONS_MAX {
            if let Some(oldest) = entries.iter().min_by_key(|(_, entry)| entry.seen).map(|(key, _)| *key) {
                entries.remove(&oldest);
            }
        }
        entries.insert(digest(&id), Entry { user, started: now, seen: now });
        debug_assert!(entries.len() <= SESSIONS_MAX);
        id
    }

    /// The session `id` names, if it is live (and marks it used).
    pub fn user(&self, id: &str) -> Option<SessionUser> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = digest(id);
        match entries.get_mut(&key) {
            Some(entry) if !entry.expired(now) => {
                entry.seen = now;
                Some(entry.user.clone())
            }
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session `id` (signing out).
    pub fn end(&self, id: &str) {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&digest(id));
    }

    /// Live sessions now (expired ones not yet swept may be counted).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    /// Whether no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> RecordedBy {
        RecordedBy::credential(text).unwrap()
    }

    #[test]
    fn a_started_session_is_found_by_its_id_only_and_ends_on_sign_out() {
        let sessions = Sessions::default();
        let id = sessions.start(Role::Auditor, name("auditor-li"));
        let user = sessions.user(&id).expect("live");
        assert_eq!(user.role, Role::Auditor);
        assert_eq!(user.name.as_str(), "auditor-li");
        assert!(sessions.user("not-a-session").is_none());
        assert!(user.csrf_matches(&user.csrf.clone()));
        assert!(!user.csrf_matches("forged"));
        assert!(!user.csrf_matches(""));
        sessions.end(&id);
        assert!(sessions.user(&id).is_none());
    }

    #[test]
    fn sessions_never_exceed_their_bound_and_the_longest_unused_goes_first() {
        let sessions = Sessions::default();
        let first = sessions.start(Role::Publisher, name("a"));
        let mut last = String::new();
        for _ in 0..SESSIONS_MAX {
            last = sessions.start(Role::Publisher, name("b"));
        }
        assert_eq!(sessions.len(), SESSIONS_MAX);
        assert!(sessions.user(&first).is_none(), "the oldest session was ended to make room");
        assert!(sessions.user(&last).is_some());
    }

    #[test]
    fn each_session_has_its_own_id_and_csrf_token() {
        let sessions = Sessions::default();
        let a = sessions.start(Role::Admin, name("x"));
        let b = sessions.start(Role::Admin, name("x"));
        assert_ne!(a, b);
        assert_ne!(sessions.user(&a).unwrap().csrf, sessions.user(&b).unwrap().csrf);
    }
}
