//! Signed checkpoints: the log's head (position and hash) signed with an Ed25519 key, so an auditor
//! holding one can tell a truncated, re-hashed or forked copy of the log from the one that was signed.
//!
//! The signed message is 56 bytes (integers big-endian):
//!
//! ```text
//! "RDXCKPT1" (8 ASCII bytes) | position u64 | hash 32 bytes | recorded_at i64 (ns since the Unix epoch, UTC)
//! ```
//!
//! `hash` is the chain hash of the event at `position` (ARCHITECTURE.md, "The audit hash chain"), and
//! `recorded_at` the instant the checkpoint was signed. The signature is plain Ed25519 (RFC 8032, not
//! the pre-hashed or context variants) over exactly those bytes, checkable with any Ed25519 library.

use crate::error::StoreError;
use crate::store::{EventStore, Head};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use redress_schemas::{Hash, Position, Timestamp, WrittenEvent};
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The tag in front of every signed checkpoint message; a new layout gets a new tag.
pub const CHECKPOINT_TAG: &[u8; 8] = b"RDXCKPT1";

/// The length of a signed checkpoint message.
pub const CHECKPOINT_MESSAGE_BYTES: usize = 8 + 8 + 32 + 8;

/// How often a server signs its head while events arrive, unless told otherwise.
pub const CHECKPOINT_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);

/// The most checkpoints a store keeps; older ones are deleted as new ones are saved (a week at one a
/// minute). An auditor keeps the checkpoints they fetched; the store's copy is a convenience.
pub const CHECKPOINTS_KEPT_MAX: u64 = 7 * 24 * 60;

/// The largest checkpoint file or key file read (a checkpoint is about 300 bytes of JSON).
pub const CHECKPOINT_FILE_BYTES_MAX: u64 = 4096;

/// An Ed25519 public key (32 bytes), shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        Hash(self.0).to_hex()
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<PublicKey> {
        Hash::from_hex(text.trim()).map(|h| PublicKey(h.0))
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Why a checkpoint, a key or a verification against a checkpoint failed.
///
/// A separate enum from [`StoreError`]: most variants are about evidence an auditor brings (a file),
/// not about the store. Handling: `Malformed` and `KeyFile` are bad input (fix the file); `BadSignature`,
/// `WrongKey` are failed evidence (the checkpoint proves nothing); `KeyMismatch` stops a server that
/// would sign with another key than the store's checkpoints (give it the store's key).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// A key file could not be read, created, or does not hold a key.
    #[error("signing key {path}: {reason}")]
    KeyFile { path: String, reason: String },
    /// A checkpoint (JSON or stored bytes) is not one; names the field.
    #[error("checkpoint {field}: {reason}")]
    Malformed { field: String, reason: String },
    /// The signature does not verify under the checkpoint's own public key: it was altered or forged.
    #[error("the checkpoint's signature does not verify under its public key {public_key}")]
    BadSignature { public_key: PublicKey },
    /// The checkpoint verifies, but under another key than the one the auditor trusts.
    #[error("the checkpoint is signed by {found}, not by the expected key {expected}")]
    WrongKey { expected: PublicKey, found: PublicKey },
    /// The store's latest checkpoint was signed by another key than this signer's.
    #[error(
        "the store's checkpoints are signed by {stored}, this server's key is {ours}: servers of one store \
         share one key (give the store's key with --signing-key)"
    )]
    KeyMismatch { stored: PublicKey, ours: PublicKey },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn malformed(field: &str, reason: impl Into<String>) -> CheckpointError {
    CheckpointError::Malformed { field: field.to_owned(), reason: reason.into() }
}

/// The bytes a checkpoint's signature covers (layout in the module documentation).
pub fn checkpoint_message(position: Position, hash: &Hash, recorded_at: Timestamp) -> [u8; CHECKPOINT_MESSAGE_BYTES] {
    let mut out = [0u8; CHECKPOINT_MESSAGE_BYTES];
    out[..8].copy_from_slice(CHECKPOINT_TAG);
    out[8..16].copy_from_slice(&position.0.to_be_bytes());
    out[16..48].copy_from_slice(&hash.0);
    out[48..].copy_from_slice(&recorded_at.unix_nanos().to_be_bytes());
    out
}

