//! The command line's audit evidence (v1.1): the server's signing key, `redress checkpoint`, and
//! `redress verify --file F --checkpoint C [--public-key K]`. Parse → call the engine → render.

use crate::cli::{say, CliError};
use redress_engine::{
    checkpoint_now, read_small_file, verify_export_against, Checkpoint, CheckpointError, CheckpointSigner,
    CheckpointVerdict, EventStore, PublicKey,
};
use redress_schemas::Timestamp;
use std::path::{Path, PathBuf};

/// Where a server keeps its signing key when `--signing-key` names none.
pub const SIGNING_KEY_FILE: &str = "checkpoint.key";

/// The flags `serve` and `checkpoint` share.
#[derive(Debug, Clone, clap::Args)]
pub struct SigningArgs {
    /// The Ed25519 key checkpoints are signed with (64 hex digits in a file, readable by its owner only).
    /// Default: <data-dir>/checkpoint.key, created on first use. Servers sharing a PostgreSQL store must
    /// be given the same key.
    #[arg(long, env = "REDRESS_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
}

impl SigningArgs {
    /// The signer these flags name: the given key file (which must exist), else the data directory's,
    /// created if absent. Says on standard error when it creates one, with its public key.
    pub fn signer(&self, data_dir: &Path) -> Result<CheckpointSigner, CliError> {
        let evidence = |e: CheckpointError| CliError::Failed(e.to_string());
        match &self.signing_key {
            Some(path) => CheckpointSigner::load(path).map_err(evidence),
            None => {
                crate::files::create_private_dir(data_dir)
                    .map_err(|e| CliError::Failed(format!("{}: {e}", data_dir.display())))?;
                let path = data_dir.join(SIGNING_KEY_FILE);
                let (signer, created) = CheckpointSigner::load_or_create(&path).map_err(evidence)?;
                if created {
                    tracing::info!(
                        public_key = %signer.public_key(),
                        "created the checkpoint signing key {} (owner-only): back it up, and give auditors the public key",
                        path.display()
                    );
                }
                Ok(signer)
            }
        }
    }
}

/// `redress checkpoint`: signs the head now (unless the latest checkpoint covers it), keeps it in the
/// store, and prints it as JSON — the file `verify --checkpoint` reads.
pub async fn checkpoint(store: &dyn EventStore, signer: &CheckpointSigner) -> Result<(), CliError> {
    match checkpoint_now(store, signer, Timestamp::now()).await {
        Ok(Some(checkpoint)) => {
            say!("{}", checkpoint.to_json());
            Ok(())
        }
        Ok(None) => Err(CliError::Failed("no checkpoint: the log is empty".into())),
        Err(CheckpointError::Store(e)) => Err(CliError::Store(e)),
        Err(other) => Err(CliError::Failed(other.to_string())),
    }
}

/// Reads a checkpoint file; a file that is not one is bad input (exit 1), named with its field.
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint, CliError> {
    let context = |e: &dyn std::fmt::Display| CliError::Failed(format!("checkpoint {}: {e}", path.display()));
    let text = read_small_file(path).map_err(|e| context(&e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| context(&e))?;
    Checkpoint::from_json(&value).map_err(|e| context(&e))
}

/// A `--public-key`: 64 hex digits, or a file holding them.
pub fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    if let Some(key) = PublicKey::from_hex(text) {
        return Ok(key);
    }
    let from_file = read_small_file(Path::new(text))
        .map_err(|e| format!("{text:?}: not 64 hex digits, nor a readable file ({e})"))?;
    PublicKey::from_hex(&from_file)
        .ok_or_else(|| format!("{text}: does not hold 64 hex digits (an Ed25519 public key)"))
}

/// `redress verify --file F --checkpoint C [--public-key K]`: exit 0 when the export holds the signed
/// history, 3 when the signature fails or the export is truncated, re-hashed, forked or broken.
pub fn verify_file_against(file: &Path, checkpoint: &Path, trusted: Option<&PublicKey>) -> Result<(), CliError> {
    let checkpoint = read_checkpoint(checkpoint)?;
    let handle = std::fs::File::open(file).map_err(|e| CliError::Failed(format!("{}: {e}", file.display())))?;
    let verdict = match verify_export_against(std::io::BufReader::new(handle), &checkpoint, trusted, |_| {}) {
        Ok(verdict) => verdict,
        Err(e @ (CheckpointError::BadSignature { .. } | CheckpointError::WrongKey { .. })) => {
            return Err(CliError::Evidence(e.to_string()))
        }
        Err(e) => return Err(CliError::Failed(format!("{}: {e}", file.display()))),
    };
    let signed = format!(
        "the checkpoint at position {} signed {} by {}",
        checkpoint.position, checkpoint.recorded_at, checkpoint.public_key
    );
    match verdict {
        CheckpointVerdict::Anchored { events, position } => {
            say!("ok: {events} events; {signed} matches the export");
            let after = events - (position.0 + 1);
            if after > 0 {
                say!("note: the {after} events after position {position} are checked by the chain only");
            }
            if trusted.is_none() {
                say!(
                    "note: no --public-key given: the checkpoint is intact, but only the server's published key \
                     proves who signed it"
                );
            }
            Ok(())
        }
        CheckpointVerdict::Truncated { events, .. } => Err(CliError::Verification {
            position: events,
            reason: format!(
                "the export ends after {events} events but {signed}: events were removed from its end (truncated)"
            ),
        }),
        CheckpointVerdict::Diverged { position, export_hash, signed_hash } => Err(CliError::Verification {
            position: position.0,
            reason: format!(
                "the export's hash there is {export_hash}, the checkpoint signed {signed_hash}: the export was \
                 re-hashed after an edit, or is another (forked) history"
            ),
        }),
        CheckpointVerdict::Broken { position, reason } => Err(CliError::Verification { position: position.0, reason }),
    }
}
