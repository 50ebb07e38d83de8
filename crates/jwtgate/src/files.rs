//! Owns how jwtgate creates what it keeps on disk: directories only its own user may enter
//! (0700) and files only its own user may read (0600). Must not import axum, sqlx or the domain.
//!
//! Why: the data directory holds the Argon2 hashes, the signing keys and, in development, mails
//! with live reset links. Created with the process umask (typically 022) they would be readable
//! by every local account.

use std::io::Write as _;
use std::path::Path;

/// Creates `dir` (and missing parents) as 0700. An existing directory is left as it is (see
/// [`warn_if_shared`]).
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes `contents` to a new file (never an existing one) readable only by the owner.
pub fn write_new_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Makes sure `path` exists and only its owner may read it: created empty as 0600 when
/// missing, narrowed to 0600 when it exists with wider rights (a database file made by an older
/// version). SQLite gives its `-wal` and `-shm` files the mode of the database file.
pub fn private_file(path: &Path) -> std::io::Result<()> {
    match write_new_private(path, b"") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => narrow(path),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn narrow(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        tracing::info!(file = %path.display(), "narrowed the file to its owner (was {mode:o})");
    }
    Ok(())
}

#[cfg(not(unix))]
fn narrow(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Warns when users other than the owner may list or enter `dir`.
pub fn warn_if_shared(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(dir) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    "the data directory is open to other local users (mode {mode:o}): \
                     it holds password hashes and keys; run chmod 700 on it"
                );
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
    }

    #[test]
    fn new_directories_and_files_are_the_owners_alone() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("a/b");
        private_dir(&dir).expect("dir");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        let file = dir.join("f");
        private_file(&file).expect("file");
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        private_file(&file).expect("narrowed");
        assert_eq!(mode(&file), 0o600);
    }
}