/// A signed head of the log: the event at `position` has chain hash `hash`, as the holder of
/// `public_key`'s private key said at `recorded_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub position: Position,
    pub hash: Hash,
    pub recorded_at: Timestamp,
    pub public_key: PublicKey,
    pub signature: [u8; 64],
}

/// The stored form: position u64 BE | hash | recorded_at i64 BE | public key | signature.
const STORED_BYTES: usize = 8 + 32 + 8 + 32 + 64;

impl Checkpoint {
    /// The message its signature covers.
    pub fn message(&self) -> [u8; CHECKPOINT_MESSAGE_BYTES] {
        checkpoint_message(self.position, &self.hash, self.recorded_at)
    }

    /// Checks the signature under the checkpoint's own key, and, when `trusted` is given, that the key
    /// is that one. Without a trusted key a valid signature only proves the checkpoint is unaltered.
    pub fn check_signature(&self, trusted: Option<&PublicKey>) -> Result<(), CheckpointError> {
        let bad = || CheckpointError::BadSignature { public_key: self.public_key };
        let key = VerifyingKey::from_bytes(&self.public_key.0).map_err(|_| bad())?;
        // `verify_strict` refuses the weak keys and non-canonical signatures plain `verify` lets through.
        key.verify_strict(&self.message(), &Signature::from_bytes(&self.signature)).map_err(|_| bad())?;
        match trusted {
            Some(expected) if *expected != self.public_key => {
                Err(CheckpointError::WrongKey { expected: *expected, found: self.public_key })
            }
            _ => Ok(()),
        }
    }

    /// The JSON of API.md: `{"position", "hash", "recorded_at", "public_key", "signature"}`, hex for bytes.
    pub fn to_json(&self) -> Value {
        json!({
            "position": self.position.0,
            "hash": self.hash.to_hex(),
            "recorded_at": self.recorded_at.to_rfc3339(),
            "public_key": self.public_key.to_hex(),
            "signature": hex(&self.signature),
        })
    }

    /// Parses the JSON of [`Checkpoint::to_json`]; unknown members are refused. The signature is not
    /// checked here ([`Checkpoint::check_signature`]).
    pub fn from_json(value: &Value) -> Result<Checkpoint, CheckpointError> {
        let Value::Object(map) = value else {
            return Err(malformed("file", "is not a JSON object"));
        };
        if let Some(unknown) =
            map.keys().find(|k| !matches!(k.as_str(), "position" | "hash" | "recorded_at" | "public_key" | "signature"))
        {
            return Err(malformed(unknown, "unknown field"));
        }
        let text = |field: &str| {
            map.get(field).and_then(Value::as_str).ok_or_else(|| malformed(field, "missing or not a string"))
        };
        let position = map
            .get("position")
            .and_then(Value::as_u64)
            .ok_or_else(|| malformed("position", "missing or not a non-negative integer"))?;
        let hash = Hash::from_hex(text("hash")?).ok_or_else(|| malformed("hash", "not 64 hex digits"))?;
        let recorded_at =
            Timestamp::parse(text("recorded_at")?).map_err(|e| malformed("recorded_at", e.to_string()))?;
        let public_key =
            PublicKey::from_hex(text("public_key")?).ok_or_else(|| malformed("public_key", "not 64 hex digits"))?;
        let signature = unhex::<64>(text("signature")?).ok_or_else(|| malformed("signature", "not 128 hex digits"))?;
        Ok(Checkpoint { position: Position(position), hash, recorded_at, public_key, signature })
    }

