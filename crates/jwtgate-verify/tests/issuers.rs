//! Tokens of other issuers: minted at run time by node `jose` 6 and by PyJWT, each with fresh
//! keys and the current time, with the headers and JWKS those libraries write by default (jose:
//! no `typ`, no `kid`; PyJWT: `typ: JWT`, no `kid`; both export public keys without `alg`).
//!
//! Each relaxation of [`Policy`] is shown alone: a token that differs from jwtgate's own in
//! that one way is refused by the default policy with the exact [`Error`] and accepted with
//! that one switch. Then the libraries' default tokens and Microsoft-shaped ones under
//! [`Policy::for_other_issuers`]; then attacks with the libraries' own keys, each refused
//! under that policy as under the default one (tests/attacks.rs runs its whole corpus under
//! both policies too).
//!
//! Needs `node` with `jose` 6 installed (`npm ci` in web/tests, where it is a devDependency, or
//! `JWTGATE_JOSE_DIR` naming a directory whose `node_modules` holds it) and `python3` with
//! PyJWT (`python3 -m pip install 'pyjwt[crypto]'`). Without them every test fails saying
//! what to install: none is skipped. The scripts are `tests/issuers/mint.{mjs,py}`.

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, LazyLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use common::{Fixture, b64, unb64};
use jwtgate_verify::{
    Algorithm, Claims, Error, Jwk, Jwks, Key, KeyError, KeySet, Policy, Verifier,
};
use serde_json::{Map, Value, json};

const ISS: &str = "https://login.example.com/tenant-7/v2.0";
const AUD: &str = "api://orders";
/// One fresh key pair of each per library: RSA (RS256) and P-256 (ES256).
const KEYS: [&str; 2] = ["RS256", "ES256"];
/// A certificate thumbprint as Microsoft writes one (`x5t`, SHA-1) and its SHA-256 form.
const X5T: &str = "nOo3ZDrODXEK1jKWhXslHR_KXEg";
const X5T_S256: &str = "Ld9YW4iK2uFqS0x2vJ8bC3n4o5p6q7r8s9t0u1v2w3E";

/// The `kid` an issuer using the library would publish its `key` under.
fn kid(key: &str) -> &'static str {
    match key {
        "RS256" => "issuer-rsa-1",
        "ES256" => "issuer-ec-1",
        other => panic!("no key {other}"),
    }
}

fn algorithm(key: &str) -> Algorithm {
    key.parse().expect("an algorithm")
}

// ---------------------------------------------------------------------------------------------
// What the libraries are asked to mint.

fn without(claims: &Value, name: &str) -> Value {
    let mut claims = claims.clone();
    claims.as_object_mut().expect("object").remove(name);
    claims
}

fn with(claims: &Value, name: &str, value: Value) -> Value {
    let mut claims = claims.clone();
    claims
        .as_object_mut()
        .expect("object")
        .insert(name.into(), value);
    claims
}

