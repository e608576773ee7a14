//! `bench-token-native [pem|raw] [iterations]`: verifies one good token
//! `iterations` times (default 1000) through `kit::auth::verify`, with the
//! key given as SPKI PEM or as raw base64, and prints the time per check.
//! Under `valgrind --tool=callgrind` it shows where a check's instructions
//! go (run.sh --callgrind does that).
//!
//! `bench-token-native raw-key < public.pem` prints the raw form of a PEM
//! public key, for the benchmark's variables.
//!
//! `bench-token-native argon2 [iterations]` times the password check login
//! makes (`domain::password::verify`, Argon2id at 19 MiB and 2 iterations)
//! natively, to set against a login inside the wasm (bench/http.sh's login
//! scenario at one connection).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use std::io::Read;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let form = args.first().map(String::as_str).unwrap_or("pem");
    if form == "raw-key" {
        let mut pem = String::new();
        std::io::stdin()
            .read_to_string(&mut pem)
            .expect("a PEM on stdin");
        let key = VerifyingKey::from_public_key_pem(&pem).expect("an Ed25519 public key PEM");
        println!("{}", STANDARD.encode(key.as_bytes()));
        return;
    }
    let iterations: u32 = args.get(1).map_or(1000, |n| n.parse().expect("a count"));
    if form == "argon2" {
        let phc = domain::password::hash("a bench password", &[7; 16]);
        let start = Instant::now();
        for _ in 0..iterations {
            assert!(domain::password::verify(std::hint::black_box("a bench password"), &phc));
        }
        let each = start.elapsed() / iterations;
        println!("argon2: {iterations} password checks, {:.2} ms each", each.as_secs_f64() * 1e3);
        return;
    }

    let signing = SigningKey::generate(&mut rand_core::OsRng);
    let verifying = signing.verifying_key();
    let key = match form {
        "pem" => verifying
            .to_public_key_pem(Default::default())
            .expect("PEM"),
        "raw" => STANDARD.encode(verifying.as_bytes()),
        other => panic!("unknown key form {other:?}: pem, raw or raw-key"),
    };
    let token = mint(&signing);

    let start = Instant::now();
    for _ in 0..iterations {
        let claims = kit::auth::verify(std::hint::black_box(&token), &key, "86400")
            .unwrap_or_else(|e| panic!("the token does not verify: {e:?}"));
        std::hint::black_box(claims);
    }
    let each = start.elapsed() / iterations;
    println!(
        "{form}: {iterations} checks, {:.1} µs each",
        each.as_secs_f64() * 1e6
    );
}

/// A token of the app's shape, as login will mint it.
fn mint(key: &SigningKey) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = b64.encode(br#"{"typ":"JWT","alg":"EdDSA"}"#);
    let claims = b64.encode(
        serde_json::json!({
            "sub": "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "email": "someone@example.com",
            "admin": false,
            "iat": now,
            "exp": now + 3600,
            "iss": "spintemp",
            "aud": "spintemp-api",
            "jti": "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c",
        })
        .to_string(),
    );
    let message = format!("{header}.{claims}");
    let signature = b64.encode(key.sign(message.as_bytes()).to_bytes());
    format!("{message}.{signature}")
}