    /// The stored bytes (a sled value, a PostgreSQL `bytea`).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(STORED_BYTES);
        out.extend_from_slice(&self.position.0.to_be_bytes());
        out.extend_from_slice(&self.hash.0);
        out.extend_from_slice(&self.recorded_at.unix_nanos().to_be_bytes());
        out.extend_from_slice(&self.public_key.0);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Reads [`Checkpoint::encode`]'s bytes.
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        if bytes.len() != STORED_BYTES {
            return Err(malformed("record", format!("{} bytes, not {STORED_BYTES}", bytes.len())));
        }
        let take = |from: usize, to: usize| &bytes[from..to];
        let u64_at = |from: usize| u64::from_be_bytes(take(from, from + 8).try_into().expect("8 bytes"));
        Ok(Checkpoint {
            position: Position(u64_at(0)),
            hash: Hash(take(8, 40).try_into().expect("32 bytes")),
            recorded_at: Timestamp::from_unix_nanos(u64_at(40) as i64),
            public_key: PublicKey(take(48, 80).try_into().expect("32 bytes")),
            signature: take(80, 144).try_into().expect("64 bytes"),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.trim().as_bytes();
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in text.chunks(2).enumerate() {
        let digits = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(digits, 16).ok()?;
    }
    Some(out)
}

/// Reads a small file whole, refusing one larger than [`CHECKPOINT_FILE_BYTES_MAX`].
pub fn read_small_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?.take(CHECKPOINT_FILE_BYTES_MAX + 1).read_to_string(&mut text)?;
    if text.len() as u64 > CHECKPOINT_FILE_BYTES_MAX {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {CHECKPOINT_FILE_BYTES_MAX} bytes"),
        ));
    }
    Ok(text)
}

/// The private key a server signs checkpoints with.
pub struct CheckpointSigner {
    key: SigningKey,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        write!(f, "CheckpointSigner({})", self.public_key())
    }
}

impl CheckpointSigner {
    /// A signer with the 32-byte Ed25519 secret `seed`.
    pub fn from_seed(seed: [u8; 32]) -> CheckpointSigner {
        CheckpointSigner { key: SigningKey::from_bytes(&seed) }
    }

    /// Reads a key file: the 32-byte secret as 64 hex digits (surrounding white space ignored).
    pub fn load(path: &Path) -> Result<CheckpointSigner, CheckpointError> {
        let bad = |reason: String| CheckpointError::KeyFile { path: path.display().to_string(), reason };
        let text = read_small_file(path).map_err(|e| bad(e.to_string()))?;
        let seed =
            unhex::<32>(&text).ok_or_else(|| bad("does not hold 64 hex digits (an Ed25519 secret key)".into()))?;
        Ok(CheckpointSigner::from_seed(seed))
    }

    /// Reads the key file at `path`, or creates it with a new random key, readable by its owner only
    /// (mode 0600, created that way: never world-readable for an instant). Returns the signer and
    /// whether the key was created now.
    pub fn load_or_create(path: &Path) -> Result<(CheckpointSigner, bool), CheckpointError> {
        match std::fs::metadata(path) {
            Ok(_) => return Ok((CheckpointSigner::load(path)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CheckpointError::KeyFile { path: path.display().to_string(), reason: e.to_string() }),
        }
        let bad =
            |e: std::io::Error| CheckpointError::KeyFile { path: path.display().to_string(), reason: e.to_string() };
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| bad(std::io::Error::other(e.to_string())))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        use std::io::Write;
        let mut file = options.open(path).map_err(bad)?;
        file.write_all(format!("{}\n", hex(&seed)).as_bytes()).map_err(bad)?;
        file.sync_all().map_err(bad)?;
        Ok((CheckpointSigner::from_seed(seed), true))
    }

    /// The public key auditors check signatures with.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key().to_bytes())
    }

    /// Signs `head` as of `at`.
    pub fn sign(&self, head: Head, at: Timestamp) -> Checkpoint {
        let signature = self.key.sign(&checkpoint_message(head.position, &head.hash, at));
        Checkpoint {
            position: head.position,
            hash: head.hash,
            recorded_at: at,
            public_key: self.public_key(),
            signature: signature.to_bytes(),
        }
    }
}

