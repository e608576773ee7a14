//! Passwords: Argon2id at OWASP's minimum (19 MiB, 2 iterations, 1 lane),
//! stored as a PHC string. Pure, so that the components (wasm) and the admin
//! tool (native) hash alike; the caller brings the salt's random bytes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 128;

/// OWASP Password Storage Cheat Sheet, Argon2id, first option.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;

/// What a login for an unknown (or inactive) email verifies against, so that
/// it costs what a wrong password costs: the same parameters, and a salt
/// and output of random bytes, which no known password hashes to.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$Lq7YpW+x5aS9z0b1S4ZfYQ$DZ7m0F+nkIbm+tdj6ifA7BCo2Jph5hGQhGdnx1bOXO8";

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// `None` when the password is acceptable, else why not (for a 422).
pub fn problem(password: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        Some(format!("must be at least {MIN_CHARS} characters"))
    } else if chars > MAX_CHARS {
        Some(format!("must be at most {MAX_CHARS} characters"))
    } else if password.contains('\0') {
        Some("must not contain NUL characters".to_owned())
    } else {
        None
    }
}

/// The PHC string of `password` with a salt of these 16 random bytes.
pub fn hash(password: &str, salt: &[u8; 16]) -> String {
    let salt = SaltString::encode_b64(salt).expect("16 bytes make a valid salt");
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing with valid parameters cannot fail")
        .to_string()
}

/// Whether `password` matches `phc` (compared in constant time by argon2).
/// A PHC string that does not parse matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let phc = hash("correct horse", &[7; 16]);
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse", &phc));
        assert!(!verify("correct horsE", &phc));
        assert_ne!(phc, hash("correct horse", &[8; 16]), "the salt matters");
    }

    #[test]
    fn the_dummy_hash_has_the_real_parameters_and_matches_nothing_typed() {
        let real = hash("x", &[0; 16]);
        let params = |phc: &str| phc.split('$').nth(3).unwrap().to_owned();
        assert_eq!(params(DUMMY_HASH), params(&real));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify("", DUMMY_HASH) && !verify("password", DUMMY_HASH));
    }

    #[test]
    fn length_rules() {
        assert!(problem("1234567").is_some());
        assert!(problem("12345678").is_none());
        assert!(problem(&"x".repeat(128)).is_none());
        assert!(problem(&"x".repeat(129)).is_some());
        assert!(problem("ünïcødé!").is_none(), "characters, not bytes");
        assert!(verify("garbage", "not a phc string") == false);
    }
}
