use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use spintemp_admin::keys::{self, KeyFiles};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn writes_a_private_key_only_its_owner_can_read() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(".spin/keys");
    let pair = keys::generate();

    let written = keys::write(&pair, &dir, false).expect("write keys");
    let files = written.files;
    assert!(!written.kept_pair);

    assert_eq!(mode(&files.private_key), 0o600);
    assert_eq!(mode(&files.memo_key), 0o600);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(
        fs::read_to_string(&files.private_key).unwrap(),
        pair.private_pem
    );
    assert_eq!(
        fs::read_to_string(&files.public_key).unwrap(),
        pair.public_pem
    );
    assert!(pair.private_pem.contains("BEGIN PRIVATE KEY"));
    assert!(pair.public_pem.contains("BEGIN PUBLIC KEY"));
    let memo = fs::read_to_string(&files.memo_key).unwrap();
    assert_eq!(memo, pair.memo_key);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&memo)
        .expect("standard base64");
    assert_eq!(bytes.len(), 32);
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let original = keys::generate();
    let files = keys::write(&original, dir.path(), false).unwrap().files;

    let error = keys::write(&keys::generate(), dir.path(), false).expect_err("must refuse");
    assert!(format!("{error:#}").contains("already exists"), "{error:#}");
    assert_eq!(
        fs::read_to_string(&files.private_key).unwrap(),
        original.private_pem
    );
    assert_eq!(
        fs::read_to_string(&files.public_key).unwrap(),
        original.public_pem
    );
    assert_eq!(
        fs::read_to_string(&files.memo_key).unwrap(),
        original.memo_key
    );
}

#[test]
fn refuses_when_only_the_public_key_exists() {
    let dir = tempfile::tempdir().unwrap();
    let files = KeyFiles::in_dir(dir.path());
    fs::write(&files.public_key, "someone's public key").unwrap();

    assert!(keys::write(&keys::generate(), dir.path(), false).is_err());
    assert!(!files.private_key.exists(), "no half-written pair");
    assert_eq!(
        fs::read_to_string(&files.public_key).unwrap(),
        "someone's public key"
    );
}

#[test]
fn force_replaces_keys_and_tightens_a_loose_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let files = KeyFiles::in_dir(dir.path());
    fs::write(&files.private_key, "old").unwrap();
    fs::set_permissions(&files.private_key, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&files.public_key, "old").unwrap();
    fs::write(&files.memo_key, "old").unwrap();
    fs::set_permissions(&files.memo_key, fs::Permissions::from_mode(0o644)).unwrap();

    let replacement = keys::generate();
    keys::write(&replacement, dir.path(), true).expect("forced write");

    assert_eq!(
        fs::read_to_string(&files.private_key).unwrap(),
        replacement.private_pem
    );
    assert_eq!(
        fs::read_to_string(&files.public_key).unwrap(),
        replacement.public_pem
    );
    assert_eq!(
        fs::read_to_string(&files.memo_key).unwrap(),
        replacement.memo_key
    );
    assert_eq!(mode(&files.private_key), 0o600);
    assert_eq!(mode(&files.memo_key), 0o600);
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 3, "temporary files left: {leftovers:?}");
}

#[test]
fn a_key_pair_without_a_memo_key_gets_the_memo_key_alone() {
    let dir = tempfile::tempdir().unwrap();
    let original = keys::generate();
    let files = keys::write(&original, dir.path(), false).unwrap().files;
    fs::remove_file(&files.memo_key).unwrap();

    let newer = keys::generate();
    let written = keys::write(&newer, dir.path(), false).expect("completes the key set");
    assert!(written.kept_pair);
    assert_eq!(
        fs::read_to_string(&files.private_key).unwrap(),
        original.private_pem,
        "the pair is kept"
    );
    assert_eq!(
        fs::read_to_string(&files.public_key).unwrap(),
        original.public_pem
    );
    assert_eq!(fs::read_to_string(&files.memo_key).unwrap(), newer.memo_key);
    assert_eq!(mode(&files.memo_key), 0o600);

    // Now complete: refused again.
    assert!(keys::write(&keys::generate(), dir.path(), false).is_err());
}

#[test]
fn a_memo_key_alone_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let files = KeyFiles::in_dir(dir.path());
    fs::write(&files.memo_key, "someone's memo key").unwrap();

    let error = keys::write(&keys::generate(), dir.path(), false).expect_err("must refuse");
    assert!(
        format!("{error:#}").contains("token_memo.key already exists"),
        "{error:#}"
    );
    assert!(!files.private_key.exists() && !files.public_key.exists());
    assert_eq!(
        fs::read_to_string(&files.memo_key).unwrap(),
        "someone's memo key"
    );
}
