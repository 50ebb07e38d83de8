//! Verification speed, side by side with `jsonwebtoken` 11 (aws-lc backend, keys pre-built,
//! an equivalent strict `Validation`) on the same ~500-byte realistic access token.
//!
//! Per algorithm (group `verify/<alg>`):
//! - `jwtgate-verify (N B)`: a full, uncached verification (N: the token's length);
//! - `jsonwebtoken typed claims`: `jsonwebtoken::decode` into [`TypedClaims`], the struct a
//!   careful user writes; the like-for-like comparison;
//! - `jsonwebtoken serde_json::Value`: the same decode into a generic `serde_json::Value`, kept
//!   for comparison with earlier figures;
//! - `aws-lc-rs raw signature verify` (EdDSA and ES256): aws-lc-rs alone checking the same
//!   signature over the same signing input with a pre-parsed public key, as jwtgate-verify
//!   calls it underneath: the curve arithmetic, the floor of any verifier on this backend;
//! - `jwtgate-verify cache hit`: the same token again, from the verdict cache.
//!
//! Group `custom-claims/HS256` (HS256, so the signature does not hide the parsing): the same
//! token with three claims of the service's own, read as its own type: `jwtgate-verify then
//! Claims::custom` against `jsonwebtoken typed claims` declaring them too, and
//! `jwtgate-verify alone` for what the typed read adds.
//!
//! Run: `cargo bench -p jwtgate-verify --bench verify`. Figures go to BENCHMARKS.md; nothing
//! here is asserted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{self, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jwtgate_verify::{
    ACCESS_TOKEN_TYP, Algorithm, Audience, Claims, Key, KeySet, Policy, Verifier,
};
use serde::Deserialize;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";

fn claims() -> Claims {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Claims {
        iss: ISS.into(),
        sub: "01JD7Q3N4X5Y6Z7A8B9C0D1E2F".into(),
        aud: Audience::One(AUD.into()),
        exp: now + 900,
        iat: now,
        nbf: Some(now),
        jti: "b3JkZXItMTIzNDU2Nzg5MGFiY2RlZg".into(),
        sid: Some("c2Vzc2lvbi0xMjM0NTY3ODkwYWJj".into()),
        roles: vec!["user".into(), "editor".into()],
        plan: Some("pro".into()),
        email: Some("ada.lovelace@example.com".into()),
        email_verified: None,
        client_id: Some("jwtgate".into()),
        extra: serde_json::Map::new(),
    }
}

/// The claims of a jwtgate access token as a careful `jsonwebtoken` user declares them: every
/// claim jwtgate issues, with its JSON type, optional where jwtgate may leave it out. `aud` is
/// one string, as jwtgate issues it (`jsonwebtoken` checks it against the `Validation` from its
/// own reading of the payload either way).
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // only decoded: the decode is what is measured
struct TypedClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    nbf: Option<i64>,
    jti: String,
    sid: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    #[serde(default)]
    roles: Vec<String>,
    plan: Option<String>,
    client_id: Option<String>,
}

/// The signing input (`header.payload`) and the decoded signature of a compact JWS.
fn split_signed(token: &str) -> (&[u8], Vec<u8>) {
    let (input, sig) = token.rsplit_once('.').expect("compact JWS");
    (
        input.as_bytes(),
        URL_SAFE_NO_PAD.decode(sig).expect("base64url signature"),
    )
}

/// The raw public key of an EdDSA or ES256 key, pre-parsed for aws-lc-rs, as jwtgate-verify
/// holds it: Ed25519's 32 bytes, or P-256's uncompressed point `04 || x || y`.
fn raw_public_key(key: &Key) -> Option<ParsedPublicKey> {
    let jwk = key.public_jwk()?;
    let coord = |c: &Option<String>| {
        URL_SAFE_NO_PAD
            .decode(c.as_deref().expect("public key member"))
            .expect("base64url")
    };
    match key.algorithm() {
        Algorithm::EdDSA => {
            Some(ParsedPublicKey::new(&signature::ED25519, coord(&jwk.x)).expect("Ed25519 key"))
        }
        Algorithm::ES256 => {
            let mut point = vec![4u8];
            point.extend(coord(&jwk.x));
            point.extend(coord(&jwk.y));
            Some(
                ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .expect("P-256 key"),
            )
        }
        _ => None,
    }
}

fn jsonwebtoken_key(key: &Key) -> jsonwebtoken::DecodingKey {
    let jwk = key.public_jwk();
    let field = |f: fn(&jwtgate_verify::Jwk) -> &Option<String>| {
        jwk.as_ref()
            .and_then(|j| f(j).clone())
            .expect("public key member")
    };
    match key.algorithm() {
        Algorithm::HS256 => jsonwebtoken::DecodingKey::from_secret(&[42u8; 32]),
        Algorithm::EdDSA => {
            jsonwebtoken::DecodingKey::from_ed_components(&field(|j| &j.x)).expect("ed key")
        }
        Algorithm::ES256 => {
            jsonwebtoken::DecodingKey::from_ec_components(&field(|j| &j.x), &field(|j| &j.y))
                .expect("ec key")
        }
        _ => jsonwebtoken::DecodingKey::from_rsa_components(&field(|j| &j.n), &field(|j| &j.e))
            .expect("rsa key"),
    }
}

