use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use spintemp_admin::keys::{self, KeyFiles};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn writes_a_private_key_only_its_owner_can_read() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(".spin/keys");
    let pair = keys::generate();

    let files = keys::write(&pair, &dir, false).expect("write keys");

    assert_eq!(mode(&files.private_key), 0o600);
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
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let original = keys::generate();
    let files = keys::write(&original, dir.path(), false).unwrap();

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
    assert_eq!(mode(&files.private_key), 0o600);
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "temporary files left: {leftovers:?}");
}
