//! Properties: whatever the claims, signing then verifying gives them back, for every algorithm;
//! and no single-byte change anywhere in a valid token is ever accepted.

mod common;

use std::sync::LazyLock;

use common::{AUD, ISS, fixtures, verifier};
use jwtgate_verify::{
    ACCESS_TOKEN_TYP, Algorithm, Audience, Claims, Key, KeySet, MAX_NUMERIC_DATE, Policy, Verifier,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// One verifier per algorithm, each holding its own signing key. Keys are made once.
static VERIFIERS: LazyLock<Vec<(Algorithm, Verifier)>> = LazyLock::new(|| {
    Algorithm::ALL
        .into_iter()
        .map(|alg| {
            let key = if alg.is_symmetric() {
                Key::hmac("hmac", alg, &[0x42; 64]).expect("HMAC key")
            } else {
                Key::generate(alg).expect("generated key")
            };
            let keys = KeySet::new(key).expect("key set");
            (alg, Verifier::new(keys, Policy::new(ISS, AUD)))
        })
        .collect()
});

fn audience() -> impl Strategy<Value = Audience> {
    prop_oneof![
        Just(Audience::One(AUD.to_owned())),
        (prop::collection::vec("\\PC{0,12}", 0..3), any::<Index>()).prop_map(|(mut others, at)| {
            let at = at.index(others.len() + 1);
            others.insert(at, AUD.to_owned());
            Audience::Many(others)
        }),
    ]
}

prop_compose! {
    /// Valid claims with arbitrary text, and a `now` at which they are current.
    fn current_claims()(
        sub in "\\PC{1,40}",
        jti in "[A-Za-z0-9_-]{1,32}",
        aud in audience(),
        iat in 0..=MAX_NUMERIC_DATE - 3600,
        lifetime in 1i64..=3600,
        age in any::<u16>(),
        with_nbf in any::<bool>(),
        sid in proptest::option::of("\\PC{1,24}"),
        roles in prop::collection::vec("\\PC{0,16}", 0..4),
        plan in proptest::option::of("[a-z]{1,10}"),
        email in proptest::option::of("\\PC{0,30}"),
        email_verified in proptest::option::of(any::<bool>()),
        client_id in proptest::option::of("\\PC{1,20}"),
    ) -> (Claims, i64) {
        let claims = Claims {
            iss: ISS.to_owned(),
            sub,
            aud,
            exp: iat + lifetime,
            iat,
            nbf: with_nbf.then_some(iat),
            jti,
            sid,
            roles,
            plan,
            email,
            email_verified,
            client_id,
            extra: serde_json::Map::new(),
        };
        (claims, iat + i64::from(age) % lifetime)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn signed_claims_verify_back_unchanged_for_every_algorithm((claims, now) in current_claims()) {
        for (alg, verifier) in VERIFIERS.iter() {
            let token = verifier.keys().sign(ACCESS_TOKEN_TYP, &claims).expect("signed");
            let verified = verifier.verify_at(&token, now);
            prop_assert_eq!(verified.as_deref(), Ok(&claims), "{}", alg);
        }
    }
}

/// The fixture verifier and one valid token per fixture key, made once.
static ATTACKED: LazyLock<(Verifier, [String; 4])> = LazyLock::new(|| {
    let f = fixtures();
    let tokens = [
        f.hs.token(&[]),
        f.ed.token(&[]),
        f.es.token(&[]),
        f.rs.token(&[]),
    ];
    (verifier(), tokens)
});

fn refuses(token: &str) -> bool {
    ATTACKED.0.verify_at(token, common::NOW).is_err()
}

/// Replaces the byte at `at` with `byte`; `None` when that changes nothing.
fn with_byte(token: &str, at: Index, byte: u8) -> Option<String> {
    let mut bytes = token.as_bytes().to_vec();
    let at = at.index(bytes.len());
    if bytes[at] == byte {
        return None;
    }
    bytes[at] = byte;
    // An ASCII token with one ASCII byte replaced is still UTF-8.
    Some(String::from_utf8(bytes).expect("ASCII"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    // Any single-byte substitution that keeps the token a string (so any ASCII byte: a lone
    // byte of 0x80 or more is never UTF-8) is refused, never accepted.

    #[test]
    fn any_single_byte_change_to_an_hs256_token_is_refused(at in any::<Index>(), byte in 0u8..0x80) {
        if let Some(changed) = with_byte(&ATTACKED.1[0], at, byte) {
            prop_assert!(refuses(&changed), "{}", changed);
        }
    }

    #[test]
    fn any_single_byte_change_to_an_eddsa_token_is_refused(at in any::<Index>(), byte in 0u8..0x80) {
        if let Some(changed) = with_byte(&ATTACKED.1[1], at, byte) {
            prop_assert!(refuses(&changed), "{}", changed);
        }
    }

    #[test]
    fn any_single_byte_change_to_an_es256_token_is_refused(at in any::<Index>(), byte in 0u8..0x80) {
        if let Some(changed) = with_byte(&ATTACKED.1[2], at, byte) {
            prop_assert!(refuses(&changed), "{}", changed);
        }
    }

    #[test]
    fn any_single_byte_change_to_an_rs256_token_is_refused(at in any::<Index>(), byte in 0u8..0x80) {
        if let Some(changed) = with_byte(&ATTACKED.1[3], at, byte) {
            prop_assert!(refuses(&changed), "{}", changed);
        }
    }

    #[test]
    fn any_proper_prefix_of_a_valid_token_is_refused(at in any::<Index>()) {
        let token = &ATTACKED.1[1];
        let prefix = &token[..at.index(token.len())];
        prop_assert!(refuses(prefix), "{}", prefix);
    }
}