fn jsonwebtoken_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
        Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        _ => jsonwebtoken::Algorithm::RS256,
    }
}

fn bench(c: &mut Criterion) {
    for alg in [
        Algorithm::HS256,
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::RS256,
    ] {
        let key = if alg == Algorithm::HS256 {
            Key::hmac("hs-1", alg, &[42u8; 32]).expect("hmac")
        } else {
            Key::generate(alg).expect("key")
        };
        let decoding = jsonwebtoken_key(&key);
        let raw = raw_public_key(&key);
        let keys = KeySet::new(key).expect("set");
        let token = keys.sign(ACCESS_TOKEN_TYP, &claims()).expect("sign");
        let uncached = Verifier::new(keys.clone(), Policy::new(ISS, AUD));
        let cached = Verifier::new(keys, Policy::new(ISS, AUD)).with_cache(1024);
        uncached.verify(&token).expect("jwtgate-verify accepts");
        cached.verify(&token).expect("warm the cache");

        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken_alg(alg));
        validation.set_issuer(&[ISS]);
        validation.set_audience(&[AUD]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        jsonwebtoken::decode::<TypedClaims>(&token, &decoding, &validation)
            .expect("jsonwebtoken accepts (typed)");
        jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation)
            .expect("jsonwebtoken accepts (Value)");
        let (signing_input, sig) = split_signed(&token);
        if let Some(raw) = &raw {
            raw.verify_sig(signing_input, &sig)
                .expect("aws-lc-rs accepts the signature");
        }

        let mut group = c.benchmark_group(format!("verify/{alg}"));
        group.bench_function(format!("jwtgate-verify ({} B)", token.len()), |b| {
            b.iter(|| uncached.verify(std::hint::black_box(&token)))
        });
        group.bench_function("jsonwebtoken typed claims", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<TypedClaims>(
                    std::hint::black_box(&token),
                    &decoding,
                    &validation,
                )
            })
        });
        group.bench_function("jsonwebtoken serde_json::Value", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde_json::Value>(
                    std::hint::black_box(&token),
                    &decoding,
                    &validation,
                )
            })
        });
        if let Some(raw) = &raw {
            group.bench_function("aws-lc-rs raw signature verify", |b| {
                b.iter(|| {
                    raw.verify_sig(
                        std::hint::black_box(signing_input),
                        std::hint::black_box(&sig),
                    )
                })
            });
        }
        group.bench_function("jwtgate-verify cache hit", |b| {
            b.iter(|| cached.verify(std::hint::black_box(&token)))
        });
        group.finish();
    }
}

/// A service's own claims.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // only decoded: the decode is what is measured
struct Tenant<'a> {
    tenant: &'a str,
    seats: u32,
    #[serde(default)]
    features: Vec<&'a str>,
}

/// The same claims in the one struct a `jsonwebtoken` user decodes into.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // only decoded: the decode is what is measured
struct TypedClaimsWithTenant {
    #[serde(flatten)]
    registered: TypedClaims,
    tenant: String,
    seats: u32,
    #[serde(default)]
    features: Vec<String>,
}

fn custom(c: &mut Criterion) {
    let key = Key::hmac("hs-1", Algorithm::HS256, &[42u8; 32]).expect("hmac");
    let decoding = jsonwebtoken_key(&key);
    let keys = KeySet::new(key).expect("set");
    let mut with_tenant = claims();
    with_tenant
        .extra
        .insert("tenant".into(), "acme-industries".into());
    with_tenant.extra.insert("seats".into(), 250.into());
    with_tenant
        .extra
        .insert("features".into(), serde_json::json!(["sso", "audit-log"]));
    let token = keys.sign(ACCESS_TOKEN_TYP, &with_tenant).expect("sign");
    let verifier = Verifier::new(keys, Policy::new(ISS, AUD));
    let claims = verifier.verify(&token).expect("jwtgate-verify accepts");
    claims.custom::<Tenant<'_>>().expect("fits");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 30;
    jsonwebtoken::decode::<TypedClaimsWithTenant>(&token, &decoding, &validation)
        .expect("jsonwebtoken accepts");

    let mut group = c.benchmark_group("custom-claims/HS256");
    group.bench_function("jwtgate-verify then Claims::custom", |b| {
        b.iter(|| {
            let claims = verifier
                .verify(std::hint::black_box(&token))
                .expect("valid");
            claims.custom::<Tenant<'_>>().map(|t| t.seats)
        })
    });
    group.bench_function("jwtgate-verify alone", |b| {
        b.iter(|| verifier.verify(std::hint::black_box(&token)))
    });
    group.bench_function("jsonwebtoken typed claims", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<TypedClaimsWithTenant>(
                std::hint::black_box(&token),
                &decoding,
                &validation,
            )
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench, custom
}
criterion_main!(benches);
