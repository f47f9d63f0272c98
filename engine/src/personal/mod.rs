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
//! enc:v2:<key id, 32 lowercase hex>:<base64 (standard alphabet, no padding) of nonce (12 bytes) ‖ ciphertext ‖ tag (16)>
//! ```
//!
//! `v2` is AES-256-GCM, written since 2026-11-27; `v1` (XChaCha20-Poly1305, a 24-byte nonce) was written
//! before and still opens. Both are AEADs with a 256-bit key; v2 replaced v1 because it opens a short text
//! about five times faster on a processor with AES instructions (BENCHMARKS.md, "Crypto-shredding"),
//! and every read opens every text.
//!
//! The key id is the first 16 bytes of SHA-256("redress-customer-key\0" ‖ customer_id), so a reader finds
//! the key from the text alone. The associated data, `"redress:<version>\0" ‖ key id ‖ "\0" ‖ event id (16
//! bytes) ‖ field name`, binds the format, the key id, the event id and the field: a sealed text moved to
//! another field, event or customer does not open. The nonce is synthetic: the first 12 (v1: 24) bytes of
//! SHA-256(key ‖ "redress-nonce-<version>\0" ‖ event id ‖ field ‖ "\0" ‖ plaintext). The same event sent
//! again (a retry with its event id) seals to the same bytes, so idempotent retries still compare equal;
//! two different plaintexts under one key share a nonce only by a collision of 96 bits of SHA-256, which
//! the number of texts one customer has keeps far out of reach (about 2^-60 for a million texts).

mod keys;
mod postgres;
mod store;

pub use keys::{FileKeyTable, KeyRecord, KeyState, KeyTable, KEY_CACHE_ENTRIES_MAX, STATE_KEY_PREFIX};
pub use postgres::PostgresKeyTable;
pub use store::ShreddableStore;

use aes_gcm::Aes256Gcm;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use redress_schemas::{EventData, EventId};
use sha2::{Digest, Sha256};
use std::fmt;

/// The prefix every sealed text starts with, whatever its format version; a publisher's text may not
/// start with it.
pub const SEALED_PREFIX: &str = "enc:v";

/// The prefix of the texts [`seal`] writes today.
pub const SEALED_PREFIX_CURRENT: &str = "enc:v2:";

/// Bytes of a data key (XChaCha20-Poly1305 takes 256 bits).
pub const DATA_KEY_BYTES: usize = 32;

/// The nonce of [`seal_bytes`] and of v1 texts (XChaCha20-Poly1305).
const NONCE_BYTES: usize = 24;
/// The nonce of v2 texts (AES-256-GCM).
const GCM_NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
const KEY_ID_BYTES: usize = 16;

