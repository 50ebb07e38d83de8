//! Sign-then-verify for every algorithm, key rotation and the revocation view.

use std::sync::Arc;

use jwtgate_verify::{
    ACCESS_TOKEN_TYP, Algorithm, Audience, Claims, Error, Key, KeySet, Policy, RevocationView,
    Verifier,
};

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://auth.example.com";
const AUD: &str = "api";

fn claims() -> Claims {
    Claims {
        iss: ISS.into(),
        sub: "user-1".into(),
        aud: Audience::One(AUD.into()),
        exp: NOW + 900,
        iat: NOW,
        nbf: Some(NOW),
        jti: "jti-1".into(),
        sid: Some("sid-1".into()),
        roles: vec!["admin".into()],
        plan: Some("pro".into()),
        email: Some("a@example.com".into()),
        email_verified: None,
        client_id: None,
        extra: serde_json::Map::new(),
    }
}

fn key(alg: Algorithm) -> Key {
    if alg.is_symmetric() {
        Key::hmac("hmac-1", alg, &[7u8; 64]).expect("hmac key")
    } else {
        Key::generate(alg).expect("generated key")
    }
}

#[test]
fn every_algorithm_round_trips() {
    for alg in Algorithm::ALL {
        let keys = KeySet::new(key(alg)).expect("key set");
        let token = keys.sign(ACCESS_TOKEN_TYP, &claims()).expect("signed");
        let verifier = Verifier::new(keys, Policy::new(ISS, AUD));
        let verified = verifier.verify_at(&token, NOW + 1).expect("verifies");
        assert_eq!(*verified, claims(), "{alg}");
    }
}

#[test]
fn public_jwks_verifies_what_the_private_key_signed() {
    for alg in Algorithm::ALL.into_iter().filter(|a| !a.is_symmetric()) {
        let keys = KeySet::new(key(alg)).expect("key set");
        let token = keys.sign(ACCESS_TOKEN_TYP, &claims()).expect("signed");
        let published = serde_json::to_string(&keys.jwks()).expect("json");
        assert!(
            !published.contains("\"d\""),
            "{alg}: private member in JWKS"
        );
        let imported =
            KeySet::from_jwks(&serde_json::from_str(&published).expect("jwks")).expect("import");
        let verifier = Verifier::new(imported, Policy::new(ISS, AUD));
        assert!(verifier.verify_at(&token, NOW).is_ok(), "{alg}");
    }
}

#[test]
fn hmac_keys_never_appear_in_the_jwks() {
    let keys = KeySet::new(key(Algorithm::HS256)).expect("key set");
    assert!(keys.jwks().keys.is_empty());
}

#[test]
fn short_hmac_secret_is_refused_with_advice() {
    let err = Key::hmac("k", Algorithm::HS256, &[1u8; 31]).expect_err("too short");
    assert!(err.to_string().contains("jwtgate secret"), "{err}");
    assert!(Key::hmac("k", Algorithm::HS512, &[1u8; 32]).is_err());
}

#[test]
fn pem_round_trip_keeps_the_kid() {
    let original = Key::generate(Algorithm::ES256).expect("key");
    let pem = original.to_pkcs8_pem().expect("pem");
    let reloaded = Key::from_pem(&pem, Algorithm::ES256, None).expect("reload");
    assert_eq!(original.kid(), reloaded.kid());
}

#[test]
fn rotation_keeps_old_tokens_valid_while_the_old_key_is_kept() {
    let old = key(Algorithm::EdDSA);
    let old_public = Key::from_jwk(&old.public_jwk().expect("jwk")).expect("public");
    let old_token = KeySet::new(old)
        .expect("set")
        .sign(ACCESS_TOKEN_TYP, &claims())
        .expect("signed");
    let rotated = KeySet::new(key(Algorithm::EdDSA))
        .expect("set")
        .with_verification_key(old_public)
        .expect("added");
    let verifier = Verifier::new(rotated, Policy::new(ISS, AUD)).with_cache(16);
    assert!(verifier.verify_at(&old_token, NOW).is_ok());
    verifier.set_keys(KeySet::new(key(Algorithm::EdDSA)).expect("set"));
    assert_eq!(
        verifier.verify_at(&old_token, NOW),
        Err(Error::UnknownKey),
        "a cached verdict must not outlive the key that made it"
    );
}

#[test]
fn revocation_applies_to_cached_tokens() {
    let keys = KeySet::new(key(Algorithm::ES256)).expect("set");
    let token = keys.sign(ACCESS_TOKEN_TYP, &claims()).expect("signed");
    let view = Arc::new(RevocationView::new());
    let verifier = Verifier::new(keys, Policy::new(ISS, AUD))
        .with_revocation(Arc::clone(&view))
        .with_cache(16);
    assert!(verifier.verify_at(&token, NOW).is_ok());
    view.revoke_session("sid-1", NOW + 900);
    assert_eq!(verifier.verify_at(&token, NOW), Err(Error::Revoked));
    view.prune(NOW + 901);
    assert!(verifier.verify_at(&token, NOW).is_ok());
}

#[test]
fn user_cutoff_refuses_older_tokens_only() {
    let keys = KeySet::new(key(Algorithm::HS256)).expect("set");
    let view = Arc::new(RevocationView::new());
    let verifier =
        Verifier::new(keys.clone(), Policy::new(ISS, AUD)).with_revocation(Arc::clone(&view));
    let old = keys.sign(ACCESS_TOKEN_TYP, &claims()).expect("signed");
    view.revoke_user_tokens_issued_before("user-1", NOW + 1, NOW + 1000);
    assert_eq!(verifier.verify_at(&old, NOW), Err(Error::Revoked));
    let mut newer = claims();
    newer.iat = view.user_cutoff("user-1").expect("cutoff");
    let new = keys.sign(ACCESS_TOKEN_TYP, &newer).expect("signed");
    assert!(verifier.verify_at(&new, NOW).is_ok());
}

#[test]
fn expiry_uses_the_leeway() {
    let keys = KeySet::new(key(Algorithm::HS256)).expect("set");
    let token = keys.sign(ACCESS_TOKEN_TYP, &claims()).expect("signed");
    let verifier = Verifier::new(keys, Policy::new(ISS, AUD)).with_cache(16);
    assert!(verifier.verify_at(&token, NOW + 900 + 29).is_ok());
    assert_eq!(
        verifier.verify_at(&token, NOW + 900 + 30),
        Err(Error::Expired)
    );
}

#[test]
fn a_payload_larger_than_the_stack_buffer_still_verifies() {
    let keys = KeySet::new(key(Algorithm::HS256)).expect("set");
    let mut big = claims();
    big.extra
        .insert("note".into(), serde_json::Value::String("x".repeat(3000)));
    let token = keys.sign(ACCESS_TOKEN_TYP, &big).expect("signed");
    let verifier = Verifier::new(keys, Policy::new(ISS, AUD));
    assert_eq!(*verifier.verify_at(&token, NOW).expect("verifies"), big);
}
