//! Tokens cross both ways between jwtgate-verify and `jsonwebtoken` (the ecosystem's reference),
//! for HS256, ES256, EdDSA and RS256, with keys exported from jwtgate-verify (PKCS#8 PEM and
//! public JWK). jsonwebtoken checks `exp` against the real clock, so these tokens are current.

use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode, encode};
use jwtgate_verify::{
    ACCESS_TOKEN_TYP, Algorithm, Audience, Claims, Error, Key, KeySet, Policy, Verifier,
};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "api";
const SECRET: &[u8] = b"interop secret of at least 32 bytes, for HS256";

fn now() -> i64 {
    i64::try_from(jsonwebtoken::get_current_timestamp()).expect("timestamp fits i64")
}

fn claims(now: i64) -> Claims {
    Claims {
        iss: ISS.into(),
        sub: "user-42".into(),
        aud: Audience::Many(vec!["other".into(), AUD.into()]),
        exp: now + 600,
        iat: now,
        nbf: Some(now),
        jti: "jti-interop".into(),
        sid: Some("sid-7".into()),
        roles: vec!["reader".into(), "writer".into()],
        plan: Some("pro".into()),
        email: Some("ada@example.com".into()),
        email_verified: None,
        client_id: None,
        extra: serde_json::Map::new(),
    }
}

