//! The only cryptography a function needs: checking an Ed25519 signature.
//! jsonwebtoken lets us supply it as a `CryptoProvider`; its built-in
//! providers carry every algorithm (RSA, ECDSA, HMAC), which would triple the
//! size of each component for code that must never run anyway.

use ed25519_dalek::{Signature, VerifyingKey};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use signature::Verifier;

static EDDSA_VERIFY_ONLY: CryptoProvider = CryptoProvider {
    signer_factory: refuse_to_sign,
    verifier_factory: eddsa_verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Installs the provider; later calls (it is process-wide) change nothing.
pub fn install() {
    let _ = EDDSA_VERIFY_ONLY.install_default();
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
