//! Verification speed, side by side with `jsonwebtoken` 11 (aws-lc backend, keys pre-built,
//! an equivalent strict `Validation`) on the same ~500-byte realistic access token.
//!
//! Run: `cargo bench -p jwtgate-verify --bench verify`. Figures go to BENCHMARKS.md; nothing
//! here is asserted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use jwtgate_verify::{
    ACCESS_TOKEN_TYP, Algorithm, Audience, Claims, Key, KeySet, Policy, Verifier,
};

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
        jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation)
            .expect("jsonwebtoken accepts");

        let mut group = c.benchmark_group(format!("verify/{alg}"));
        group.bench_function(format!("jwtgate-verify ({} B)", token.len()), |b| {
            b.iter(|| uncached.verify(std::hint::black_box(&token)))
        });
        group.bench_function("jsonwebtoken", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde_json::Value>(
                    std::hint::black_box(&token),
                    &decoding,
                    &validation,
                )
            })
        });
        group.bench_function("jwtgate-verify cache hit", |b| {
            b.iter(|| cached.verify(std::hint::black_box(&token)))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