/// Refuses to sign for `store` when its latest checkpoint was signed by another key (a server started
/// with the wrong key would otherwise start a second, competing sequence).
pub async fn check_signer(store: &dyn EventStore, signer: &CheckpointSigner) -> Result<(), CheckpointError> {
    match store.latest_checkpoint().await? {
        Some(latest) if latest.public_key != signer.public_key() => {
            Err(CheckpointError::KeyMismatch { stored: latest.public_key, ours: signer.public_key() })
        }
        _ => Ok(()),
    }
}

/// Signs the store's head unless the latest checkpoint already covers it, and returns the latest
/// checkpoint after that (`None` while the log is empty). Before signing it reads the head event back
/// and checks its hash: a checkpoint never signs a hash the log does not hold.
pub async fn checkpoint_now(
    store: &dyn EventStore,
    signer: &CheckpointSigner,
    now: Timestamp,
) -> Result<Option<Checkpoint>, CheckpointError> {
    let Some(head) = store.head().await? else { return Ok(None) };
    let latest = store.latest_checkpoint().await?;
    if let Some(latest) = &latest {
        if latest.public_key != signer.public_key() {
            return Err(CheckpointError::KeyMismatch { stored: latest.public_key, ours: signer.public_key() });
        }
        if latest.position >= head.position {
            return Ok(Some(latest.clone()));
        }
    }
    let stored = store.read_written(head.position, 1).await?;
    match stored.events.first() {
        Some(event) if event.header.position == head.position && event.header.hash == head.hash => {}
        _ => {
            return Err(CheckpointError::Store(StoreError::Corruption {
                position: head.position,
                reason: "the head's hash is not the hash of the event stored there; nothing signed".into(),
            }))
        }
    }
    Ok(Some(store.save_checkpoint(&signer.sign(head, now)).await?))
}

/// Signs the head every `interval` while it moves, until `shutdown` turns true. A failure is logged
/// and tried again at the next tick: checkpoints are evidence on top of the log, never a reason to
/// stop serving it.
pub async fn run_checkpoints(
    store: Arc<dyn EventStore>,
    signer: Arc<CheckpointSigner>,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if let Err(error) = checkpoint_now(&*store, &signer, Timestamp::now()).await {
                    tracing::warn!(%error, "signing a checkpoint failed; trying again at the next tick");
                }
            }
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// What an export says against a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointVerdict {
    /// The export holds the signed history: its event at the checkpoint's position has the signed hash.
    /// `events` is the export's length; those past the checkpoint are verified by the chain only.
    Anchored { events: u64, position: Position },
    /// The export ends before the signed position: events were cut off its end.
    Truncated { events: u64, position: Position },
    /// At the signed position the export's chain has another hash: it was edited and re-hashed, or
    /// it is another (forked) history.
    Diverged { position: Position, export_hash: Hash, signed_hash: Hash },
    /// The export's own chain is broken (as `verify --file` reports it).
    Broken { position: Position, reason: String },
}

impl CheckpointVerdict {
    /// Whether the export holds what the checkpoint signed.
    pub fn is_anchored(&self) -> bool {
        matches!(self, CheckpointVerdict::Anchored { .. })
    }
}

