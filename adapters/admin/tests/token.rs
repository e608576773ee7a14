use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use spintemp_admin::{keys, token};
use uuid::Uuid;

/// What every spintemp function does with a bearer token: the public key
/// only, EdDSA only, our issuer and audience only.
fn verify(jwt: &str, public_pem: &str) -> Result<token::Claims, jsonwebtoken::errors::Error> {
    let key = DecodingKey::from_ed_pem(public_pem.as_bytes()).expect("public PEM");
    decode::<token::Claims>(jwt, &key, &validation()).map(|data| data.claims)
}

fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["spintemp"]);
    validation.set_audience(&["spintemp-api"]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation
}

#[test]
fn a_minted_token_verifies_with_the_public_key() {
    let pair = keys::generate();
    let sub = Uuid::now_v7();
    let claims = token::Claims::new(sub, "duck@mymail.com", true, 3600);

    let jwt = token::mint(&claims, &pair.private_pem).expect("mint");

    assert_eq!(decode_header(&jwt).unwrap().alg, Algorithm::EdDSA);
    let verified = verify(&jwt, &pair.public_pem).expect("verifies");
    assert_eq!(verified.sub, sub.to_string());
    assert_eq!(verified.email, "duck@mymail.com");
    assert!(verified.admin);
    assert_eq!(
        (verified.iss.as_str(), verified.aud.as_str()),
        ("spintemp", "spintemp-api")
    );
    assert_eq!(verified.exp - verified.iat, 3600);
    assert_eq!(verified.jti, claims.jti);
}

#[test]
fn a_different_key_rejects_the_token() {
    let jwt = token::mint(
        &token::Claims::new(Uuid::now_v7(), "a@b.co", false, 60),
        &keys::generate().private_pem,
    )
    .unwrap();
    let error = verify(&jwt, &keys::generate().public_pem).expect_err("wrong key");
    assert_eq!(error.kind(), &ErrorKind::InvalidSignature);
}

#[test]
fn issuer_and_audience_are_checked() {
    let pair = keys::generate();
    let jwt = token::mint(
        &token::Claims::new(Uuid::now_v7(), "a@b.co", false, 60),
        &pair.private_pem,
    )
    .unwrap();
    let key = DecodingKey::from_ed_pem(pair.public_pem.as_bytes()).unwrap();

    let mut other_audience = validation();
    other_audience.set_audience(&["another-api"]);
    assert_eq!(
        decode::<token::Claims>(&jwt, &key, &other_audience)
            .unwrap_err()
            .kind(),
        &ErrorKind::InvalidAudience
    );

    let mut other_issuer = validation();
    other_issuer.set_issuer(&["someone-else"]);
    assert_eq!(
        decode::<token::Claims>(&jwt, &key, &other_issuer)
            .unwrap_err()
            .kind(),
        &ErrorKind::InvalidIssuer
    );
}

#[test]
fn a_verifier_pinned_to_another_algorithm_rejects_it() {
    let pair = keys::generate();
    let jwt = token::mint(
        &token::Claims::new(Uuid::now_v7(), "a@b.co", false, 60),
        &pair.private_pem,
    )
    .unwrap();
    // The classic confusion: the public key used as an HMAC secret.
    let hmac_key = DecodingKey::from_secret(pair.public_pem.as_bytes());
    let mut hs256 = validation();
    hs256.algorithms = vec![Algorithm::HS256];
    assert!(decode::<token::Claims>(&jwt, &hmac_key, &hs256).is_err());
}

#[test]
fn a_negative_lifetime_gives_an_expired_token() {
    let pair = keys::generate();
    let jwt = token::mint(
        &token::Claims::new(Uuid::now_v7(), "a@b.co", false, -300),
        &pair.private_pem,
    )
    .unwrap();
    assert_eq!(
        verify(&jwt, &pair.public_pem).unwrap_err().kind(),
        &ErrorKind::ExpiredSignature
    );
}
