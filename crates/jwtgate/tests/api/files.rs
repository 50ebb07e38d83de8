//! What jwtgate keeps on disk is readable by its own user only.
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use jwtgate::Clock;

use crate::cli::{jwtgate, text};
use crate::helpers::{START, boot, test_settings};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Every directory and file under `dir`, with its mode.
fn tree(dir: &Path, into: &mut Vec<(String, u32)>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        into.push((path.display().to_string(), mode(&path)));
        if path.is_dir() {
            tree(&path, into);
        }
    }
}

#[tokio::test]
async fn a_new_data_directory_and_everything_in_it_belong_to_the_owner_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("fresh").join("data");
    let app = boot(test_settings(data_dir.clone()), Clock::manual(START), None).await;
    // A registration mails a verification link into the development outbox.
    app.register("ada@example.com").await;
    app.verify_token_for("ada@example.com").await;

    assert_eq!(mode(&tmp.path().join("fresh")), 0o700);
    assert_eq!(mode(&data_dir), 0o700);
    let mut entries = Vec::new();
    tree(&data_dir, &mut entries);
    let names: Vec<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
    for expected in [
        "jwtgate.db",
        "jwtgate.db-wal",
        "jwtgate.db-shm",
        "outbox",
        ".eml",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(expected)),
            "{expected} in {names:?}"
        );
    }
    for (path, mode) in &entries {
        let wanted = if Path::new(path).is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(*mode, wanted, "{path} is {mode:o}");
    }
}

#[test]
fn an_existing_data_directory_open_to_others_is_named_in_a_warning() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let dir_arg = dir.display().to_string();
    let out = jwtgate(&["migrate", "--data-dir", &dir_arg], &[], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = text(&out.stderr);
    assert!(
        log.contains("open to other local users") && log.contains(&dir_arg),
        "{log}"
    );
    // The database it made in there is the owner's alone all the same.
    assert_eq!(mode(&dir.join("jwtgate.db")), 0o600);
}