/// Verifies an export (as `verify_export`) and checks it against `checkpoint`, whose signature must
/// verify first (under `trusted` when given). `progress` is told the position reached now and then.
pub fn verify_export_against(
    reader: impl BufRead,
    checkpoint: &Checkpoint,
    trusted: Option<&PublicKey>,
    progress: impl FnMut(u64),
) -> Result<CheckpointVerdict, CheckpointError> {
    checkpoint.check_signature(trusted)?;
    let mut at_checkpoint = None;
    let chain = crate::chain::verify_export_observing(reader, progress, |event: &WrittenEvent| {
        if event.header.position == checkpoint.position {
            at_checkpoint = Some(event.header.hash);
        }
    })
    .map_err(|e| CheckpointError::Store(StoreError::from(e)))?;
    Ok(match chain {
        crate::chain::Verification::Broken { position, reason } => CheckpointVerdict::Broken { position, reason },
        crate::chain::Verification::Intact { events, .. } => match at_checkpoint {
            None => CheckpointVerdict::Truncated { events, position: checkpoint.position },
            Some(hash) if hash != checkpoint.hash => CheckpointVerdict::Diverged {
                position: checkpoint.position,
                export_hash: hash,
                signed_hash: checkpoint.hash,
            },
            Some(_) => CheckpointVerdict::Anchored { events, position: checkpoint.position },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> CheckpointSigner {
        CheckpointSigner::from_seed([7; 32])
    }

    fn head() -> Head {
        Head { position: Position(41), hash: Hash([0xab; 32]) }
    }

    fn at() -> Timestamp {
        Timestamp::parse("2026-11-27T13:00:00.123456789Z").unwrap()
    }

    #[test]
    fn a_checkpoint_round_trips_through_json_and_storage_and_verifies() {
        let checkpoint = signer().sign(head(), at());
        checkpoint.check_signature(Some(&signer().public_key())).unwrap();
        assert_eq!(Checkpoint::from_json(&checkpoint.to_json()).unwrap(), checkpoint);
        assert_eq!(Checkpoint::decode(&checkpoint.encode()).unwrap(), checkpoint);
    }

    #[test]
    fn any_change_to_a_signed_field_breaks_the_signature() {
        let checkpoint = signer().sign(head(), at());
        let changes: [&dyn Fn(&mut Checkpoint); 4] = [
            &|c| c.position = Position(40),
            &|c| c.hash.0[31] ^= 1,
            &|c| c.recorded_at = c.recorded_at.plus_seconds(1),
            &|c| c.signature[0] ^= 1,
        ];
        for change in changes {
            let mut altered = checkpoint.clone();
            change(&mut altered);
            assert!(matches!(altered.check_signature(None), Err(CheckpointError::BadSignature { .. })));
        }
    }

    #[test]
    fn another_key_verifies_only_its_own_signature_and_is_not_the_trusted_one() {
        let other = CheckpointSigner::from_seed([8; 32]).sign(head(), at());
        other.check_signature(None).expect("valid under its own key");
        assert!(matches!(other.check_signature(Some(&signer().public_key())), Err(CheckpointError::WrongKey { .. })));
        let mut swapped = other.clone();
        swapped.public_key = signer().public_key();
        assert!(matches!(swapped.check_signature(None), Err(CheckpointError::BadSignature { .. })));
    }

    #[test]
    fn the_message_is_the_documented_56_bytes() {
        let message = checkpoint_message(Position(0x0102), &Hash([0xcd; 32]), Timestamp::from_unix_nanos(-1));
        assert_eq!(&message[..8], b"RDXCKPT1");
        assert_eq!(&message[8..16], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&message[16..48], &[0xcd; 32]);
        assert_eq!(&message[48..], &[0xff; 8]);
    }

    #[test]
    fn malformed_checkpoint_json_names_the_field() {
        let good = signer().sign(head(), at()).to_json();
        let field = |value: Value| match Checkpoint::from_json(&value) {
            Err(CheckpointError::Malformed { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        for (name, bad) in [
            ("position", json!(-1)),
            ("hash", json!("xyz")),
            ("recorded_at", json!("yesterday")),
            ("public_key", json!("00")),
            ("signature", json!(7)),
        ] {
            let mut value = good.clone();
            value[name] = bad;
            assert_eq!(field(value), name);
        }
        let mut extra = good.clone();
        extra["note"] = json!("x");
        assert_eq!(field(extra), "note");
        assert_eq!(field(json!([1])), "file");
    }

    #[test]
    fn a_created_key_file_is_private_and_loads_back_as_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.key");
        let (created, fresh) = CheckpointSigner::load_or_create(&path).unwrap();
        assert!(fresh);
        let (loaded, again) = CheckpointSigner::load_or_create(&path).unwrap();
        assert_eq!((loaded.public_key(), again), (created.public_key(), false));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(CheckpointSigner::load(&path), Err(CheckpointError::KeyFile { .. })));
    }
}
