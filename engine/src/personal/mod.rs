//! Crypto-shredding of personal data (EVENTS.md "Personal data (v1.1)").
//!
//! Each customer has a random 256-bit data key in a [`KeyTable`] beside the log. The personal free-text
//! fields of complaint events ([`EventData::personal_texts_mut`]) are sealed with it (XChaCha20-Poly1305)
//! *before* the event reaches the writer, so the stored data, the canonical form the audit chain hashes
//! and every export hold only ciphertext. Erasing a customer destroys the key: the ciphertext stays, the
//! chain still verifies, and nothing can read the texts again.
//!
//! The stored form of a sealed text is one ASCII string, stable under canonical JSON:
//!
//! ```text
//! enc:v1:<key id, 32 lowercase hex>:<base64 (standard alphabet, no padding) of nonce (24 bytes) ‖ ciphertext ‖ tag (16)>
//! ```
//!
//! The key id is the first 16 bytes of SHA-256("redress-customer-key\0" ‖ customer_id), so a reader finds
//! the key from the text alone. The associated data binds the key id, the event id and the field name:
//! a sealed text moved to another field, event or customer does not open. The nonce is synthetic:
//! SHA-256(key ‖ "redress-nonce-v1\0" ‖ event id ‖ field ‖ "\0" ‖ plaintext), first 24 bytes. The same event
//! sent again (a retry with its event id) seals to the same bytes, so idempotent retries still compare
//! equal; two different plaintexts under one key never share a nonce, short of a SHA-256 collision.

mod keys;
mod postgres;
mod store;

pub use keys::{FileKeyTable, KeyRecord, KeyState, KeyTable, KEY_CACHE_ENTRIES_MAX, STATE_KEY_PREFIX};
pub use postgres::PostgresKeyTable;
pub use store::ShreddableStore;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use redress_schemas::{EventData, EventId};
use sha2::{Digest, Sha256};
use std::fmt;

/// The prefix of a sealed text; a publisher's text may not start with it.
pub const SEALED_PREFIX: &str = "enc:v1:";

/// Bytes of a data key (XChaCha20-Poly1305 takes 256 bits).
pub const DATA_KEY_BYTES: usize = 32;

const NONCE_BYTES: usize = 24;
const KEY_ID_BYTES: usize = 16;

/// One customer's data key. Its bytes are overwritten when it is dropped (best effort: copies the
/// allocator or the OS made earlier are out of reach).
#[derive(Clone)]
pub struct DataKey([u8; DATA_KEY_BYTES]);

impl DataKey {
    /// A fresh random key from the operating system's generator.
    pub fn random() -> DataKey {
        use chacha20poly1305::aead::OsRng;
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        DataKey(key.into())
    }

    /// The key with these bytes (read back from the key table or a key export).
    pub fn from_bytes(bytes: [u8; DATA_KEY_BYTES]) -> DataKey {
        DataKey(bytes)
    }

    /// The key's bytes, for the key table and `redress export --keys`.
    pub fn bytes(&self) -> &[u8; DATA_KEY_BYTES] {
        &self.0
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.0.zeroize();
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.write_str("DataKey(..)")
    }
}

