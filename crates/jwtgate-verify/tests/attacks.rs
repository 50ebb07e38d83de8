//! The attack corpus: one test per known way to fool a JWT verifier, each asserting the exact
//! [`Error`] (and so the `reason()` logged for it).
//!
//! Malicious tokens are built by hand. Where an attack needs a valid signature to be
//! interesting, it is made with the real private key, so the check under test is the only thing
//! standing between the token and acceptance.
//!
//! Every refusal is asserted twice: under jwtgate's own policy and under the policy for tokens
//! of other issuers (`Policy::for_other_issuers`, every relaxation on), with the same error. The
//! few tokens a relaxation exists for (no `typ`, `typ: JWT`, no `jti`, no `iat`) say so with
//! `assert_refused_by_default_only`. Attacks on the relaxations themselves are at the end.

mod common;

use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use common::{AUD, ISS, NOW, b64, claims, fixtures, relaxed_verifier, unb64, verifier};
use jwtgate_verify::{Algorithm, Error, Jwk, Key, KeySet, Policy, Verifier};

fn refused_by(verifier: &Verifier, policy: &str, token: &str, now: i64) -> Error {
    match verifier.verify_at(token, now) {
        Ok(claims) => panic!("accepted under the {policy} policy: {claims:?}"),
        Err(err) => err,
    }
}

fn assert_refused_by(verifier: &Verifier, policy: &str, token: &str, now: i64, expected: Error) {
    let err = refused_by(verifier, policy, token, now);
    assert_eq!(
        err,
        expected,
        "refused under the {policy} policy as {} instead",
        err.reason()
    );
    assert_eq!(err.reason(), expected.reason());
}

/// Refused as `expected` under jwtgate's own policy and, alike, under the policy for other
/// issuers: no relaxation reaches what the attack relies on.
fn assert_refused(token: &str, expected: Error) {
    assert_refused_at(token, NOW, expected);
}

/// As [`assert_refused`], verifying at `now`.
fn assert_refused_at(token: &str, now: i64, expected: Error) {
    assert_refused_by(&verifier(), "default", token, now, expected);
    assert_refused_by(&relaxed_verifier(), "other issuers'", token, now, expected);
}

/// A token refused as `expected` under jwtgate's own policy that the policy for other issuers
/// accepts on purpose: the one difference it was made to let through.
fn assert_refused_by_default_only(token: &str, expected: Error) {
    assert_refused_by(&verifier(), "default", token, NOW, expected);
    if let Err(err) = relaxed_verifier().verify_at(token, NOW) {
        panic!("refused for other issuers as {}", err.reason());
    }
}

/// A token for the HS256 key with this raw header, signed with the real secret.
fn hs_with_header(header: &str) -> String {
    fixtures().hs.forge(header, claims(&[]))
}

/// A token for the HS256 key with these claim overrides.
fn hs_with_claims(overrides: &[(&str, Option<&str>)]) -> String {
    fixtures().hs.token(overrides)
}

fn with_signature(token: &str, signature: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').expect("three segments");
    format!("{input}.{}", b64(signature))
}

fn signature_of(token: &str) -> Vec<u8> {
    unb64(token.rsplit_once('.').expect("three segments").1)
}

// ---------------------------------------------------------------------------------------------
// Control: the forger makes tokens the verifier accepts, so every refusal below is the attack's.

#[test]
fn control_forged_tokens_are_accepted_for_every_key() {
    for fixture in fixtures().all() {
        let claims = verifier()
            .verify_at(&fixture.token(&[]), NOW)
            .unwrap_or_else(|err| panic!("{}: {err}", fixture.kid));
        assert_eq!(claims.sub, "user-1");
    }
}

// ---------------------------------------------------------------------------------------------
// `alg`: never taken from the token (RFC 8725 §3.1). Signed with the real secret throughout.

