//! Owner-only files: the data directory (the embedded store, projection checkpoints, `admin.token`) and
//! exports hold complaint texts and credentials, so nothing Redress writes is readable by other users.
//!
//! Two layers: the `redress` binary sets the process umask to `0o077` first thing ([`restrict_umask`]),
//! which covers every file the embedded store creates later (sled creates its files with the umask);
//! and the places that create files here set the mode explicitly, so a library user gets the same.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The mode of every directory Redress creates: the owner may list, enter and write; nobody else.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every file Redress creates: the owner may read and write; nobody else.
pub const FILE_MODE: u32 = 0o600;
/// Directory levels [`create_private_dir`] walks down when it tightens what already exists (sled's
/// layout is two deep; the bound keeps a mistaken `--data-dir /` from walking a whole disk).
const TIGHTEN_DEPTH_MAX: usize = 4;

/// Sets the process umask so that every file and directory created from now on is owner-only.
/// Returns the previous mask.
pub fn restrict_umask() -> u32 {
    let group_and_others = rustix::fs::Mode::from_raw_mode(0o077);
    rustix::process::umask(group_and_others).as_raw_mode()
}

/// Creates `dir` (and its parents) with mode 0700 if absent. If it exists, removes group and other
/// permissions from it and from everything in it (a data directory made by an older version, or
/// under a looser umask), not following symbolic links.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
    tighten(dir, TIGHTEN_DEPTH_MAX)
}

/// Options that create a file with mode 0600 (an existing file keeps its mode: see [`create_private_dir`]).
pub fn private_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

fn tighten(path: &Path, depth_left: usize) -> io::Result<()> {
    let metadata = std::fs::symlink_metadata(path)?;
    if metadata.file_type().is_symlink() {
        return Ok(());
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, Permissions::from_mode(mode & 0o700))?;
    }
    if metadata.is_dir() && depth_left > 0 {
        for entry in std::fs::read_dir(path)? {
            tighten(&entry?.path(), depth_left - 1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_private_dir_is_0700_and_an_old_open_one_is_tightened_whole() {
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("a/b");
        create_private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);

        let old = root.path().join("old");
        std::fs::create_dir_all(old.join("blobs")).unwrap();
        std::fs::set_permissions(&old, Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(old.join("blobs"), Permissions::from_mode(0o775)).unwrap();
        std::fs::write(old.join("db"), b"x").unwrap();
        std::fs::set_permissions(old.join("db"), Permissions::from_mode(0o644)).unwrap();
        std::fs::write(old.join("blobs/1"), b"x").unwrap();
        std::fs::set_permissions(old.join("blobs/1"), Permissions::from_mode(0o666)).unwrap();
        create_private_dir(&old).unwrap();
        assert_eq!(
            [mode(&old), mode(&old.join("blobs")), mode(&old.join("db")), mode(&old.join("blobs/1"))],
            [0o700, 0o700, 0o600, 0o600]
        );
    }

    #[test]
    fn private_file_options_create_0600() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("export.jsonl");
        private_file_options().write(true).create_new(true).open(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
    }
}