/// Every token both libraries mint, named `<key>/<variant>`.
fn spec(now: i64) -> Value {
    let mut tokens = Vec::new();
    for key in KEYS {
        let kid = kid(key);
        let mut mint = |variant: &str, alg: &str, header: Value, claims: Value| {
            tokens.push(json!({
                "name": format!("{key}/{variant}"),
                "key": key,
                "alg": alg,
                "header": header,
                "claims": claims,
            }));
        };
        // Everything jwtgate requires: each variant below differs from it in one way.
        let full = json!({
            "iss": ISS, "sub": "user-7", "aud": AUD, "exp": now + 600, "iat": now, "jti": "jti-7",
        });
        let own = json!({"typ": "at+jwt", "kid": kid});
        mint("jwtgate-shaped", key, own.clone(), full.clone());
        mint(
            "no-typ",
            key,
            json!({"typ": null, "kid": kid}),
            full.clone(),
        );
        mint(
            "typ-jwt",
            key,
            json!({"typ": "JWT", "kid": kid}),
            full.clone(),
        );
        mint("no-kid", key, json!({"typ": "at+jwt"}), full.clone());
        mint("no-jti", key, own.clone(), without(&full, "jti"));
        mint("no-iat", key, own.clone(), without(&full, "iat"));
        let long = with(&without(&full, "iat"), "exp", json!(now + 7200));
        mint("no-iat-long", key, own.clone(), long);
        let x5t = json!({"typ": "at+jwt", "kid": kid, "x5t": X5T});
        mint("x5t", key, x5t, full.clone());
        let x5t_s256 = json!({"typ": "at+jwt", "kid": kid, "x5t#S256": X5T_S256});
        mint("x5t-s256", key, x5t_s256, full.clone());

        // What a user of the library writes: its default header, the claims one sets.
        let minimal = json!({"iss": ISS, "sub": "user-7", "aud": AUD, "exp": now + 600});
        mint("default", key, json!({}), minimal.clone());
        // Microsoft Entra's access tokens: `typ: JWT`, `x5t` beside `kid`, no `jti` (`uti`).
        let entra = json!({
            "aud": AUD, "iss": ISS, "iat": now, "nbf": now, "exp": now + 3000,
            "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "oid": "00000000-0000-0000-0000-000000000007",
            "tid": "00000000-0000-0000-0000-00000000000a", "uti": "AbCdEf123456", "ver": "2.0",
            "scp": "orders.read", "roles": ["Orders.Read"], "azp": "00000000-0000-0000-0000-00000000000b",
        });
        let entra_header = json!({"typ": "JWT", "kid": kid, "x5t": kid});
        mint("microsoft", key, entra_header, entra);

        // Attacks, in jwtgate's header shape so that both policies reach the check at stake.
        mint("unsecured", "none", json!({}), minimal.clone());
        if key == "RS256" {
            mint("ps256", "PS256", own.clone(), full.clone());
        }
        let evil = json!("https://evil.example");
        mint("wrong-iss", key, own.clone(), with(&full, "iss", evil));
        mint(
            "wrong-aud",
            key,
            own.clone(),
            with(&full, "aud", json!("api://billing")),
        );
        let expired = with(
            &with(&full, "exp", json!(now - 60)),
            "iat",
            json!(now - 660),
        );
        mint("expired", key, own.clone(), expired);
        let refresh = json!({"typ": "refresh+jwt", "kid": kid});
        mint("typ-refresh", key, refresh, full.clone());
        mint("jti-empty", key, own.clone(), with(&full, "jti", json!("")));
        let future = with(
            &with(&full, "iat", json!(now + 120)),
            "exp",
            json!(now + 720),
        );
        mint("iat-future", key, own.clone(), future);
    }
    json!({"keys": KEYS, "tokens": tokens})
}

// ---------------------------------------------------------------------------------------------
// Running the libraries.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Library {
    Jose,
    PyJwt,
}

/// What one library minted.
struct Minted {
    library: Library,
    /// The library and its version, for messages.
    name: String,
    /// Each public key as the library exports it.
    jwks: HashMap<String, Jwk>,
    /// Each private key (PKCS#8 PEM), for the attacks forged with the real key.
    pkcs8: HashMap<String, String>,
    tokens: HashMap<String, String>,
}

struct Mints {
    now: i64,
    all: [Minted; 2],
}

static MINTS: LazyLock<Result<Mints, String>> = LazyLock::new(|| {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let now = i64::try_from(now).expect("fits");
    let spec = spec(now).to_string();
    Ok(Mints {
        now,
        all: [mint_with_jose(&spec)?, mint_with_pyjwt(&spec)?],
    })
});

/// Both libraries' tokens; every test fails here, with the reason, if one cannot run.
fn mints() -> &'static Mints {
    MINTS.as_ref().unwrap_or_else(|why| panic!("{why}"))
}

fn now() -> i64 {
    mints().now
}

/// Runs `program` with `input` on stdin; its stdout, or why it could not run.
fn run(mut command: Command, input: &str, install: &str) -> Result<Vec<u8>, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run {program} ({err}): {install}"))?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .map_err(|err| format!("cannot write to {program}: {err}"))?;
    let output = child
        .wait_with_output()
        .map_err(|err| format!("{program} failed: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "{program} failed ({}): {}\n{install}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(output.stdout)
}

/// The directory whose `node_modules` holds jose: `JWTGATE_JOSE_DIR`, else web/tests.
fn jose_dir() -> PathBuf {
    match std::env::var_os("JWTGATE_JOSE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/tests"),
    }
}

