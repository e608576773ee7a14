//! The Ed25519 key pair that signs (login only) and verifies (every other
//! function) spintemp's tokens, and the HMAC key of the memo of verified
//! tokens (the app's `token_memo_key`).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::spki::EncodePublicKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::SigningKey;
use rand_core::{OsRng, RngCore};

pub const PRIVATE_KEY_FILE: &str = "jwt_private.pem";
pub const PUBLIC_KEY_FILE: &str = "jwt_public.pem";
pub const MEMO_KEY_FILE: &str = "token_memo.key";
pub const DEFAULT_DIR: &str = ".spin/keys";

const PRIVATE_KEY_MODE: u32 = 0o600;
const PUBLIC_KEY_MODE: u32 = 0o644;
/// A secret like the private key.
const MEMO_KEY_MODE: u32 = 0o600;
/// HMAC-SHA-256 wants a key of its output's size.
pub const MEMO_KEY_BYTES: usize = 32;
const KEY_DIR_MODE: u32 = 0o700;

pub struct KeyPair {
    /// PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub private_pem: String,
    /// SPKI PEM (`BEGIN PUBLIC KEY`).
    pub public_pem: String,
    /// [`MEMO_KEY_BYTES`] random bytes in standard base64, no newline.
    pub memo_key: String,
}

/// Where [`write`] put a key pair.
#[derive(Clone, Debug)]
pub struct KeyFiles {
    pub private_key: PathBuf,
    pub public_key: PathBuf,
    pub memo_key: PathBuf,
}

impl KeyFiles {
    pub fn in_dir(dir: &Path) -> KeyFiles {
        KeyFiles {
            private_key: dir.join(PRIVATE_KEY_FILE),
            public_key: dir.join(PUBLIC_KEY_FILE),
            memo_key: dir.join(MEMO_KEY_FILE),
        }
    }
}

/// A fresh key pair and memo key from the operating system's random source.
pub fn generate() -> KeyPair {
    let signing_key = SigningKey::generate(&mut OsRng);
    // Both encodings are of a well-formed 32-byte key into memory: they have
    // no input that could make them fail.
    let private_pem = signing_key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("PKCS#8-encode an Ed25519 key")
        .to_string();
    let public_pem = signing_key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("SPKI-encode an Ed25519 public key");
    let mut memo_key = [0u8; MEMO_KEY_BYTES];
    OsRng.fill_bytes(&mut memo_key);
    KeyPair {
        private_pem,
        public_pem,
        memo_key: BASE64.encode(memo_key),
    }
}

/// What [`write`] did.
#[derive(Clone, Debug)]
pub struct Written {
    pub files: KeyFiles,
    /// The key pair was there already and was kept: only the memo key was
    /// written (a key set made before the memo key existed).
    pub kept_pair: bool,
}

/// Writes `pair` into `dir` (created 0700 if missing): the private key and
/// the memo key 0600, the public key 0644. With `force` each file is
/// replaced atomically. Without it, an existing key file is never touched:
/// a complete key pair without a memo key gets the memo key alone (so an
/// older key set is completed rather than refused), and any other existing
/// file is refused.
pub fn write(pair: &KeyPair, dir: &Path, force: bool) -> Result<Written> {
    let files = KeyFiles::in_dir(dir);
    let kept_pair = !force
        && files.private_key.exists()
        && files.public_key.exists()
        && !files.memo_key.exists();
    if !force && !kept_pair {
        for existing in [&files.private_key, &files.public_key, &files.memo_key] {
            if existing.exists() {
                bail!(
                    "{} already exists; refusing to overwrite a key (use --force to replace it)",
                    existing.display()
                );
            }
        }
    }
    DirBuilder::new()
        .recursive(true)
        .mode(KEY_DIR_MODE)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    if !kept_pair {
        write_key_file(
            &files.private_key,
            &pair.private_pem,
            PRIVATE_KEY_MODE,
            force,
        )?;
        write_key_file(&files.public_key, &pair.public_pem, PUBLIC_KEY_MODE, force)?;
    }
    write_key_file(&files.memo_key, &pair.memo_key, MEMO_KEY_MODE, force)?;
    Ok(Written { files, kept_pair })
}

