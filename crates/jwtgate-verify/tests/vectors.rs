//! The published JWS examples, checked at the signature layer.
//!
//! RFC 7515 A.1 (HS256), A.3 (ES256) and RFC 8037 A.4 (Ed25519). These tokens have no `typ`
//! or `kid` and expired long ago, so a [`jwtgate_verify::Verifier`] rightly refuses them; what
//! they pin is that our keys, built from the RFCs' JWKs, agree with the standards on what a
//! valid signature is. Values copied from the RFC texts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtgate_verify::{ACCESS_TOKEN_TYP, Algorithm, Error, Jwk, Key, KeySet, Policy, Verifier};

fn b64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .expect("RFC values are base64url")
}

/// Splits a compact JWS into its signing input and decoded signature.
fn split(token: &str) -> (&str, Vec<u8>) {
    let (input, signature) = token.rsplit_once('.').expect("three segments");
    (input, b64(signature))
}

fn public_jwk(kty: &str, crv: &str, x: &str, y: Option<&str>) -> Jwk {
    Jwk {
        kty: kty.into(),
        kid: Some(format!("rfc-{kty}")),
        alg: None,
        use_: None,
        crv: Some(crv.into()),
        x: Some(x.into()),
        y: y.map(Into::into),
        n: None,
        e: None,
    }
}

/// RFC 7515 A.1: the HMAC key's JWK `k`.
const A1_K: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
/// RFC 7515 A.1.1: the complete JWS (header and payload carry CRLFs, hence the odd encoding).
const A1_JWS: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\
    eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.\
    dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// RFC 7515 A.3: the P-256 public key.
const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
/// RFC 7515 A.3.1: the complete JWS.
const A3_JWS: &str = "eyJhbGciOiJFUzI1NiJ9.\
    eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.\
    DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/// RFC 8037 A.1: the Ed25519 private seed `d` and public key `x`.
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
/// RFC 8037 A.4: the complete JWS over "Example of Ed25519 signing".
const A4_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.\
    hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

fn a1_key() -> Key {
    Key::hmac("rfc7515-a1", Algorithm::HS256, &b64(A1_K)).expect("64-byte HS256 key")
}

fn a3_key() -> Key {
    Key::from_jwk(&public_jwk("EC", "P-256", A3_X, Some(A3_Y))).expect("P-256 JWK")
}

fn a4_key() -> Key {
    Key::from_jwk(&public_jwk("OKP", "Ed25519", RFC8037_X, None)).expect("Ed25519 JWK")
}

#[test]
fn rfc7515_a1_hs256_signature_verifies() {
    let (input, signature) = split(A1_JWS);
    assert!(a1_key().verify_jws_signature(input.as_bytes(), &signature));
}

#[test]
fn rfc7515_a1_hs256_signature_fails_over_another_input() {
    let (input, signature) = split(A1_JWS);
    let altered = input.replacen("eyJ0", "eyJ1", 1);
    assert!(!a1_key().verify_jws_signature(altered.as_bytes(), &signature));
}

#[test]
fn rfc7515_a1_hs256_signature_fails_under_another_secret() {
    let (input, signature) = split(A1_JWS);
    let mut secret = b64(A1_K);
    secret[0] ^= 1;
    let other = Key::hmac("other", Algorithm::HS256, &secret).expect("key");
    assert!(!other.verify_jws_signature(input.as_bytes(), &signature));
}

#[test]
fn rfc7515_a3_es256_signature_verifies() {
    let key = a3_key();
    assert_eq!(key.algorithm(), Algorithm::ES256);
    let (input, signature) = split(A3_JWS);
    assert_eq!(signature.len(), 64, "fixed r || s form");
    assert!(key.verify_jws_signature(input.as_bytes(), &signature));
}

#[test]
fn rfc7515_a3_es256_signature_with_a_flipped_bit_fails() {
    let (input, mut signature) = split(A3_JWS);
    signature[40] ^= 0x01;
    assert!(!a3_key().verify_jws_signature(input.as_bytes(), &signature));
}

#[test]
fn rfc8037_a4_ed25519_signature_verifies() {
    let key = a4_key();
    assert_eq!(key.algorithm(), Algorithm::EdDSA);
    let (input, signature) = split(A4_JWS);
    assert!(key.verify_jws_signature(input.as_bytes(), &signature));
}

#[test]
fn rfc8037_a4_ed25519_signature_fails_over_another_payload() {
    let (_, signature) = split(A4_JWS);
    // "Example of Ed25519 signinG": one letter changed.
    let input = format!(
        "eyJhbGciOiJFZERTQSJ9.{}",
        URL_SAFE_NO_PAD.encode("Example of Ed25519 signinG")
    );
    assert!(!a4_key().verify_jws_signature(input.as_bytes(), &signature));
}

#[test]
fn rfc8037_private_seed_derives_the_published_public_key() {
    // PKCS#8 v1 (RFC 8410) around the raw seed, as `openssl genpkey` writes it.
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&b64(RFC8037_D));
    let key = Key::from_pkcs8_der(&der, Algorithm::EdDSA, Some("rfc8037".into()))
        .expect("PKCS#8 v1 Ed25519 key");
    let jwk = key.public_jwk().expect("public JWK");
    assert_eq!(jwk.x.as_deref(), Some(RFC8037_X));
    // And what it signs verifies under the RFC's public key.
    let token = key.sign(ACCESS_TOKEN_TYP, &"payload").expect("signed");
    let (input, signature) = split(&token);
    assert!(a4_key().verify_jws_signature(input.as_bytes(), &signature));
}

#[test]
fn signatures_do_not_verify_under_a_key_of_another_algorithm() {
    let (input, signature) = split(A4_JWS);
    assert!(!a3_key().verify_jws_signature(input.as_bytes(), &signature));
    let (input, signature) = split(A3_JWS);
    assert!(!a4_key().verify_jws_signature(input.as_bytes(), &signature));
    assert!(!a1_key().verify_jws_signature(input.as_bytes(), &signature));
}

#[test]
fn rfc_tokens_are_still_refused_by_the_verifier_for_lacking_a_kid() {
    // The signature is right, but the token does not meet the policy: no kid, no typ.
    let keys = KeySet::new(a1_key()).expect("set");
    let verifier = Verifier::new(keys, Policy::new("joe", "api"));
    assert_eq!(
        verifier.verify_at(A1_JWS, 1_300_819_000),
        Err(Error::MissingHeader("kid"))
    );
}