struct Pair {
    key: Key,
    alg: jsonwebtoken::Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// A jwtgate key and the jsonwebtoken keys made from its exported forms.
fn pair(alg: Algorithm) -> Pair {
    if alg == Algorithm::HS256 {
        return Pair {
            key: Key::hmac("hs-interop", alg, SECRET).expect("HMAC key"),
            alg: jsonwebtoken::Algorithm::HS256,
            encoding: EncodingKey::from_secret(SECRET),
            decoding: DecodingKey::from_secret(SECRET),
        };
    }
    let key = Key::generate(alg).expect("generated key");
    let pem = key.to_pkcs8_pem().expect("PKCS#8 PEM");
    let (jwt_alg, encoding) = match alg {
        Algorithm::ES256 => (
            jsonwebtoken::Algorithm::ES256,
            EncodingKey::from_ec_pem(pem.as_bytes()),
        ),
        Algorithm::EdDSA => (
            jsonwebtoken::Algorithm::EdDSA,
            EncodingKey::from_ed_pem(pem.as_bytes()),
        ),
        Algorithm::RS256 => (
            jsonwebtoken::Algorithm::RS256,
            EncodingKey::from_rsa_pem(pem.as_bytes()),
        ),
        other => panic!("not covered: {other}"),
    };
    let encoding = encoding.expect("jsonwebtoken reads our PEM");
    let jwk_text = serde_json::to_string(&key.public_jwk().expect("public JWK")).expect("JSON");
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_str(&jwk_text).expect("jsonwebtoken reads our JWK");
    let decoding = DecodingKey::from_jwk(&jwk).expect("decoding key from our JWK");
    Pair {
        key,
        alg: jwt_alg,
        encoding,
        decoding,
    }
}

/// jsonwebtoken at its strictest: issuer, audience, nbf and every spec claim it can require.
fn strict_validation(alg: jsonwebtoken::Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 30;
    validation
}

fn jwtgate_signs_and_jsonwebtoken_verifies(alg: Algorithm) {
    let pair = pair(alg);
    let now = now();
    let token = pair
        .key
        .sign(ACCESS_TOKEN_TYP, &claims(now))
        .expect("signed");

    let decoded = decode::<serde_json::Value>(&token, &pair.decoding, &strict_validation(pair.alg))
        .unwrap_or_else(|err| panic!("{alg}: jsonwebtoken refused our token: {err}"));

    assert_eq!(decoded.header.typ.as_deref(), Some(ACCESS_TOKEN_TYP));
    assert_eq!(decoded.header.kid.as_deref(), Some(pair.key.kid()));
    assert_eq!(
        decoded.claims,
        serde_json::to_value(claims(now)).expect("JSON"),
        "{alg}"
    );
    // And jsonwebtoken does check: the wrong audience fails there too.
    let mut other_audience = strict_validation(pair.alg);
    other_audience.set_audience(&["billing"]);
    assert!(decode::<serde_json::Value>(&token, &pair.decoding, &other_audience).is_err());
}

fn jsonwebtoken_signs_and_jwtgate_verifies(alg: Algorithm) {
    let pair = pair(alg);
    let now = now();
    let mut header = Header::new(pair.alg);
    header.typ = Some(ACCESS_TOKEN_TYP.into());
    header.kid = Some(pair.key.kid().into());
    let token = encode(&header, &claims(now), &pair.encoding).expect("jsonwebtoken signs");

    let kid = pair.key.kid().to_owned();
    let verifier = Verifier::new(KeySet::new(pair.key).expect("set"), Policy::new(ISS, AUD));
    let verified = verifier
        .verify_at(&token, now)
        .unwrap_or_else(|err| panic!("{alg}: we refused jsonwebtoken's token: {err}"));
    assert_eq!(*verified, claims(now), "{alg}");

    // jsonwebtoken's default header (`typ: JWT`) is not an access token here.
    let mut untyped = Header::new(pair.alg);
    untyped.kid = Some(kid);
    let token = encode(&untyped, &claims(now), &pair.encoding).expect("jsonwebtoken signs");
    assert_eq!(verifier.verify_at(&token, now), Err(Error::WrongType));
}

#[test]
fn hs256_token_signed_by_jwtgate_verifies_under_jsonwebtoken() {
    jwtgate_signs_and_jsonwebtoken_verifies(Algorithm::HS256);
}

#[test]
fn es256_token_signed_by_jwtgate_verifies_under_jsonwebtoken() {
    jwtgate_signs_and_jsonwebtoken_verifies(Algorithm::ES256);
}

#[test]
fn eddsa_token_signed_by_jwtgate_verifies_under_jsonwebtoken() {
    jwtgate_signs_and_jsonwebtoken_verifies(Algorithm::EdDSA);
}

#[test]
fn rs256_token_signed_by_jwtgate_verifies_under_jsonwebtoken() {
    jwtgate_signs_and_jsonwebtoken_verifies(Algorithm::RS256);
}

#[test]
fn hs256_token_signed_by_jsonwebtoken_verifies_under_jwtgate() {
    jsonwebtoken_signs_and_jwtgate_verifies(Algorithm::HS256);
}

#[test]
fn es256_token_signed_by_jsonwebtoken_verifies_under_jwtgate() {
    jsonwebtoken_signs_and_jwtgate_verifies(Algorithm::ES256);
}

#[test]
fn eddsa_token_signed_by_jsonwebtoken_verifies_under_jwtgate() {
    jsonwebtoken_signs_and_jwtgate_verifies(Algorithm::EdDSA);
}

#[test]
fn rs256_token_signed_by_jsonwebtoken_verifies_under_jwtgate() {
    jsonwebtoken_signs_and_jwtgate_verifies(Algorithm::RS256);
}

#[test]
fn jsonwebtoken_reads_keys_from_our_published_jwks() {
    // The JWKS a jwtgate server publishes is usable as-is by a jsonwebtoken resource server.
    let keys = KeySet::new(Key::generate(Algorithm::EdDSA).expect("key")).expect("set");
    let published = serde_json::to_string(&keys.jwks()).expect("JSON");
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&published).expect("JWKS");
    let now = now();
    let token = keys.sign(ACCESS_TOKEN_TYP, &claims(now)).expect("signed");
    let kid = jsonwebtoken::decode_header(&token)
        .expect("header")
        .kid
        .expect("kid");
    let jwk = set.find(&kid).expect("our kid is in our JWKS");
    let key = DecodingKey::from_jwk(jwk).expect("decoding key");
    let validation = strict_validation(jsonwebtoken::Algorithm::EdDSA);
    assert!(decode::<serde_json::Value>(&token, &key, &validation).is_ok());
}