/// Shell lines that load the key files into the Spin variables the app reads.
/// They name the files; they never contain a key.
pub fn export_lines(files: &KeyFiles) -> String {
    format!(
        "export SPIN_VARIABLE_JWT_PUBLIC_KEY=\"$(cat {})\"\n\
         export SPIN_VARIABLE_JWT_PRIVATE_KEY=\"$(cat {})\"\n\
         export SPIN_VARIABLE_TOKEN_MEMO_KEY=\"$(cat {})\"\n",
        shell_quote(&files.public_key),
        shell_quote(&files.private_key),
        shell_quote(&files.memo_key),
    )
}

/// The secret in `path`, or a new one (18 random bytes in base64url: 24
/// characters a URL and a shell take as they are) written there, mode 600,
/// in a directory of mode 700 made if missing.
pub fn read_or_make_secret(path: &Path) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(secret) if !secret.trim().is_empty() => return Ok(secret.trim().to_owned()),
        Ok(_) => bail!("{} is empty", path.display()),
        Err(e) if e.kind() != ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot read {}", path.display()))
        }
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(KEY_DIR_MODE)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut bytes = [0u8; 18];
    OsRng.fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    match create_with_mode(path, &secret, PRIVATE_KEY_MODE) {
        Ok(()) => Ok(secret),
        // Made by another process since the read: that one is the secret.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read_or_make_secret(path),
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
    }
}

fn write_key_file(path: &Path, contents: &str, mode: u32, force: bool) -> Result<()> {
    let result = if force {
        replace_atomically(path, contents, mode)
    } else {
        // create_new: a key that appeared since the check above is not clobbered.
        create_with_mode(path, contents, mode)
    };
    result.with_context(|| format!("cannot write {}", path.display()))
}

fn replace_atomically(path: &Path, contents: &str, mode: u32) -> std::io::Result<()> {
    let file_name = path.file_name().expect("key paths end in a file name");
    let temporary = path.with_file_name(format!(".{}.tmp", file_name.to_string_lossy()));
    match fs::remove_file(&temporary) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    create_with_mode(&temporary, contents, mode)?;
    fs::rename(&temporary, path)
}

fn create_with_mode(path: &Path, contents: &str, mode: u32) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

fn shell_quote(path: &Path) -> String {
    shell_quote_text(&path.to_string_lossy())
}

/// `text` as one shell word: as it is when that is safe, in single quotes
/// otherwise.
pub(crate) fn shell_quote_text(text: &str) -> String {
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c));
    if plain && !text.is_empty() {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_pkcs8_and_spki_pems() {
        let pair = generate();
        assert!(pair
            .private_pem
            .starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_ne!(generate().private_pem, pair.private_pem);
    }

    #[test]
    fn memo_keys_are_32_random_bytes_in_base64() {
        let pair = generate();
        assert_eq!(BASE64.decode(&pair.memo_key).unwrap().len(), MEMO_KEY_BYTES);
        assert!(!pair.memo_key.ends_with('\n'));
        assert_ne!(generate().memo_key, pair.memo_key);
    }

    #[test]
    fn quotes_only_paths_that_need_it() {
        assert_eq!(
            shell_quote(Path::new(".spin/keys/jwt_public.pem")),
            ".spin/keys/jwt_public.pem"
        );
        assert_eq!(shell_quote(Path::new("my keys/a'b")), r"'my keys/a'\''b'");
        assert_eq!(shell_quote(Path::new("$(rm -rf)")), "'$(rm -rf)'");
    }

    #[test]
    fn export_lines_name_files_not_keys() {
        let lines = export_lines(&KeyFiles::in_dir(Path::new(DEFAULT_DIR)));
        assert_eq!(
            lines,
            "export SPIN_VARIABLE_JWT_PUBLIC_KEY=\"$(cat .spin/keys/jwt_public.pem)\"\n\
             export SPIN_VARIABLE_JWT_PRIVATE_KEY=\"$(cat .spin/keys/jwt_private.pem)\"\n\
             export SPIN_VARIABLE_TOKEN_MEMO_KEY=\"$(cat .spin/keys/token_memo.key)\"\n"
        );
    }
}