#[test]
fn alg_none_lowercase_is_refused() {
    let token = hs_with_header(r#"{"alg":"none","typ":"at+jwt","kid":"hs-1"}"#);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn alg_none_capitalised_is_refused() {
    let token = hs_with_header(r#"{"alg":"None","typ":"at+jwt","kid":"hs-1"}"#);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn alg_none_uppercase_is_refused() {
    let token = hs_with_header(r#"{"alg":"NONE","typ":"at+jwt","kid":"hs-1"}"#);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn alg_none_mixed_case_is_refused() {
    let token = hs_with_header(r#"{"alg":"nOnE","typ":"at+jwt","kid":"hs-1"}"#);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn alg_none_with_an_empty_signature_is_refused() {
    let header = b64(r#"{"alg":"none","typ":"at+jwt","kid":"hs-1"}"#);
    let token = format!("{header}.{}.", b64(claims(&[])));
    assert_refused(&token, Error::Malformed);
}

#[test]
fn alg_none_against_an_asymmetric_key_is_refused() {
    let token = fixtures()
        .ed
        .forge(r#"{"alg":"none","typ":"at+jwt","kid":"ed-1"}"#, claims(&[]));
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn alg_missing_is_refused() {
    let token = hs_with_header(r#"{"typ":"at+jwt","kid":"hs-1"}"#);
    assert_refused(&token, Error::MissingHeader("alg"));
}

#[test]
fn alg_empty_string_is_refused() {
    let token = hs_with_header(r#"{"alg":"","typ":"at+jwt","kid":"hs-1"}"#);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn alg_null_is_refused() {
    let token = hs_with_header(r#"{"alg":null,"typ":"at+jwt","kid":"hs-1"}"#);
    assert_refused(&token, Error::InvalidHeader("alg"));
}

#[test]
fn alg_lowercase_hs256_is_refused() {
    let token = hs_with_header(r#"{"alg":"hs256","typ":"at+jwt","kid":"hs-1"}"#);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn alg_as_array_is_refused() {
    let token = hs_with_header(r#"{"alg":["HS256"],"typ":"at+jwt","kid":"hs-1"}"#);
    assert_refused(&token, Error::InvalidHeader("alg"));
}

#[test]
fn alg_of_another_curve_algorithm_on_an_ed25519_key_is_refused() {
    let token = fixtures().ed.forge(
        r#"{"alg":"ES256","typ":"at+jwt","kid":"ed-1"}"#,
        claims(&[]),
    );
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn alg_ed25519_header_with_an_hs256_key_is_refused() {
    // RFC 9864's `Ed25519` names EdDSA only: it must not open the door to any other key.
    let token = hs_with_header(r#"{"alg":"Ed25519","typ":"at+jwt","kid":"hs-1"}"#);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn alg_ed25519_header_with_an_es256_key_is_refused() {
    let token = fixtures().es.forge(
        r#"{"alg":"Ed25519","typ":"at+jwt","kid":"es-1"}"#,
        claims(&[]),
    );
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn alg_ed448_header_on_an_ed25519_key_is_refused() {
    let token = fixtures().ed.forge(
        r#"{"alg":"Ed448","typ":"at+jwt","kid":"ed-1"}"#,
        claims(&[]),
    );
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn alg_ps256_on_an_rs256_key_is_refused() {
    let token = fixtures().rs.forge(
        r#"{"alg":"PS256","typ":"at+jwt","kid":"rs-1"}"#,
        claims(&[]),
    );
    assert_refused(&token, Error::AlgorithmMismatch);
}

// ---------------------------------------------------------------------------------------------
// The signature itself.

#[test]
fn signature_removed_leaving_two_segments_is_refused() {
    let token = fixtures().hs.token(&[]);
    let (input, _) = token.rsplit_once('.').expect("three segments");
    assert_refused(input, Error::Malformed);
}

#[test]
fn signature_removed_leaving_an_empty_third_segment_is_refused() {
    let token = fixtures().hs.token(&[]);
    let (input, _) = token.rsplit_once('.').expect("three segments");
    assert_refused(&format!("{input}."), Error::Malformed);
}

#[test]
fn hs256_signature_truncated_by_one_byte_is_refused() {
    let token = fixtures().hs.token(&[]);
    let signature = signature_of(&token);
    let token = with_signature(&token, &signature[..signature.len() - 1]);
    assert_refused(&token, Error::BadSignature);
}

#[test]
fn es256_signature_truncated_to_r_alone_is_refused() {
    let token = fixtures().es.token(&[]);
    let signature = signature_of(&token);
    let token = with_signature(&token, &signature[..32]);
    assert_refused(&token, Error::BadSignature);
}

#[test]
fn hs256_signature_with_one_bit_flipped_is_refused() {
    let token = fixtures().hs.token(&[]);
    let mut signature = signature_of(&token);
    signature[7] ^= 0x10;
    assert_refused(&with_signature(&token, &signature), Error::BadSignature);
}

#[test]
fn ed25519_signature_with_one_bit_flipped_is_refused() {
    let token = fixtures().ed.token(&[]);
    let mut signature = signature_of(&token);
    signature[63] ^= 0x01;
    assert_refused(&with_signature(&token, &signature), Error::BadSignature);
}

#[test]
fn rs256_signature_with_one_bit_flipped_is_refused() {
    let token = fixtures().rs.token(&[]);
    let mut signature = signature_of(&token);
    signature[100] ^= 0x80;
    assert_refused(&with_signature(&token, &signature), Error::BadSignature);
}

#[test]
fn payload_changed_under_the_old_signature_is_refused() {
    let original = fixtures().hs.token(&[]);
    let forged_payload = b64(claims(&[("sub", Some("\"admin\""))]));
    let mut parts: Vec<&str> = original.split('.').collect();
    parts[1] = &forged_payload;
    assert_refused(&parts.join("."), Error::BadSignature);
}

#[test]
fn header_changed_under_the_old_signature_is_refused() {
    // Both headers would be acceptable; only the signature tells them apart.
    let original = fixtures().ed.token(&[]);
    let other_header = b64(r#"{"alg":"EdDSA","typ":"AT+JWT","kid":"ed-1"}"#);
    let mut parts: Vec<&str> = original.split('.').collect();
    parts[0] = &other_header;
    assert_refused(&parts.join("."), Error::BadSignature);
}

#[test]
fn signature_longer_than_any_algorithm_allows_is_refused() {
    let token = with_signature(&fixtures().rs.token(&[]), &[0x41; 2048]);
    assert_refused(&token, Error::TooLarge);
}

// ---------------------------------------------------------------------------------------------
// Key confusion (CVE-2016-10555, CVE-2022-29217): HS256 keyed with the server's public key.

fn hs256_keyed_with(secret: &[u8], kid: &str) -> String {
    let header = format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#);
    let input = format!("{}.{}", b64(header), b64(claims(&[])));
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag))
}

fn public_pem(fixture: &common::Fixture) -> Vec<u8> {
    pem::encode(&pem::Pem::new("PUBLIC KEY", fixture.public_der())).into_bytes()
}

fn public_jwk_text(fixture: &common::Fixture) -> Vec<u8> {
    let jwk: Jwk = fixture.key().public_jwk().expect("public JWK");
    serde_json::to_vec(&jwk).expect("JSON")
}

#[test]
fn hs256_keyed_with_the_es256_public_key_pem_is_refused() {
    let es = &fixtures().es;
    let token = hs256_keyed_with(&public_pem(es), es.kid);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn hs256_keyed_with_the_es256_public_key_der_is_refused() {
    let es = &fixtures().es;
    let token = hs256_keyed_with(&es.public_der(), es.kid);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn hs256_keyed_with_the_es256_public_jwk_text_is_refused() {
    let es = &fixtures().es;
    let token = hs256_keyed_with(&public_jwk_text(es), es.kid);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn hs256_keyed_with_the_ed25519_public_key_pem_is_refused() {
    let ed = &fixtures().ed;
    let token = hs256_keyed_with(&public_pem(ed), ed.kid);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn hs256_keyed_with_the_ed25519_public_key_der_is_refused() {
    let ed = &fixtures().ed;
    let token = hs256_keyed_with(&ed.public_der(), ed.kid);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn hs256_keyed_with_the_ed25519_public_jwk_text_is_refused() {
    let ed = &fixtures().ed;
    let token = hs256_keyed_with(&public_jwk_text(ed), ed.kid);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn hs256_keyed_with_the_rs256_public_key_pem_is_refused() {
    let rs = &fixtures().rs;
    let token = hs256_keyed_with(&public_pem(rs), rs.kid);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn hs256_keyed_with_the_rs256_public_key_der_is_refused() {
    let rs = &fixtures().rs;
    let token = hs256_keyed_with(&rs.public_der(), rs.kid);
    assert_refused(&token, Error::AlgorithmMismatch);
}

#[test]
fn hs256_keyed_with_the_rs256_public_jwk_text_is_refused() {
    let rs = &fixtures().rs;
    let token = hs256_keyed_with(&public_jwk_text(rs), rs.kid);
    assert_refused(&token, Error::AlgorithmMismatch);
}

// ---------------------------------------------------------------------------------------------
// Malleable and degenerate asymmetric signatures.

/// The order n of the P-256 group.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The order L of the Ed25519 group, little-endian (as S is encoded).
const ED25519_L_LE: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

#[test]
fn es256_psychic_signature_r_and_s_zero_is_refused() {
    // CVE-2022-21449: Java accepted (0, 0) for any message and key.
    let token = with_signature(&fixtures().es.token(&[]), &[0; 64]);
    assert_refused(&token, Error::BadSignature);
}

#[test]
fn es256_psychic_signature_r_and_s_equal_to_the_group_order_is_refused() {
    // n is 0 mod n: the same degenerate signature in another spelling.
    let token = with_signature(&fixtures().es.token(&[]), &[P256_N, P256_N].concat());
    assert_refused(&token, Error::BadSignature);
}

#[test]
fn es256_der_encoded_signature_is_refused() {
    let es = &fixtures().es;
    let token = es.token(&[]);
    let (input, _) = token.rsplit_once('.').expect("three segments");
    let der = es.sign_ecdsa_der(input.as_bytes());
    assert_eq!(der[0], 0x30, "an ASN.1 SEQUENCE");
    assert_refused(&with_signature(&token, &der), Error::BadSignature);
}

#[test]
fn ed25519_signature_with_non_canonical_s_is_refused() {
    // S + L verifies under the group law but is not the canonical encoding (RFC 8032 §5.1.7).
    let token = fixtures().ed.token(&[]);
    let mut signature = signature_of(&token);
    let mut carry = 0u16;
    for (byte, l) in signature[32..].iter_mut().zip(ED25519_L_LE) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = sum.to_le_bytes()[0];
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + L fits in 256 bits");
    assert_refused(&with_signature(&token, &signature), Error::BadSignature);
}

// ---------------------------------------------------------------------------------------------
// Header parameters that let the token choose its own key or change how it is read.

#[test]
fn embedded_jwk_header_is_refused() {
    // CVE-2018-0114: the token brings the key it was signed with.
    let jwk = String::from_utf8(public_jwk_text(&fixtures().ed)).expect("UTF-8");
    let header = format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1","jwk":{jwk}}}"#);
    let token = fixtures().ed.forge(header, claims(&[]));
    assert_refused(&token, Error::ForbiddenHeader);
}

#[test]
fn embedded_jku_header_is_refused() {
    let token = hs_with_header(
        r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","jku":"https://evil.example/jwks.json"}"#,
    );
    assert_refused(&token, Error::ForbiddenHeader);
}

#[test]
fn embedded_x5u_header_is_refused() {
    let token = hs_with_header(
        r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","x5u":"https://evil.example/cert.pem"}"#,
    );
    assert_refused(&token, Error::ForbiddenHeader);
}

#[test]
fn embedded_x5c_header_is_refused() {
    let token =
        hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","x5c":["MIIBszCCAVmgAw"]}"#);
    assert_refused(&token, Error::ForbiddenHeader);
}

#[test]
fn crit_header_is_refused() {
    // RFC 7515 §4.1.11: a verifier that does not understand a critical extension must refuse.
    let token = hs_with_header(
        r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","crit":["exp"],"exp":1800000900}"#,
    );
    assert_refused(&token, Error::ForbiddenHeader);
}

#[test]
fn unencoded_payload_b64_false_header_is_refused() {
    let token =
        hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","b64":false,"crit":["b64"]}"#);
    assert_refused(&token, Error::ForbiddenHeader);
}

#[test]
fn jwe_p2c_header_is_refused() {
    // A huge PBES2 iteration count is a denial of service in libraries that honour it.
    let token = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","p2c":2147483647}"#);
    assert_refused(&token, Error::ForbiddenHeader);
}

#[test]
fn nested_jwt_cty_header_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","cty":"JWT"}"#);
    assert_refused(&token, Error::ForbiddenHeader);
}

#[test]
fn unknown_private_header_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","x-role":"admin"}"#);
    assert_refused(&token, Error::ForbiddenHeader);
}

// ---------------------------------------------------------------------------------------------
// `kid`: only ever a map key, never a path or a query.

#[test]
fn kid_path_traversal_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"../../etc/passwd"}"#);
    assert_refused(&token, Error::UnknownKey);
}

#[test]
fn kid_sql_injection_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"' OR 1=1 --"}"#);
    assert_refused(&token, Error::UnknownKey);
}

#[test]
fn kid_empty_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":""}"#);
    assert_refused(&token, Error::UnknownKey);
}

#[test]
fn kid_unknown_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-2"}"#);
    assert_refused(&token, Error::UnknownKey);
}

#[test]
fn kid_missing_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt"}"#);
    assert_refused(&token, Error::MissingHeader("kid"));
}

#[test]
fn kid_as_number_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":1}"#);
    assert_refused(&token, Error::InvalidHeader("kid"));
}

#[test]
fn hmac_key_with_an_empty_kid_cannot_be_made() {
    // Otherwise a token with `"kid":""` would find it.
    assert!(Key::hmac("", jwtgate_verify::Algorithm::HS256, common::HMAC_SECRET).is_err());
}

// ---------------------------------------------------------------------------------------------
// Explicit typing (RFC 8725 §3.11, RFC 9068 §2.1).

#[test]
fn typ_jwt_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"JWT","kid":"hs-1"}"#);
    assert_refused_by_default_only(&token, Error::WrongType);
}

#[test]
fn typ_refresh_jwt_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"refresh+jwt","kid":"hs-1"}"#);
    assert_refused(&token, Error::WrongType);
}

#[test]
fn typ_missing_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","kid":"hs-1"}"#);
    assert_refused_by_default_only(&token, Error::MissingHeader("typ"));
}

#[test]
fn typ_as_array_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":["at+jwt"],"kid":"hs-1"}"#);
    assert_refused(&token, Error::InvalidHeader("typ"));
}

#[test]
fn typ_with_a_doubled_media_type_prefix_is_refused() {
    let token =
        hs_with_header(r#"{"alg":"HS256","typ":"application/application/at+jwt","kid":"hs-1"}"#);
    assert_refused(&token, Error::WrongType);
}

#[test]
fn typ_application_at_jwt_is_accepted() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"application/at+jwt","kid":"hs-1"}"#);
    assert!(verifier().verify_at(&token, NOW).is_ok());
}

#[test]
fn typ_uppercase_at_jwt_is_accepted() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"AT+JWT","kid":"hs-1"}"#);
    assert!(verifier().verify_at(&token, NOW).is_ok());
}

const EMAIL_TYP: &str = "email-verify+jwt";

#[test]
fn email_verification_token_is_refused_by_the_access_token_verifier() {
    let token = fixtures()
        .ed
        .key()
        .sign(
            EMAIL_TYP,
            &serde_json::from_str::<serde_json::Value>(&claims(&[])).expect("JSON"),
        )
        .expect("signed");
    assert_refused(&token, Error::WrongType);
}

#[test]
fn access_token_is_refused_by_the_email_verification_verifier() {
    let email = verifier().sibling(Policy::new(ISS, AUD).with_typ(EMAIL_TYP));
    let own = fixtures().ed.forge(
        format!(r#"{{"alg":"EdDSA","typ":"{EMAIL_TYP}","kid":"ed-1"}}"#),
        claims(&[]),
    );
    assert!(email.verify_at(&own, NOW).is_ok(), "its own kind passes");
    let access = fixtures().ed.token(&[]);
    assert_eq!(email.verify_at(&access, NOW), Err(Error::WrongType));
}

#[test]
fn refresh_token_replayed_as_an_access_token_is_refused() {
    // Same key, same claims, valid signature: only `typ` says it is a refresh token.
    let refresh = KeySet::new(fixtures().hs.key())
        .expect("set")
        .sign(
            "refresh+jwt",
            &serde_json::from_str::<serde_json::Value>(&claims(&[])).expect("JSON"),
        )
        .expect("signed");
    assert_refused(&refresh, Error::WrongType);
}

// ---------------------------------------------------------------------------------------------
// Duplicate keys: two parsers must never read two different tokens from the same bytes.

#[test]
fn duplicate_sub_claim_is_refused() {
    let token = hs_with_claims(&[("sub", Some(r#""user-1","sub":"admin""#))]);
    assert_refused(&token, Error::DuplicateKey);
}

#[test]
fn duplicate_claim_spelled_with_a_unicode_escape_is_refused() {
    let token = hs_with_claims(&[("s\\u0075b", Some("\"admin\""))]);
    assert_refused(&token, Error::DuplicateKey);
}

#[test]
fn duplicate_key_nested_in_an_extension_claim_is_refused() {
    let token = hs_with_claims(&[("ext", Some(r#"{"tenant":"a","tenant":"b"}"#))]);
    assert_refused(&token, Error::DuplicateKey);
}

#[test]
fn duplicate_key_in_an_object_inside_an_array_claim_is_refused() {
    let token = hs_with_claims(&[("grants", Some(r#"[{"scope":"read","scope":"admin"}]"#))]);
    assert_refused(&token, Error::DuplicateKey);
}

#[test]
fn duplicate_exp_whose_first_copy_is_mistyped_is_refused() {
    let token = hs_with_claims(&[("exp", Some(r#""never","exp":1800000900"#))]);
    assert_refused(&token, Error::DuplicateKey);
}

#[test]
fn duplicate_exp_whose_second_copy_is_mistyped_is_refused() {
    let token = hs_with_claims(&[("exp", Some(r#"1800000900,"exp":"never""#))]);
    assert_refused(&token, Error::DuplicateKey);
}

#[test]
fn duplicate_alg_header_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","alg":"none"}"#);
    assert_refused(&token, Error::DuplicateKey);
}

#[test]
fn duplicate_kid_header_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","kid":"es-1"}"#);
    assert_refused(&token, Error::DuplicateKey);
}

#[test]
fn duplicate_typ_header_spelled_with_a_unicode_escape_is_refused() {
    let token =
        hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","\u0074yp":"refresh+jwt"}"#);
    assert_refused(&token, Error::DuplicateKey);
}

// ---------------------------------------------------------------------------------------------
// NumericDate claims with the wrong JSON type (CVE-2026-25537) or out of range.

macro_rules! refused_claim {
    ($($name:ident: $claim:literal = $value:literal;)*) => {$(
        #[test]
        fn $name() {
            let token = hs_with_claims(&[($claim, Some($value))]);
            assert_refused(&token, Error::InvalidClaim($claim));
        }
    )*};
}

refused_claim! {
    exp_as_string_is_refused: "exp" = r#""1800000900""#;
    exp_as_float_in_exponent_form_is_refused: "exp" = "1.8000009e9";
    exp_as_float_with_a_fraction_is_refused: "exp" = "1800000900.0";
    exp_negative_is_refused: "exp" = "-1";
    exp_huge_float_is_refused: "exp" = "1e20";
    exp_two_to_the_63_is_refused: "exp" = "9223372036854775808";
    exp_i64_max_is_refused: "exp" = "9223372036854775807";
    exp_after_year_9999_is_refused: "exp" = "253402300800";
    exp_null_is_refused: "exp" = "null";
    exp_boolean_is_refused: "exp" = "true";
    nbf_as_string_is_refused: "nbf" = r#""1800000000""#;
    nbf_as_float_in_exponent_form_is_refused: "nbf" = "1.8e9";
    nbf_as_float_with_a_fraction_is_refused: "nbf" = "1800000000.0";
    nbf_negative_is_refused: "nbf" = "-1";
    nbf_huge_float_is_refused: "nbf" = "1e20";
    nbf_two_to_the_63_is_refused: "nbf" = "9223372036854775808";
    iat_as_string_is_refused: "iat" = r#""1800000000""#;
    iat_as_float_in_exponent_form_is_refused: "iat" = "1.8e9";
    iat_as_float_with_a_fraction_is_refused: "iat" = "1800000000.0";
    iat_negative_is_refused: "iat" = "-1";
    iat_huge_float_is_refused: "iat" = "1e20";
    iat_two_to_the_63_is_refused: "iat" = "9223372036854775808";
    iss_as_array_is_refused: "iss" = r#"["https://auth.example.com"]"#;
    iss_as_number_is_refused: "iss" = "1";
    iss_null_is_refused: "iss" = "null";
    aud_as_number_is_refused: "aud" = "1";
    aud_array_with_a_number_is_refused: "aud" = r#"["api",1]"#;
    aud_as_object_is_refused: "aud" = r#"{"api":true}"#;
    aud_null_is_refused: "aud" = "null";
    sub_as_number_is_refused: "sub" = "1";
    sub_as_array_is_refused: "sub" = r#"["user-1"]"#;
    sub_empty_is_refused: "sub" = r#""""#;
    jti_as_number_is_refused: "jti" = "1";
    roles_as_string_is_refused: "roles" = r#""admin""#;
    roles_with_a_number_is_refused: "roles" = r#"["admin",1]"#;
    email_verified_as_string_is_refused: "email_verified" = r#""true""#;
    email_verified_as_number_is_refused: "email_verified" = "1";
}

// ---------------------------------------------------------------------------------------------
// Issuer, audience, subject: wrong and missing.

#[test]
fn iss_wrong_is_refused() {
    let token = hs_with_claims(&[("iss", Some(r#""https://evil.example""#))]);
    assert_refused(&token, Error::WrongIssuer);
}

#[test]
fn iss_with_a_trailing_slash_is_refused() {
    let token = hs_with_claims(&[("iss", Some(r#""https://auth.example.com/""#))]);
    assert_refused(&token, Error::WrongIssuer);
}

#[test]
fn iss_missing_is_refused() {
    assert_refused(
        &hs_with_claims(&[("iss", None)]),
        Error::MissingClaim("iss"),
    );
}

#[test]
fn aud_wrong_is_refused() {
    let token = hs_with_claims(&[("aud", Some(r#""billing""#))]);
    assert_refused(&token, Error::WrongAudience);
}

#[test]
fn aud_array_without_ours_is_refused() {
    let token = hs_with_claims(&[("aud", Some(r#"["billing","API"]"#))]);
    assert_refused(&token, Error::WrongAudience);
}

#[test]
fn aud_empty_array_is_refused() {
    let token = hs_with_claims(&[("aud", Some("[]"))]);
    assert_refused(&token, Error::WrongAudience);
}

#[test]
fn aud_missing_is_refused() {
    assert_refused(
        &hs_with_claims(&[("aud", None)]),
        Error::MissingClaim("aud"),
    );
}

#[test]
fn aud_array_containing_ours_is_accepted() {
    let token = hs_with_claims(&[("aud", Some(r#"["billing","api"]"#))]);
    assert!(verifier().verify_at(&token, NOW).is_ok());
}

#[test]
fn sub_missing_is_refused() {
    assert_refused(
        &hs_with_claims(&[("sub", None)]),
        Error::MissingClaim("sub"),
    );
}

#[test]
fn exp_missing_is_refused() {
    assert_refused(
        &hs_with_claims(&[("exp", None)]),
        Error::MissingClaim("exp"),
    );
}

#[test]
fn iat_missing_is_refused() {
    assert_refused_by_default_only(
        &hs_with_claims(&[("iat", None)]),
        Error::MissingClaim("iat"),
    );
}

#[test]
fn jti_missing_is_refused() {
    assert_refused_by_default_only(
        &hs_with_claims(&[("jti", None)]),
        Error::MissingClaim("jti"),
    );
}

#[test]
fn jti_empty_is_refused() {
    // An empty `jti` identifies no token; it is also what an absent one reads as.
    assert_refused(
        &hs_with_claims(&[("jti", Some(r#""""#))]),
        Error::InvalidClaim("jti"),
    );
}

// ---------------------------------------------------------------------------------------------
// Time.

#[test]
fn lifetime_above_the_maximum_is_refused() {
    let exp = (NOW + 3601).to_string();
    let token = hs_with_claims(&[("exp", Some(&exp))]);
    assert_refused(&token, Error::LifetimeTooLong);
}

#[test]
fn lifetime_at_the_maximum_is_accepted() {
    let exp = (NOW + 3600).to_string();
    let token = hs_with_claims(&[("exp", Some(&exp))]);
    assert!(verifier().verify_at(&token, NOW).is_ok());
}

#[test]
fn iat_in_the_future_beyond_the_leeway_is_refused() {
    let iat = (NOW + 31).to_string();
    let token = hs_with_claims(&[("iat", Some(&iat)), ("nbf", None)]);
    assert_refused(&token, Error::IssuedInFuture);
}

#[test]
fn iat_in_the_future_within_the_leeway_is_accepted() {
    let iat = (NOW + 30).to_string();
    let token = hs_with_claims(&[("iat", Some(&iat)), ("nbf", None)]);
    assert!(verifier().verify_at(&token, NOW).is_ok());
}

#[test]
fn nbf_in_the_future_is_refused() {
    let nbf = (NOW + 31).to_string();
    let token = hs_with_claims(&[("nbf", Some(&nbf))]);
    assert_refused(&token, Error::NotYetValid);
}

#[test]
fn exp_passed_beyond_the_leeway_is_refused() {
    let token = hs_with_claims(&[]);
    assert_refused_at(&token, NOW + 900 + 30, Error::Expired);
}

// ---------------------------------------------------------------------------------------------
// Encoding: one canonical spelling of every segment.

/// Adds trailing spaces to a JSON text until its base64url form needs padding.
fn needing_padding(json: &str) -> String {
    let mut json = json.to_owned();
    while json.len().is_multiple_of(3) {
        json.push(' ');
    }
    json
}

fn padded(segment: &str) -> String {
    let mut segment = segment.to_owned();
    assert_ne!(segment.len() % 4, 0, "segment needs padding");
    while !segment.len().is_multiple_of(4) {
        segment.push('=');
    }
    segment
}

/// Sets an unused low bit of the last character: same bytes for a lenient decoder.
fn non_canonical(segment: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert_ne!(segment.len() % 4, 0, "last character has unused bits");
    let (head, last) = segment.split_at(segment.len() - 1);
    let index = ALPHABET
        .iter()
        .position(|&c| c == last.as_bytes()[0])
        .expect("base64url character");
    assert_eq!(index & 1, 0, "canonical encodings leave unused bits zero");
    format!("{head}{}", char::from(ALPHABET[index | 1]))
}

fn header_segment() -> String {
    b64(needing_padding(&fixtures().hs.header()))
}

fn payload_segment() -> String {
    b64(needing_padding(&claims(&[])))
}

#[test]
fn control_segments_needing_padding_are_accepted_unpadded() {
    let token = fixtures()
        .hs
        .sign_segments(&header_segment(), &payload_segment());
    assert!(verifier().verify_at(&token, NOW).is_ok());
    assert_ne!(
        signature_of(&token).len() % 3,
        0,
        "signature needs padding too"
    );
}

#[test]
fn padded_header_segment_is_refused() {
    let token = fixtures()
        .hs
        .sign_segments(&padded(&header_segment()), &payload_segment());
    assert_refused(&token, Error::Base64);
}

#[test]
fn padded_payload_segment_is_refused() {
    let token = fixtures()
        .hs
        .sign_segments(&header_segment(), &padded(&payload_segment()));
    assert_refused(&token, Error::Base64);
}

#[test]
fn padded_signature_segment_is_refused() {
    let token = fixtures()
        .hs
        .sign_segments(&header_segment(), &payload_segment());
    assert_refused(&format!("{}=", token), Error::Base64);
}

#[test]
fn non_canonical_header_segment_is_refused() {
    let token = fixtures()
        .hs
        .sign_segments(&non_canonical(&header_segment()), &payload_segment());
    assert_refused(&token, Error::Base64);
}

#[test]
fn non_canonical_payload_segment_is_refused() {
    let token = fixtures()
        .hs
        .sign_segments(&header_segment(), &non_canonical(&payload_segment()));
    assert_refused(&token, Error::Base64);
}

#[test]
fn non_canonical_signature_segment_is_refused() {
    // Decodes, leniently, to the very same valid signature.
    let token = fixtures()
        .hs
        .sign_segments(&header_segment(), &payload_segment());
    let (input, signature) = token.rsplit_once('.').expect("three segments");
    let token = format!("{input}.{}", non_canonical(signature));
    assert_refused(&token, Error::Base64);
}

#[test]
fn standard_base64_alphabet_is_refused() {
    // Find a payload whose encoding holds '-' or '_', then spell it with '+' and '/'.
    let payload = (0..64)
        .map(|n| b64(claims(&[("pad", Some(&format!("\"{}\"", "~".repeat(n))))])))
        .find(|segment| segment.contains(['-', '_']))
        .expect("some padding length yields '-' or '_'");
    let standard = payload.replace('-', "+").replace('_', "/");
    let token = fixtures()
        .hs
        .sign_segments(&b64(fixtures().hs.header()), &standard);
    assert_refused(&token, Error::Base64);
}

#[test]
fn utf8_bom_before_the_payload_json_is_refused() {
    let payload = [b"\xEF\xBB\xBF".as_slice(), claims(&[]).as_bytes()].concat();
    let token = fixtures().hs.forge(fixtures().hs.header(), payload);
    assert_refused(&token, Error::Json);
}

#[test]
fn utf8_bom_before_the_header_json_is_refused() {
    let header = [
        b"\xEF\xBB\xBF".as_slice(),
        fixtures().hs.header().as_bytes(),
    ]
    .concat();
    let token = fixtures().hs.forge(header, claims(&[]));
    assert_refused(&token, Error::Json);
}

#[test]
fn utf16_payload_is_refused() {
    let mut payload = vec![0xFF, 0xFE];
    payload.extend(claims(&[]).encode_utf16().flat_map(u16::to_le_bytes));
    let token = fixtures().hs.forge(fixtures().hs.header(), payload);
    assert_refused(&token, Error::Json);
}

#[test]
fn invalid_utf8_inside_a_payload_string_is_refused() {
    let mut bytes = claims(&[("name", Some("\"xy\""))]).into_bytes();
    let at = bytes.windows(2).position(|w| w == b"xy").expect("marker");
    bytes[at..at + 2].copy_from_slice(&[0xC3, 0x28]);
    let token = fixtures().hs.forge(fixtures().hs.header(), bytes);
    assert_refused(&token, Error::Json);
}

#[test]
fn json_array_payload_is_refused() {
    let token = fixtures()
        .hs
        .forge(fixtures().hs.header(), format!("[{}]", claims(&[])));
    assert_refused(&token, Error::Json);
}

#[test]
fn json_string_payload_is_refused() {
    let token = fixtures().hs.forge(fixtures().hs.header(), r#""user-1""#);
    assert_refused(&token, Error::Json);
}

#[test]
fn json_number_payload_is_refused() {
    let token = fixtures().hs.forge(fixtures().hs.header(), "1800000000");
    assert_refused(&token, Error::Json);
}

#[test]
fn trailing_data_after_the_payload_object_is_refused() {
    let token = fixtures()
        .hs
        .forge(fixtures().hs.header(), format!("{}{{}}", claims(&[])));
    assert_refused(&token, Error::Json);
}

#[test]
fn json_array_header_is_refused() {
    let token = hs_with_header(r#"["HS256","at+jwt","hs-1"]"#);
    assert_refused(&token, Error::Json);
}

#[test]
fn four_segments_are_refused() {
    let token = format!("{}.{}", fixtures().hs.token(&[]), b64("extra"));
    assert_refused(&token, Error::Malformed);
}

#[test]
fn one_segment_is_refused() {
    assert_refused(&b64(fixtures().hs.header()), Error::Malformed);
}

#[test]
fn empty_token_is_refused() {
    assert_refused("", Error::Malformed);
}

// ---------------------------------------------------------------------------------------------
// Size: refused before any decoding.

#[test]
fn ten_megabyte_token_is_refused_as_too_large() {
    let token = format!("{}.{}.", b64(fixtures().hs.header()), "A".repeat(10 << 20));
    assert_refused(&token, Error::TooLarge);
}

#[test]
fn ten_megabyte_token_is_refused_a_thousand_times_in_well_under_a_second() {
    // The cap is a length comparison: a thousand refusals take microseconds even unoptimised.
    // A bound this loose cannot flake, yet any decoding of 10 MB (milliseconds each) breaks it.
    let token = format!("{}.{}.", b64(fixtures().hs.header()), "A".repeat(10 << 20));
    let verifier = verifier();
    let start = Instant::now();
    for _ in 0..1000 {
        assert_eq!(verifier.verify_at(&token, NOW), Err(Error::TooLarge));
    }
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[test]
fn token_over_a_configured_cap_is_refused() {
    let token = fixtures().hs.token(&[]);
    let verifier = Verifier::new(
        fixtures().key_set(),
        Policy::new(ISS, AUD).with_max_token_len(token.len() - 1),
    );
    assert_eq!(verifier.verify_at(&token, NOW), Err(Error::TooLarge));
}

#[test]
fn header_larger_than_any_valid_header_is_refused() {
    let kid = "k".repeat(2000);
    let token = hs_with_header(&format!(
        r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#
    ));
    assert_refused(&token, Error::TooLarge);
}

// ---------------------------------------------------------------------------------------------
// The cache is keyed by the exact token bytes.

#[test]
fn cached_verdict_does_not_extend_to_a_tampered_copy() {
    let verifier = verifier().with_cache(16);
    let token = fixtures().ed.token(&[]);
    assert!(verifier.verify_at(&token, NOW).is_ok());
    let forged_payload = b64(claims(&[("roles", Some(r#"["admin","root"]"#))]));
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[1] = &forged_payload;
    assert_eq!(
        verifier.verify_at(&parts.join("."), NOW),
        Err(Error::BadSignature)
    );
}

// ---------------------------------------------------------------------------------------------
// Odds and ends.

#[test]
fn jwks_entry_claiming_hs256_for_a_public_key_is_not_imported() {
    // Key confusion through a JWKS: an attacker-influenced JWKS says a public key is an HMAC
    // secret. The entry is skipped, so a token naming it finds no key.
    let mut jwk = fixtures().es.key().public_jwk().expect("public JWK");
    jwk.alg = Some("HS256".into());
    let jwks = jwtgate_verify::Jwks { keys: vec![jwk] };
    let keys = KeySet::from_jwks(&jwks).expect("import");
    assert!(keys.is_empty());
    let verifier = Verifier::new(keys, Policy::new(ISS, AUD));
    let es = &fixtures().es;
    let token = hs256_keyed_with(&public_jwk_text(es), es.kid);
    assert_eq!(verifier.verify_at(&token, NOW), Err(Error::UnknownKey));
}

#[test]
fn deeply_nested_header_value_is_refused() {
    let depth = 300;
    let header = format!(
        r#"{{"alg":{}{},"typ":"at+jwt","kid":"hs-1"}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert_refused(&hs_with_header(&header), Error::Json);
}

#[test]
fn lone_surrogate_escape_in_the_header_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1\ud800"}"#);
    assert_refused(&token, Error::Json);
}

#[test]
fn leeway_configured_beyond_the_maximum_is_clamped() {
    let verifier = Verifier::new(
        fixtures().key_set(),
        Policy::new(ISS, AUD).with_leeway(u32::MAX),
    );
    let token = fixtures().hs.token(&[]);
    assert!(verifier.verify_at(&token, NOW + 900 + 299).is_ok());
    assert_eq!(
        verifier.verify_at(&token, NOW + 900 + 300),
        Err(Error::Expired)
    );
}

#[test]
fn verification_at_the_end_of_time_is_refused_without_overflow() {
    // `verify` falls back to i64::MAX for a clock it cannot read; that must be "expired", not
    // an arithmetic overflow.
    let token = fixtures().hs.token(&[]);
    assert_refused_at(&token, i64::MAX, Error::Expired);
}

#[test]
fn verification_at_the_start_of_time_is_refused_without_overflow() {
    let token = fixtures().hs.token(&[]);
    assert_refused_at(&token, i64::MIN, Error::NotYetValid);
}

#[test]
fn verification_of_a_token_without_iat_at_the_start_of_time_is_refused_without_overflow() {
    // `exp - now` with `now` = i64::MIN overflows unless saturated.
    let token = hs_with_claims(&[("iat", None), ("nbf", None)]);
    assert_eq!(
        relaxed_verifier().verify_at(&token, i64::MIN),
        Err(Error::LifetimeTooLong)
    );
}

// ---------------------------------------------------------------------------------------------
// The relaxations for other issuers, attacked. Each lets exactly one difference through and
// nothing beside it.

/// A verifier for other issuers trusting only `key`, as it would trust PyJWT's single key.
fn relaxed_with_only(key: Key) -> Verifier {
    let keys = KeySet::empty().with_verification_key(key).expect("set");
    Verifier::new(keys, Policy::new(ISS, AUD).for_other_issuers())
}

#[test]
fn control_a_token_without_kid_is_accepted_with_a_single_key() {
    let rs = &fixtures().rs;
    let token = rs.forge(r#"{"alg":"RS256"}"#, claims(&[]));
    assert!(relaxed_with_only(rs.key()).verify_at(&token, NOW).is_ok());
}

#[test]
fn alg_none_without_kid_on_a_single_key_is_refused() {
    let rs = &fixtures().rs;
    let verifier = relaxed_with_only(rs.key());
    for header in [r#"{"alg":"none"}"#, r#"{"alg":"None","typ":"JWT"}"#] {
        let token = rs.forge(header, claims(&[]));
        assert_eq!(
            verifier.verify_at(&token, NOW),
            Err(Error::AlgorithmMismatch),
            "{header}"
        );
    }
}

#[test]
fn hs256_keyed_with_the_public_key_without_kid_on_a_single_key_is_refused() {
    let rs = &fixtures().rs;
    let verifier = relaxed_with_only(rs.key());
    for secret in [public_pem(rs), rs.public_der(), public_jwk_text(rs)] {
        let input = format!("{}.{}", b64(r#"{"alg":"HS256"}"#), b64(claims(&[])));
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &secret),
            input.as_bytes(),
        );
        let token = format!("{input}.{}", b64(tag));
        assert_eq!(
            verifier.verify_at(&token, NOW),
            Err(Error::AlgorithmMismatch)
        );
    }
}

#[test]
fn alg_ps256_without_kid_on_a_single_rs256_key_is_refused() {
    let rs = &fixtures().rs;
    let token = rs.forge(r#"{"alg":"PS256"}"#, claims(&[]));
    assert_eq!(
        relaxed_with_only(rs.key()).verify_at(&token, NOW),
        Err(Error::AlgorithmMismatch)
    );
}

#[test]
fn kid_missing_with_no_key_at_all_is_an_unknown_key() {
    // UnknownKey, so a remote JWKS not fetched yet is fetched (MissingHeader would not be).
    let verifier = Verifier::new(KeySet::empty(), Policy::new(ISS, AUD).for_other_issuers());
    let token = fixtures().rs.forge(r#"{"alg":"RS256"}"#, claims(&[]));
    assert_eq!(verifier.verify_at(&token, NOW), Err(Error::UnknownKey));
}

#[test]
fn kid_missing_with_a_single_key_of_another_issuer_is_a_bad_signature() {
    let token = fixtures().rs.forge(r#"{"alg":"RS256"}"#, claims(&[]));
    let other = Key::generate(Algorithm::RS256).expect("key");
    assert_eq!(
        relaxed_with_only(other).verify_at(&token, NOW),
        Err(Error::BadSignature)
    );
}

#[test]
fn ignored_header_param_does_not_stand_in_for_kid() {
    // The default policy refuses `x5t` itself; the relaxed one ignores it and still needs `kid`.
    let token = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","x5t":"hs-1"}"#);
    assert_refused_by(&verifier(), "default", &token, NOW, Error::ForbiddenHeader);
    assert_refused_by(
        &relaxed_verifier(),
        "other issuers'",
        &token,
        NOW,
        Error::MissingHeader("kid"),
    );
}

#[test]
fn ignored_header_param_twice_is_refused() {
    let token =
        hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","x5t":"a","x5t":"b"}"#);
    assert_refused_by(
        &relaxed_verifier(),
        "other issuers'",
        &token,
        NOW,
        Error::DuplicateKey,
    );
}

#[test]
fn duplicate_key_inside_an_ignored_header_param_is_refused() {
    let policy = Policy::new(ISS, AUD).ignore_header_params(["ext"]);
    let verifier = Verifier::new(fixtures().key_set(), policy);
    let token =
        hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","ext":{"a":1,"a":2}}"#);
    assert_eq!(verifier.verify_at(&token, NOW), Err(Error::DuplicateKey));
    let control = hs_with_header(r#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","ext":{"a":1}}"#);
    assert!(verifier.verify_at(&control, NOW).is_ok());
}

#[test]
fn crit_naming_an_ignored_header_param_is_refused() {
    let token =
        hs_with_header(r#"{"alg":"HS256","typ":"JWT","kid":"hs-1","x5t":"AAAA","crit":["x5t"]}"#);
    assert_refused_by(
        &relaxed_verifier(),
        "other issuers'",
        &token,
        NOW,
        Error::ForbiddenHeader,
    );
}

#[test]
fn header_params_that_must_never_be_ignored_stay_refused_when_a_policy_lists_them() {
    let never = [
        "alg", "typ", "kid", "crit", "jwk", "jku", "x5u", "x5c", "b64", "zip", "cty", "enc", "epk",
        "apu", "apv", "iv", "tag", "p2s", "p2c",
    ];
    let policy = Policy::new(ISS, AUD)
        .for_other_issuers()
        .ignore_header_params(never);
    assert_eq!(policy.ignored_header_params(), ["x5t", "x5t#S256"]);
    let verifier = Verifier::new(fixtures().key_set(), policy);
    let jwk = String::from_utf8(public_jwk_text(&fixtures().ed)).expect("UTF-8");
    for extra in [
        format!(r#""jwk":{jwk}"#),
        r#""jku":"https://evil.example/jwks.json""#.to_owned(),
        r#""x5u":"https://evil.example/cert.pem""#.to_owned(),
        r#""x5c":["MIIBszCCAVmgAw"]"#.to_owned(),
        r#""crit":["exp"],"exp":1800000900"#.to_owned(),
        r#""b64":false"#.to_owned(),
        r#""zip":"DEF""#.to_owned(),
        r#""cty":"JWT""#.to_owned(),
        r#""enc":"A256GCM""#.to_owned(),
        r#""p2c":2147483647"#.to_owned(),
    ] {
        let token = hs_with_header(&format!(
            r#"{{"alg":"HS256","typ":"at+jwt","kid":"hs-1",{extra}}}"#
        ));
        assert_eq!(
            verifier.verify_at(&token, NOW),
            Err(Error::ForbiddenHeader),
            "{extra}"
        );
    }
}

#[test]
fn iat_missing_with_more_than_the_maximum_lifetime_left_is_refused() {
    let token = hs_with_claims(&[("iat", None), ("exp", Some(&(NOW + 3600 + 31).to_string()))]);
    assert_refused_by(
        &relaxed_verifier(),
        "other issuers'",
        &token,
        NOW,
        Error::LifetimeTooLong,
    );
    // The leeway allows for the issuer's clock running ahead, as it does for `iat`.
    let within = hs_with_claims(&[("iat", None), ("exp", Some(&(NOW + 3600 + 30).to_string()))]);
    assert!(relaxed_verifier().verify_at(&within, NOW).is_ok());
}

#[test]
fn iat_missing_lifetime_is_checked_on_every_verification_cached_or_not() {
    let verifier = relaxed_verifier().with_cache(16);
    let token = hs_with_claims(&[("iat", None), ("exp", Some(&(NOW + 7200).to_string()))]);
    // An hour before expiry: within the maximum, and cached from the second time.
    for _ in 0..3 {
        assert!(verifier.verify_at(&token, NOW + 3600).is_ok());
    }
    assert_eq!(verifier.verify_at(&token, NOW), Err(Error::LifetimeTooLong));
}

#[test]
fn iat_missing_is_refused_by_any_per_user_cut_off() {
    // Read as Claims::NO_IAT, earlier than any cut-off: a token that does not say when it was
    // issued may have been issued before any of them.
    let view = std::sync::Arc::new(jwtgate_verify::RevocationView::new());
    let verifier = relaxed_verifier().with_revocation(std::sync::Arc::clone(&view));
    let token = hs_with_claims(&[("iat", None)]);
    let claims = verifier.verify_at(&token, NOW).expect("accepted");
    assert_eq!(claims.issued_at(), None);
    view.revoke_user_tokens_issued_before("user-1", 0, NOW + 3600);
    assert_eq!(verifier.verify_at(&token, NOW), Err(Error::Revoked));
}

#[test]
fn jwks_entry_claiming_hs256_is_not_imported_under_an_rsa_assumption_either() {
    let mut jwk = fixtures().rs.key().public_jwk().expect("public JWK");
    jwk.alg = Some("HS256".into());
    let jwks = jwtgate_verify::Jwks { keys: vec![jwk] };
    let keys = KeySet::from_jwks_assuming(&jwks, Algorithm::RS256).expect("import");
    assert!(keys.is_empty());
}

#[test]
fn an_rsa_assumption_of_a_non_rsa_algorithm_is_refused() {
    let jwks = jwtgate_verify::Jwks::default();
    for alg in [Algorithm::HS256, Algorithm::ES256, Algorithm::EdDSA] {
        assert!(
            matches!(
                KeySet::from_jwks_assuming(&jwks, alg),
                Err(jwtgate_verify::KeyError::Unsupported(_))
            ),
            "{alg}"
        );
    }
}

#[test]
fn rsa_jwk_without_alg_assumed_rs256_refuses_a_ps256_token() {
    let rs = &fixtures().rs;
    let mut jwk = rs.key().public_jwk().expect("public JWK");
    jwk.alg = None;
    let jwks = jwtgate_verify::Jwks { keys: vec![jwk] };
    let keys = KeySet::from_jwks_assuming(&jwks, Algorithm::RS256).expect("import");
    let verifier = Verifier::new(keys, Policy::new(ISS, AUD));
    let token = rs.forge(
        r#"{"alg":"PS256","typ":"at+jwt","kid":"rs-1"}"#,
        claims(&[]),
    );
    assert_eq!(
        verifier.verify_at(&token, NOW),
        Err(Error::AlgorithmMismatch)
    );
    assert!(verifier.verify_at(&rs.token(&[]), NOW).is_ok(), "control");
}