/// Names the data key of one customer: derived from the customer id, 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// The key id of `customer_id`.
    pub fn of_customer(customer_id: &str) -> KeyId {
        let digest =
            Sha256::new().chain_update(b"redress-customer-key\0").chain_update(customer_id.as_bytes()).finalize();
        KeyId(hex(&digest[..KEY_ID_BYTES]))
    }

    /// Reads a key id: exactly 32 lowercase hex digits (it also names a file of the key table).
    pub fn parse(text: &str) -> Option<KeyId> {
        let ok = text.len() == 2 * KEY_ID_BYTES && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| KeyId(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What reads show in place of an erased customer's id: stable (the same for every event of that
    /// customer) and not the id itself.
    pub fn pseudonym(&self) -> String {
        format!("erased-{}", self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a sealed text does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The text starts with [`SEALED_PREFIX`] but is not a well-formed sealed text.
    /// Handling: stored data was damaged or forged; `verify` names where.
    #[error("a sealed text is malformed: {0}")]
    Malformed(&'static str),
    /// The key is there but the text does not open with it (changed bytes, or moved to another
    /// field or event). Handling: as `Malformed`.
    #[error("a sealed text does not open with its key (damaged, or moved from another field or event)")]
    Forged,
}

fn associated_data(key_id: &KeyId, event_id: &EventId, field: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64);
    aad.extend_from_slice(b"redress:v1\0");
    aad.extend_from_slice(key_id.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(event_id.as_bytes());
    aad.extend_from_slice(field.as_bytes());
    aad
}

/// Seals `plaintext`, the field `field` of event `event_id`, with `key` (the key `key_id` names).
pub fn seal(key: &DataKey, key_id: &KeyId, event_id: &EventId, field: &str, plaintext: &str) -> String {
    let digest = Sha256::new()
        .chain_update(key.bytes())
        .chain_update(b"redress-nonce-v1\0")
        .chain_update(event_id.as_bytes())
        .chain_update(field.as_bytes())
        .chain_update([0u8])
        .chain_update(plaintext.as_bytes())
        .finalize();
    let nonce = XNonce::from_slice(&digest[..NONCE_BYTES]);
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let aad = associated_data(key_id, event_id, field);
    let ciphertext = cipher
        .encrypt(nonce, Payload { msg: plaintext.as_bytes(), aad: &aad })
        .expect("XChaCha20-Poly1305 encrypts any message below 256 GiB; events are bounded far below");
    let mut sealed = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
    sealed.extend_from_slice(nonce);
    sealed.extend_from_slice(&ciphertext);
    format!("{SEALED_PREFIX}{key_id}:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed))
}

/// The key id a sealed text names, or `None` when `text` is not sealed (plain text written before
/// personal data was sealed, or by an event type without personal fields).
pub fn sealed_key_id(text: &str) -> Result<Option<KeyId>, SealError> {
    let Some(rest) = text.strip_prefix(SEALED_PREFIX) else { return Ok(None) };
    let (key_id, _) = rest.split_once(':').ok_or(SealError::Malformed("no key id"))?;
    KeyId::parse(key_id).map(Some).ok_or(SealError::Malformed("a key id is 32 lowercase hex digits"))
}

/// Opens a sealed text of field `field` of event `event_id` with `key`.
pub fn open(key: &DataKey, event_id: &EventId, field: &str, sealed: &str) -> Result<String, SealError> {
    let rest = sealed.strip_prefix(SEALED_PREFIX).ok_or(SealError::Malformed("no prefix"))?;
    let (key_id, body) = rest.split_once(':').ok_or(SealError::Malformed("no key id"))?;
    let key_id = KeyId::parse(key_id).ok_or(SealError::Malformed("a key id is 32 lowercase hex digits"))?;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(body)
        .map_err(|_| SealError::Malformed("the body is not base64"))?;
    if bytes.len() < NONCE_BYTES + 16 {
        return Err(SealError::Malformed("shorter than a nonce and a tag"));
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let aad = associated_data(&key_id, event_id, field);
    let plain = cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad })
        .map_err(|_| SealError::Forged)?;
    String::from_utf8(plain).map_err(|_| SealError::Malformed("the plaintext is not UTF-8"))
}

/// Seals `plaintext` with `key` under a random nonce, binding `aad`: nonce (24 bytes) ‖ ciphertext ‖ tag.
/// For state that is not an event (projection checkpoints), where no event id makes a nonce.
pub fn seal_bytes(key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    use chacha20poly1305::aead::{AeadCore, OsRng};
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let ciphertext = cipher
        .encrypt(&nonce, Payload { msg: plaintext, aad })
        .expect("XChaCha20-Poly1305 encrypts any message below 256 GiB; checkpoint values are far smaller");
    let mut sealed = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    sealed
}

/// Opens what [`seal_bytes`] sealed with `key` and `aad`.
pub fn open_bytes(key: &DataKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    if sealed.len() < NONCE_BYTES + 16 {
        return Err(SealError::Malformed("shorter than a nonce and a tag"));
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad }).map_err(|_| SealError::Forged)
}

/// Seals every personal text of `data` (an event of a complaint of `key_id`'s customer) in place.
/// Texts already sealed are refused by the caller before this runs.
pub fn seal_event(data: &mut EventData, key: &DataKey, key_id: &KeyId, event_id: &EventId) {
    for (field, text) in data.personal_texts_mut() {
        let sealed = seal(key, key_id, event_id, field, text);
        *text = sealed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> EventId {
        EventId::new_v7()
    }

    #[test]
    fn a_sealed_text_opens_with_its_key_and_only_in_its_own_field_and_event() {
        let key = DataKey::random();
        let key_id = KeyId::of_customer("K-1");
        let event = id();
        let sealed = seal(&key, &key_id, &event, "description", "张三 13800138000 MARKER");
        assert!(sealed.starts_with("enc:v1:") && !sealed.contains("MARKER"));
        assert_eq!(sealed_key_id(&sealed).unwrap(), Some(key_id.clone()));
        assert_eq!(open(&key, &event, "description", &sealed).unwrap(), "张三 13800138000 MARKER");
        assert_eq!(open(&key, &event, "note", &sealed), Err(SealError::Forged), "moved to another field");
        assert_eq!(open(&key, &id(), "description", &sealed), Err(SealError::Forged), "moved to another event");
        assert_eq!(open(&DataKey::random(), &event, "description", &sealed), Err(SealError::Forged), "another key");
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 3;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert!(open(&key, &event, "description", &String::from_utf8(flipped).unwrap()).is_err());
    }

    #[test]
    fn sealing_is_deterministic_per_event_so_a_retry_compares_equal() {
        let key = DataKey::random();
        let key_id = KeyId::of_customer("K-1");
        let event = id();
        let a = seal(&key, &key_id, &event, "note", "same");
        assert_eq!(a, seal(&key, &key_id, &event, "note", "same"));
        assert_ne!(a, seal(&key, &key_id, &id(), "note", "same"), "another event gets another nonce");
        assert_ne!(a, seal(&key, &key_id, &event, "note", "other"));
    }

    #[test]
    fn sealed_bytes_open_only_with_their_key_and_associated_data() {
        let key = DataKey::random();
        let sealed = seal_bytes(&key, b"key-1", b"MARKER state");
        assert!(!sealed.windows(6).any(|w| w == b"MARKER"));
        assert_eq!(open_bytes(&key, b"key-1", &sealed).unwrap(), b"MARKER state");
        assert_eq!(open_bytes(&key, b"key-2", &sealed), Err(SealError::Forged));
        assert_eq!(open_bytes(&DataKey::random(), b"key-1", &sealed), Err(SealError::Forged));
    }

    #[test]
    fn plain_and_malformed_texts_are_told_apart() {
        assert_eq!(sealed_key_id("a plain description"), Ok(None));
        assert!(sealed_key_id("enc:v1:nothex:abc").is_err());
        assert_eq!(KeyId::of_customer("K-1"), KeyId::of_customer("K-1"));
        assert_ne!(KeyId::of_customer("K-1"), KeyId::of_customer("K-2"));
        assert!(KeyId::of_customer("K-1").pseudonym().starts_with("erased-"));
        assert!(!KeyId::of_customer("K-1").pseudonym().contains("K-1"));
    }
}