/// The formats of a sealed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// XChaCha20-Poly1305, a 24-byte nonce: read, no longer written.
    V1,
    /// AES-256-GCM, a 12-byte nonce.
    V2,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::V1 => "v1",
            Format::V2 => "v2",
        }
    }

    fn nonce_bytes(self) -> usize {
        match self {
            Format::V1 => NONCE_BYTES,
            Format::V2 => GCM_NONCE_BYTES,
        }
    }
}

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
        KeyId::well_formed(text).then(|| KeyId(text.to_owned()))
    }

    fn well_formed(text: &str) -> bool {
        text.len() == 2 * KEY_ID_BYTES && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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

/// A map keyed by [`KeyId`] is looked up with the key id a [`Sealed`] text names, without a copy.
impl std::borrow::Borrow<str> for KeyId {
    fn borrow(&self) -> &str {
        &self.0
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

/// The associated data of a sealed text, built on the stack (every read builds one per text).
struct AssociatedData {
    bytes: [u8; AssociatedData::MAX],
    len: usize,
}

impl AssociatedData {
    /// "redress:vN\0" (11) ‖ key id (32) ‖ "\0" ‖ event id (16) ‖ a field name. The names are the
    /// schemas' own (at most 11 bytes); one longer than 64 would be cut, binding less, never failing.
    const MAX: usize = 11 + 2 * KEY_ID_BYTES + 1 + 16 + 64;

    fn new(format: Format, key_id: &str, event_id: &EventId, field: &str) -> AssociatedData {
        let mut aad = AssociatedData { bytes: [0; AssociatedData::MAX], len: 0 };
        for part in
            [b"redress:".as_slice(), format.name().as_bytes(), b"\0", key_id.as_bytes(), b"\0", event_id.as_bytes()]
        {
            aad.push(part);
        }
        aad.push(&field.as_bytes()[..field.len().min(64)]);
        aad
    }

    fn push(&mut self, part: &[u8]) {
        self.bytes[self.len..self.len + part.len()].copy_from_slice(part);
        self.len += part.len();
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Seals `plaintext`, the field `field` of event `event_id`, with `key` (the key `key_id` names), in
/// today's format (v2).
pub fn seal(key: &DataKey, key_id: &KeyId, event_id: &EventId, field: &str, plaintext: &str) -> String {
    seal_in(Format::V2, key, key_id, event_id, field, plaintext)
}

/// Seals `plaintext` in the v1 format (XChaCha20-Poly1305), as stores written before v2 hold it: for
/// tests that v1 texts still open.
#[doc(hidden)]
pub fn seal_v1(key: &DataKey, key_id: &KeyId, event_id: &EventId, field: &str, plaintext: &str) -> String {
    seal_in(Format::V1, key, key_id, event_id, field, plaintext)
}

fn seal_in(format: Format, key: &DataKey, key_id: &KeyId, event_id: &EventId, field: &str, plaintext: &str) -> String {
    let digest = Sha256::new()
        .chain_update(key.bytes())
        .chain_update(b"redress-nonce-")
        .chain_update(format.name())
        .chain_update(b"\0")
        .chain_update(event_id.as_bytes())
        .chain_update(field.as_bytes())
        .chain_update([0u8])
        .chain_update(plaintext.as_bytes())
        .finalize();
    let nonce = &digest[..format.nonce_bytes()];
    let aad = AssociatedData::new(format, key_id.as_str(), event_id, field);
    let payload = Payload { msg: plaintext.as_bytes(), aad: aad.bytes() };
    // Either AEAD encrypts any message below 64 GiB; events are bounded far below.
    let ciphertext = match format {
        Format::V1 => XChaCha20Poly1305::new(key.bytes().into()).encrypt(XNonce::from_slice(nonce), payload),
        Format::V2 => Aes256Gcm::new(key.bytes().into()).encrypt(nonce.into(), payload),
    }
    .expect("an event's text is far below an AEAD's message limit");
    let mut sealed = Vec::with_capacity(nonce.len() + ciphertext.len());
    sealed.extend_from_slice(nonce);
    sealed.extend_from_slice(&ciphertext);
    let body = base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed);
    format!("{SEALED_PREFIX}{}:{key_id}:{body}", &format.name()[1..])
}

/// A sealed text taken apart (nothing decoded yet): its format, the key id it names, its base64 body.
#[derive(Debug, Clone, Copy)]
pub struct Sealed<'a> {
    format: Format,
    key_id: &'a str,
    body: &'a str,
}

impl<'a> Sealed<'a> {
    /// Takes `text` apart: `None` when it is not sealed (plain text written before personal data was
    /// sealed, or by an event type without personal fields).
    pub fn parse(text: &'a str) -> Result<Option<Sealed<'a>>, SealError> {
        let Some(rest) = text.strip_prefix(SEALED_PREFIX) else { return Ok(None) };
        let (format, rest) = match rest.split_once(':') {
            Some(("1", rest)) => (Format::V1, rest),
            Some(("2", rest)) => (Format::V2, rest),
            _ => return Err(SealError::Malformed("an unknown format version")),
        };
        let (key_id, body) = rest.split_once(':').ok_or(SealError::Malformed("no key id"))?;
        if !KeyId::well_formed(key_id) {
            return Err(SealError::Malformed("a key id is 32 lowercase hex digits"));
        }
        Ok(Some(Sealed { format, key_id, body }))
    }

    /// The key id the text names (32 lowercase hex digits: a [`KeyId`] borrows as it).
    pub fn key_id(&self) -> &'a str {
        self.key_id
    }
}

/// The key id a sealed text names, or `None` when `text` is not sealed.
pub fn sealed_key_id(text: &str) -> Result<Option<KeyId>, SealError> {
    Ok(Sealed::parse(text)?.map(|sealed| KeyId(sealed.key_id.to_owned())))
}

/// One customer's key, its ciphers set up once to open many texts (a page of events holds many of
/// one customer).
pub struct OpeningKey {
    key: DataKey,
    gcm: Aes256Gcm,
}

impl OpeningKey {
    /// Sets up the ciphers of `key`.
    pub fn new(key: DataKey) -> OpeningKey {
        let gcm = Aes256Gcm::new(key.bytes().into());
        OpeningKey { key, gcm }
    }

    /// Opens `sealed` (either format), the field `field` of event `event_id`.
    pub fn open(&self, sealed: &Sealed<'_>, event_id: &EventId, field: &str) -> Result<String, SealError> {
        let format = sealed.format;
        let mut bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(sealed.body)
            .map_err(|_| SealError::Malformed("the body is not base64"))?;
        let nonce_bytes = format.nonce_bytes();
        if bytes.len() < nonce_bytes + TAG_BYTES {
            return Err(SealError::Malformed("shorter than a nonce and a tag"));
        }
        let aad = AssociatedData::new(format, sealed.key_id, event_id, field);
        let (nonce, rest) = bytes.split_at_mut(nonce_bytes);
        let (ciphertext, tag) = rest.split_at_mut(rest.len() - TAG_BYTES);
        let opened = match format {
            Format::V1 => {
                use chacha20poly1305::aead::AeadInPlace as _;
                XChaCha20Poly1305::new(self.key.bytes().into()).decrypt_in_place_detached(
                    XNonce::from_slice(nonce),
                    aad.bytes(),
                    ciphertext,
                    (&*tag).into(),
                )
            }
            Format::V2 => {
                use aes_gcm::aead::AeadInPlace as _;
                self.gcm.decrypt_in_place_detached((&*nonce).into(), aad.bytes(), ciphertext, (&*tag).into())
            }
        };
        opened.map_err(|_| SealError::Forged)?;
        let plain_end = bytes.len() - TAG_BYTES;
        bytes.truncate(plain_end);
        bytes.drain(..nonce_bytes);
        String::from_utf8(bytes).map_err(|_| SealError::Malformed("the plaintext is not UTF-8"))
    }
}

/// Opens a sealed text (either format) of field `field` of event `event_id` with `key`. To open many
/// texts of one key, set up an [`OpeningKey`] once.
pub fn open(key: &DataKey, event_id: &EventId, field: &str, sealed: &str) -> Result<String, SealError> {
    let parsed = Sealed::parse(sealed)?.ok_or(SealError::Malformed("no prefix"))?;
    OpeningKey::new(key.clone()).open(&parsed, event_id, field)
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

    type Sealer = fn(&DataKey, &KeyId, &EventId, &str, &str) -> String;

    #[test]
    fn a_sealed_text_of_either_format_opens_with_its_key_and_only_in_its_own_field_event_and_format() {
        let formats: [(Sealer, &str, &str); 2] = [(seal, "enc:v2:", "enc:v1:"), (seal_v1, "enc:v1:", "enc:v2:")];
        for (sealer, prefix, other) in formats {
            let key = DataKey::random();
            let key_id = KeyId::of_customer("K-1");
            let event = id();
            let sealed = sealer(&key, &key_id, &event, "description", "张三 13800138000 MARKER");
            assert!(sealed.starts_with(prefix) && !sealed.contains("MARKER"), "{sealed}");
            assert_eq!(sealed_key_id(&sealed).unwrap(), Some(key_id.clone()));
            assert_eq!(open(&key, &event, "description", &sealed).unwrap(), "张三 13800138000 MARKER");
            assert_eq!(open(&key, &event, "note", &sealed), Err(SealError::Forged), "moved to another field");
            assert_eq!(open(&key, &id(), "description", &sealed), Err(SealError::Forged), "moved to another event");
            assert_eq!(open(&DataKey::random(), &event, "description", &sealed), Err(SealError::Forged), "another key");
            let mut flipped = sealed.clone().into_bytes();
            let last = flipped.len() - 3;
            flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
            assert!(open(&key, &event, "description", &String::from_utf8(flipped).unwrap()).is_err());
            // Relabelled as the other format, the body does not open: the format is in the associated data.
            assert!(open(&key, &event, "description", &sealed.replacen(prefix, other, 1)).is_err());
        }
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
        assert!(sealed_key_id("enc:v9:0123456789abcdef0123456789abcdef:abc").is_err(), "an unknown format");
        assert_eq!(KeyId::of_customer("K-1"), KeyId::of_customer("K-1"));
        assert_ne!(KeyId::of_customer("K-1"), KeyId::of_customer("K-2"));
        assert!(KeyId::of_customer("K-1").pseudonym().starts_with("erased-"));
        assert!(!KeyId::of_customer("K-1").pseudonym().contains("K-1"));
    }
}