fn mint_with_jose(spec: &str) -> Result<Minted, String> {
    let dir = jose_dir();
    let install = format!(
        "node `jose` 6 is needed in {}/node_modules: run `npm ci` in web/tests (jose is one of \
         its devDependencies), or set JWTGATE_JOSE_DIR to a directory where `npm install jose@6` \
         was run; node itself comes with Debian's `nodejs` package",
        dir.display()
    );
    let package = std::fs::read_to_string(dir.join("node_modules/jose/package.json"))
        .map_err(|err| format!("{err}: {install}"))?;
    let package: Value = serde_json::from_str(&package).map_err(|err| err.to_string())?;
    let version = package["version"].as_str().unwrap_or_default().to_owned();
    if !version.starts_with("6.") {
        return Err(format!("jose {version} found, 6.x wanted: {install}"));
    }
    let mut node = Command::new("node");
    node.current_dir(&dir).args([
        "--input-type=module",
        "-e",
        include_str!("issuers/mint.mjs"),
    ]);
    let output = run(node, spec, &install)?;
    parse(Library::Jose, format!("node jose {version}"), &output)
}

fn mint_with_pyjwt(spec: &str) -> Result<Minted, String> {
    let install = "PyJWT is needed: `python3 -m pip install 'pyjwt[crypto]'` (python3 itself \
                   comes with Debian's `python3` and `python3-pip` packages)";
    let mut python = Command::new("python3");
    python.args(["-c", include_str!("issuers/mint.py")]);
    let output = run(python, spec, install)?;
    let version =
        serde_json::from_slice::<Value>(&output).map_err(|err| err.to_string())?["version"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    parse(Library::PyJwt, format!("PyJWT {version}"), &output)
}

fn parse(library: Library, name: String, output: &[u8]) -> Result<Minted, String> {
    #[derive(serde::Deserialize)]
    struct Output {
        jwks: HashMap<String, Jwk>,
        pkcs8: HashMap<String, String>,
        tokens: HashMap<String, String>,
    }
    let output: Output = serde_json::from_slice(output)
        .map_err(|err| format!("{name} printed something unexpected: {err}"))?;
    Ok(Minted {
        library,
        name,
        jwks: output.jwks,
        pkcs8: output.pkcs8,
        tokens: output.tokens,
    })
}

impl Minted {
    fn token(&self, key: &str, variant: &str) -> &str {
        let name = format!("{key}/{variant}");
        self.tokens
            .get(&name)
            .unwrap_or_else(|| panic!("{} minted no {name}", self.name))
    }

    /// The public key of `key` exactly as the library exported it.
    fn exported(&self, key: &str) -> Jwk {
        self.jwks[key].clone()
    }

    /// The JWKS an issuer using the library publishes: the exported key under a `kid`.
    fn jwks(&self, key: &str) -> Jwks {
        let mut jwk = self.exported(key);
        jwk.kid = Some(kid(key).to_owned());
        Jwks { keys: vec![jwk] }
    }

    /// That JWKS read with RSA keys assumed RS256: the one key of the issuer.
    fn keys(&self, key: &str) -> KeySet {
        KeySet::from_jwks_assuming(&self.jwks(key), Algorithm::RS256).expect("importable")
    }

    /// The private key of `key`, to forge tokens with it.
    fn fixture(&self, key: &str) -> Fixture {
        Fixture::from_pem(algorithm(key), kid(key), self.pkcs8[key].clone())
    }
}

/// Every (library, key) pair, with a label for messages.
fn each() -> impl Iterator<Item = (&'static Minted, &'static str, String)> {
    mints().all.iter().flat_map(|minted| {
        KEYS.into_iter()
            .map(move |key| (minted, key, format!("{} {key}", minted.name)))
    })
}

fn default_policy() -> Policy {
    Policy::new(ISS, AUD)
}

fn other_issuers() -> Policy {
    Policy::new(ISS, AUD).for_other_issuers()
}

fn verify(policy: Policy, keys: KeySet, token: &str) -> Result<Arc<Claims>, Error> {
    Verifier::new(keys, policy).verify_at(token, now())
}

/// The decoded header of `token`.
fn header(token: &str) -> Map<String, Value> {
    let segment = token.split('.').next().expect("a header");
    serde_json::from_slice(&unb64(segment)).expect("a JSON header")
}

/// For every library and key: `variant` is refused by the default policy as `expected`, and
/// accepted under `relaxed`. Returns the claims accepted, with their label.
fn refused_by_default_accepted_with(
    variant: &str,
    expected: Error,
    relaxed: impl Fn() -> Policy,
) -> Vec<(String, Arc<Claims>)> {
    each()
        .map(|(minted, key, at)| {
            let token = minted.token(key, variant);
            assert_eq!(
                verify(default_policy(), minted.keys(key), token),
                Err(expected),
                "{at}: {variant} under the default policy"
            );
            let claims = verify(relaxed(), minted.keys(key), token)
                .unwrap_or_else(|err| panic!("{at}: {variant} refused: {}", err.reason()));
            (at, claims)
        })
        .collect()
}

/// `token` is refused as `expected` under the default policy and under the policy for other
/// issuers alike.
fn assert_refused_alike(keys: &KeySet, token: &str, expected: Error, at: &str) {
    for (name, policy) in [("default", default_policy()), ("other", other_issuers())] {
        let err = verify(policy, keys.clone(), token).expect_err("accepted");
        assert_eq!(
            err,
            expected,
            "{at}: refused under {name} as {}",
            err.reason()
        );
    }
}

fn assert_refused_for_other_issuers(keys: &KeySet, token: &str, expected: Error, at: &str) {
    let err = verify(other_issuers(), keys.clone(), token).expect_err("accepted");
    assert_eq!(err, expected, "{at}: refused as {}", err.reason());
}

// ---------------------------------------------------------------------------------------------
// Keys as the libraries publish them.

#[test]
fn both_libraries_export_public_keys_without_alg_or_kid() {
    for (minted, key, at) in each() {
        let jwk = minted.exported(key);
        assert_eq!(jwk.alg, None, "{at}");
        assert_eq!(jwk.kid, None, "{at}");
    }
}

#[test]
fn rsa_keys_published_without_alg_are_skipped_by_default() {
    for minted in &mints().all {
        let jwks = minted.jwks("RS256");
        assert!(
            KeySet::from_jwks(&jwks).expect("a set").is_empty(),
            "{}",
            minted.name
        );
        assert_eq!(
            Key::from_jwk(&jwks.keys[0]).expect_err("imported"),
            KeyError::Unsupported("RSA JWK must name its alg"),
            "{}",
            minted.name
        );
    }
}

#[test]
fn rsa_keys_published_without_alg_are_read_as_rs256_when_assumed() {
    for minted in &mints().all {
        let keys = minted.keys("RS256");
        assert_eq!(keys.len(), 1);
        let key = keys.get(kid("RS256")).expect("the published key");
        assert_eq!(key.algorithm(), Algorithm::RS256, "{}", minted.name);
        // Exactly as exported, without a kid: found under its RFC 7638 thumbprint.
        let exported = Jwks {
            keys: vec![minted.exported("RS256")],
        };
        let keys = KeySet::from_jwks_assuming(&exported, Algorithm::RS256).expect("a set");
        let thumbprint = minted.exported("RS256").thumbprint().expect("thumbprint");
        assert!(keys.get(&thumbprint).is_some(), "{}", minted.name);
        let token = minted.token("RS256", "default");
        assert!(
            verify(other_issuers(), keys, token).is_ok(),
            "{}",
            minted.name
        );
    }
}

#[test]
fn ec_keys_published_without_alg_are_read_as_es256_from_their_curve() {
    for minted in &mints().all {
        let keys = KeySet::from_jwks(&minted.jwks("ES256")).expect("a set");
        let key = keys
            .get(kid("ES256"))
            .expect("imported without an assumption");
        assert_eq!(key.algorithm(), Algorithm::ES256, "{}", minted.name);
    }
}

#[test]
fn rsa_key_assumed_rs256_refuses_tokens_the_same_key_signed_with_ps256() {
    for minted in &mints().all {
        let token = minted.token("RS256", "ps256");
        assert_refused_alike(
            &minted.keys("RS256"),
            token,
            Error::AlgorithmMismatch,
            &minted.name,
        );
        // The signature is good: only the assumption decides, and PS256 accepts it.
        let ps256 =
            KeySet::from_jwks_assuming(&minted.jwks("RS256"), Algorithm::PS256).expect("a set");
        assert!(
            verify(default_policy(), ps256, token).is_ok(),
            "{}",
            minted.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Each relaxation alone: refused by default with the exact error, accepted with that switch.

#[test]
fn control_jwtgate_shaped_tokens_from_both_libraries_pass_the_default_policy() {
    for (minted, key, at) in each() {
        let claims = verify(
            default_policy(),
            minted.keys(key),
            minted.token(key, "jwtgate-shaped"),
        )
        .unwrap_or_else(|err| panic!("{at}: {}", err.reason()));
        assert_eq!(claims.sub, "user-7");
    }
}

#[test]
fn token_without_typ_is_refused_by_default_and_accepted_with_allow_missing_typ() {
    for (minted, key, at) in each() {
        assert!(
            !header(minted.token(key, "no-typ")).contains_key("typ"),
            "{at}"
        );
    }
    refused_by_default_accepted_with("no-typ", Error::MissingHeader("typ"), || {
        default_policy().allow_missing_typ()
    });
}

#[test]
fn token_typed_jwt_is_refused_by_default_and_accepted_with_allow_typ_jwt() {
    refused_by_default_accepted_with("typ-jwt", Error::WrongType, || {
        default_policy().allow_typ(["JWT"])
    });
    // Two switches: accepting no `typ` does not accept any `typ`.
    for (minted, key, at) in each() {
        let token = minted.token(key, "typ-jwt");
        let policy = default_policy().allow_missing_typ();
        assert_eq!(
            verify(policy, minted.keys(key), token),
            Err(Error::WrongType),
            "{at}"
        );
    }
}

#[test]
fn token_without_kid_is_refused_by_default_and_accepted_with_a_single_key() {
    refused_by_default_accepted_with("no-kid", Error::MissingHeader("kid"), || {
        default_policy().allow_missing_kid_with_single_key()
    });
}

#[test]
fn token_without_kid_is_refused_when_the_set_holds_several_keys() {
    for (minted, key, at) in each() {
        let mut both = minted.jwks("RS256");
        both.keys.extend(minted.jwks("ES256").keys);
        let keys = KeySet::from_jwks_assuming(&both, Algorithm::RS256).expect("a set");
        assert_eq!(keys.len(), 2);
        let token = minted.token(key, "no-kid");
        assert_refused_for_other_issuers(&keys, token, Error::MissingHeader("kid"), &at);
    }
}

#[test]
fn token_without_jti_is_refused_by_default_and_accepted_with_allow_missing_jti() {
    let accepted = refused_by_default_accepted_with("no-jti", Error::MissingClaim("jti"), || {
        default_policy().allow_missing_jti()
    });
    for (at, claims) in accepted {
        assert_eq!(claims.jti, "", "{at}");
        assert_eq!(claims.token_id(), None, "{at}");
    }
}

#[test]
fn token_without_iat_is_refused_by_default_and_accepted_with_allow_missing_iat() {
    let accepted = refused_by_default_accepted_with("no-iat", Error::MissingClaim("iat"), || {
        default_policy().allow_missing_iat()
    });
    for (at, claims) in accepted {
        assert_eq!(claims.iat, Claims::NO_IAT, "{at}");
        assert_eq!(claims.issued_at(), None, "{at}");
    }
}

#[test]
fn token_without_iat_is_still_bounded_by_the_maximum_lifetime() {
    for (minted, key, at) in each() {
        let token = minted.token(key, "no-iat-long");
        let verifier = Verifier::new(minted.keys(key), default_policy().allow_missing_iat());
        // Two hours left, one allowed.
        assert_eq!(
            verifier.verify_at(token, now()),
            Err(Error::LifetimeTooLong),
            "{at}"
        );
        // Within an hour (and the leeway) of its expiry, it passes; at expiry, it is expired.
        assert!(verifier.verify_at(token, now() + 3570).is_ok(), "{at}");
        assert_eq!(
            verifier.verify_at(token, now() + 7200 + 30),
            Err(Error::Expired),
            "{at}"
        );
    }
}

#[test]
fn token_with_x5t_is_refused_by_default_and_accepted_when_x5t_is_ignored() {
    refused_by_default_accepted_with("x5t", Error::ForbiddenHeader, || {
        default_policy().ignore_header_params(["x5t"])
    });
    refused_by_default_accepted_with("x5t-s256", Error::ForbiddenHeader, || {
        default_policy().ignore_header_params(["x5t#S256"])
    });
    // Each parameter is named: ignoring `x5t` does not ignore `x5t#S256`.
    for (minted, key, at) in each() {
        let token = minted.token(key, "x5t-s256");
        let policy = default_policy().ignore_header_params(["x5t"]);
        let refused = verify(policy, minted.keys(key), token);
        assert_eq!(refused, Err(Error::ForbiddenHeader), "{at}");
    }
}

// ---------------------------------------------------------------------------------------------
// The libraries' own defaults, and Microsoft's shape, under the policy for other issuers.

#[test]
fn jose_default_token_is_refused_by_default_and_accepted_for_other_issuers() {
    let jose = &mints().all[0];
    assert_eq!(jose.library, Library::Jose);
    for key in KEYS {
        let token = jose.token(key, "default");
        // jose writes `alg` and nothing else.
        assert_eq!(Value::Object(header(token)), json!({"alg": key}));
        let keys = jose.keys(key);
        let refused = verify(default_policy(), keys.clone(), token);
        assert_eq!(refused, Err(Error::MissingHeader("kid")), "{key}");
        let claims = verify(other_issuers(), keys, token).expect("accepted");
        assert_eq!((claims.token_id(), claims.issued_at()), (None, None));
    }
}

#[test]
fn pyjwt_default_token_is_refused_by_default_and_accepted_for_other_issuers() {
    let pyjwt = &mints().all[1];
    assert_eq!(pyjwt.library, Library::PyJwt);
    for key in KEYS {
        let token = pyjwt.token(key, "default");
        // PyJWT writes `typ: JWT` and no `kid`.
        assert_eq!(
            Value::Object(header(token)),
            json!({"alg": key, "typ": "JWT"})
        );
        let keys = pyjwt.keys(key);
        let refused = verify(default_policy(), keys.clone(), token);
        assert_eq!(refused, Err(Error::MissingHeader("kid")), "{key}");
        assert!(verify(other_issuers(), keys, token).is_ok(), "{key}");
    }
}

#[test]
fn microsoft_shaped_token_is_refused_by_default_and_accepted_for_other_issuers() {
    let accepted =
        refused_by_default_accepted_with("microsoft", Error::ForbiddenHeader, other_issuers);
    for (at, claims) in accepted {
        assert_eq!(claims.roles, ["Orders.Read"], "{at}");
        assert_eq!(claims.token_id(), None, "{at}");
        assert_eq!(claims.extra["uti"], "AbCdEf123456", "{at}");
    }
}

// ---------------------------------------------------------------------------------------------
// Attacks with the libraries' keys: refused under the policy for other issuers, as under the
// default one.

#[test]
fn unsecured_tokens_from_both_libraries_are_refused() {
    for (minted, key, at) in each() {
        let token = minted.token(key, "unsecured");
        assert_eq!(header(token)["alg"], "none", "{at}");
        assert!(token.ends_with('.'), "{at}: no signature");
        assert_refused_alike(&minted.keys(key), token, Error::Malformed, &at);
    }
}

#[test]
fn alg_none_with_the_real_signature_is_refused() {
    for (minted, key, at) in each() {
        let forger = minted.fixture(key);
        let payload = minted
            .token(key, "jwtgate-shaped")
            .split('.')
            .nth(1)
            .expect("payload");
        let header = format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{}"}}"#, kid(key));
        let token = forger.sign_segments(&b64(header), payload);
        assert_refused_alike(&minted.keys(key), &token, Error::AlgorithmMismatch, &at);
        let token = forger.sign_segments(&b64(r#"{"alg":"none"}"#), payload);
        assert_refused_for_other_issuers(&minted.keys(key), &token, Error::AlgorithmMismatch, &at);
    }
}

#[test]
fn hs256_keyed_with_the_published_public_key_is_refused() {
    for (minted, key, at) in each() {
        let forger = minted.fixture(key);
        let jwk_text = serde_json::to_vec(&minted.jwks(key).keys[0]).expect("JSON");
        let pem = pem::encode(&pem::Pem::new("PUBLIC KEY", forger.public_der()));
        let payload = minted
            .token(key, "jwtgate-shaped")
            .split('.')
            .nth(1)
            .expect("payload");
        let with_kid = format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"}}"#, kid(key));
        for secret in [jwk_text, forger.public_der(), pem.into_bytes()] {
            let hmac_key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
            for header in [with_kid.as_str(), r#"{"alg":"HS256"}"#] {
                let input = format!("{}.{payload}", b64(header));
                let tag = hmac::sign(&hmac_key, input.as_bytes());
                let token = format!("{input}.{}", b64(tag));
                let keys = minted.keys(key);
                assert_refused_for_other_issuers(&keys, &token, Error::AlgorithmMismatch, &at);
                if header == with_kid {
                    assert_refused_alike(&keys, &token, Error::AlgorithmMismatch, &at);
                }
            }
        }
    }
}

#[test]
fn keys_carried_in_the_token_are_refused() {
    for (minted, key, at) in each() {
        let forger = minted.fixture(key);
        let jwk = serde_json::to_string(&minted.jwks(key).keys[0]).expect("JSON");
        let payload = minted
            .token(key, "jwtgate-shaped")
            .split('.')
            .nth(1)
            .expect("payload");
        for carried in [
            format!(r#""jwk":{jwk}"#),
            r#""jku":"https://evil.example/jwks.json""#.to_owned(),
            r#""x5u":"https://evil.example/cert.pem""#.to_owned(),
            r#""x5c":["MIIBszCCAVmgAw"]"#.to_owned(),
        ] {
            let header = format!(
                r#"{{"alg":"{key}","typ":"at+jwt","kid":"{}",{carried}}}"#,
                kid(key)
            );
            let token = forger.sign_segments(&b64(&header), payload);
            assert_refused_alike(&minted.keys(key), &token, Error::ForbiddenHeader, &at);
            // Also beside the `x5t` the policy for other issuers ignores, and without `kid`.
            let header = format!(r#"{{"alg":"{key}","x5t":"{X5T}",{carried}}}"#);
            let token = forger.sign_segments(&b64(&header), payload);
            let keys = minted.keys(key);
            assert_refused_for_other_issuers(&keys, &token, Error::ForbiddenHeader, &at);
        }
    }
}

#[test]
fn crit_is_refused_even_when_it_names_an_ignored_parameter() {
    for (minted, key, at) in each() {
        let forger = minted.fixture(key);
        let payload = minted
            .token(key, "jwtgate-shaped")
            .split('.')
            .nth(1)
            .expect("payload");
        let header = format!(
            r#"{{"alg":"{key}","typ":"at+jwt","kid":"{}","crit":["exp"],"exp":1}}"#,
            kid(key)
        );
        let token = forger.sign_segments(&b64(&header), payload);
        assert_refused_alike(&minted.keys(key), &token, Error::ForbiddenHeader, &at);
        let header = format!(r#"{{"alg":"{key}","x5t":"{X5T}","crit":["x5t"]}}"#);
        let token = forger.sign_segments(&b64(&header), payload);
        let keys = minted.keys(key);
        assert_refused_for_other_issuers(&keys, &token, Error::ForbiddenHeader, &at);
    }
}

#[test]
fn duplicate_keys_are_refused() {
    for (minted, key, at) in each() {
        let forger = minted.fixture(key);
        let keys = minted.keys(key);
        let good = minted.token(key, "jwtgate-shaped");
        let (header_segment, payload) = good.split_once('.').expect("segments");
        let payload = payload.split('.').next().expect("payload");
        let header = format!(
            r#"{{"alg":"{key}","typ":"at+jwt","kid":"{}","alg":"none"}}"#,
            kid(key)
        );
        let token = forger.sign_segments(&b64(&header), payload);
        assert_refused_alike(&keys, &token, Error::DuplicateKey, &at);
        let header = format!(r#"{{"alg":"{key}","x5t":"{X5T}","x5t":"other"}}"#);
        let token = forger.sign_segments(&b64(&header), payload);
        assert_refused_for_other_issuers(&keys, &token, Error::DuplicateKey, &at);
        // The library's own claims with a second `sub`.
        let claims = String::from_utf8(unb64(payload)).expect("UTF-8");
        let claims = claims.replacen('{', r#"{"sub":"admin","#, 1);
        let token = forger.sign_segments(header_segment, &b64(&claims));
        assert_refused_alike(&keys, &token, Error::DuplicateKey, &at);
    }
}

#[test]
fn tampered_payload_is_refused() {
    for (minted, key, at) in each() {
        let token = minted.token(key, "default");
        let (header, rest) = token.split_once('.').expect("segments");
        let (payload, signature) = rest.split_once('.').expect("segments");
        let claims = String::from_utf8(unb64(payload)).expect("UTF-8");
        let forged = b64(claims.replace("user-7", "admin"));
        let token = format!("{header}.{forged}.{signature}");
        let keys = minted.keys(key);
        assert_refused_for_other_issuers(&keys, &token, Error::BadSignature, &at);
    }
}

#[test]
fn token_signed_by_another_issuer_s_key_is_refused() {
    let [jose, pyjwt] = &mints().all;
    for key in KEYS {
        for (signer, trusted) in [(jose, pyjwt), (pyjwt, jose)] {
            let at = format!("{} token, {} key, {key}", signer.name, trusted.name);
            let keys = trusted.keys(key);
            let token = signer.token(key, "default");
            assert_refused_for_other_issuers(&keys, token, Error::BadSignature, &at);
            let token = signer.token(key, "jwtgate-shaped");
            assert_refused_alike(&keys, token, Error::BadSignature, &at);
        }
    }
}

#[test]
fn wrong_issuer_and_audience_are_refused() {
    for (minted, key, at) in each() {
        let keys = minted.keys(key);
        let token = minted.token(key, "wrong-iss");
        assert_refused_alike(&keys, token, Error::WrongIssuer, &at);
        let token = minted.token(key, "wrong-aud");
        assert_refused_alike(&keys, token, Error::WrongAudience, &at);
    }
}

#[test]
fn expired_token_is_refused() {
    for (minted, key, at) in each() {
        let keys = minted.keys(key);
        assert_refused_alike(&keys, minted.token(key, "expired"), Error::Expired, &at);
        // The default token expires too, under the relaxed policy, after the leeway.
        let token = minted.token(key, "default");
        let verifier = Verifier::new(keys, other_issuers());
        let verdict = verifier.verify_at(token, now() + 600 + 30);
        assert_eq!(verdict, Err(Error::Expired), "{at}");
    }
}

#[test]
fn other_token_types_are_refused() {
    for (minted, key, at) in each() {
        let token = minted.token(key, "typ-refresh");
        assert_refused_alike(&minted.keys(key), token, Error::WrongType, &at);
    }
}

#[test]
fn empty_jti_and_iat_in_the_future_are_refused() {
    for (minted, key, at) in each() {
        let keys = minted.keys(key);
        let token = minted.token(key, "jti-empty");
        assert_refused_alike(&keys, token, Error::InvalidClaim("jti"), &at);
        let token = minted.token(key, "iat-future");
        assert_refused_alike(&keys, token, Error::IssuedInFuture, &at);
    }
}
