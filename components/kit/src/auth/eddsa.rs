//! The only cryptography a function needs: checking an Ed25519 signature.
//! jsonwebtoken lets us supply it as a `CryptoProvider`; its built-in
//! providers carry every algorithm (RSA, ECDSA, HMAC), which would triple the
//! size of each component for code that must never run anyway.

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use signature::{Signer, Verifier};

static EDDSA_VERIFY_ONLY: CryptoProvider = CryptoProvider {
    signer_factory: refuse_to_sign,
    verifier_factory: eddsa_verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// The provider of the two functions that mint tokens (auth-login,
/// auth-refresh). Only [`install_signing`] names it, so the linker leaves it
/// out of every other component.
static EDDSA_SIGN: CryptoProvider = CryptoProvider {
    signer_factory: eddsa_signer,
    verifier_factory: eddsa_verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Installs the provider; later calls (it is process-wide) change nothing.
pub fn install() {
    let _ = EDDSA_VERIFY_ONLY.install_default();
}

/// Installs the provider that can also sign (see [`signing_key`]).
pub fn install_signing() {
    let _ = EDDSA_SIGN.install_default();
}

/// jsonwebtoken's key for signing with `key`: its 32-byte seed, which
/// [`eddsa_signer`] turns back into the key (the PEM was parsed once, by
/// ed25519-dalek, in kit::sessions).
pub fn signing_key(key: &SigningKey) -> EncodingKey {
    EncodingKey::from_ed_der(key.as_bytes())
}

fn eddsa_signer(
    algorithm: &Algorithm,
    key: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    if *algorithm != Algorithm::EdDSA {
        return Err(Error::from(ErrorKind::InvalidAlgorithm));
    }
    let seed: &[u8; 32] = key
        .inner()
        .try_into()
        .map_err(|_| Error::from(ErrorKind::InvalidEddsaKey))?;
    Ok(Box::new(Ed25519Signer(SigningKey::from_bytes(seed))))
}

struct Ed25519Signer(SigningKey);

impl Signer<Vec<u8>> for Ed25519Signer {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.0.sign(message).to_bytes().to_vec())
    }
}

impl JwtSigner for Ed25519Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

fn refuse_to_sign(
    _: &Algorithm,
    _: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    // Functions verify tokens; only login (with the private key) signs them.
    Err(Error::from(ErrorKind::InvalidAlgorithm))
}

fn eddsa_verifier(
    algorithm: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    if *algorithm != Algorithm::EdDSA {
        return Err(Error::from(ErrorKind::InvalidAlgorithm));
    }
    // Exactly the 32 bytes `auth::public_key_bytes` extracted. Decompressing
    // them into a curve point (a field square root, ~6 % of a check) is the
    // only key parsing left per request; it cannot be cached, as no instance
    // outlives its request.
    let bytes: &[u8; 32] = key
        .as_bytes()
        .try_into()
        .map_err(|_| Error::from(ErrorKind::InvalidEddsaKey))?;
    let key =
        VerifyingKey::from_bytes(bytes).map_err(|_| Error::from(ErrorKind::InvalidEddsaKey))?;
    Ok(Box::new(Ed25519Verifier(key)))
}

struct Ed25519Verifier(VerifyingKey);

impl Verifier<Vec<u8>> for Ed25519Verifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        self.0
            .verify_strict(message, &Signature::from_slice(signature)?)
    }
}

impl JwtVerifier for Ed25519Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}
