//! The claims of a jwtgate token and their strict reading.
//!
//! Owns [`Claims`] and [`Audience`]. Every registered claim is read with its exact JSON type:
//! `exp` as a string, a float or a negative number is an error here, never a silently skipped
//! check (CVE-2026-25537). Policy (issuer, audience, time) is checked in `verify.rs`.
//!
//! `jti` and `iat` are required unless the policy says otherwise (tokens of other issuers,
//! `Policy::allow_missing_jti` and `Policy::allow_missing_iat`). The struct keeps its shape
//! then: an absent `jti` reads as the empty string (which no token may carry, so it only ever
//! means "absent"), an absent `iat` as [`Claims::NO_IAT`] (a negative number, which no token
//! may carry either).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Error;
use crate::json::{JsonKey, Loose, StrictValue, duplicate};

/// The latest NumericDate accepted: 9999-12-31T23:59:59Z. Larger values are refused rather
/// than risk overflow in arithmetic with leeway and lifetimes.
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// The verified claims of a token: the registered claims, jwtgate's own, and the rest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id (never empty).
    pub sub: String,
    /// Audience.
    pub aud: Audience,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch; [`Claims::NO_IAT`] when the token has none, which
    /// only a policy with `Policy::allow_missing_iat` accepts (see [`Claims::issued_at`]).
    #[serde(skip_serializing_if = "Claims::is_no_iat")]
    pub iat: i64,
    /// Not before, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id, never empty in a token; empty when the token has none, which only a
    /// policy with `Policy::allow_missing_jti` accepts (see [`Claims::token_id`]).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jti: String,
    /// Session id: revoking the session revokes every token carrying it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Roles, for access control.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Plan, for rate limits without a database read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Email address of the subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether `email` was proven to belong to the subject (OpenID Connect Core §5.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The OAuth client the token was issued to (RFC 9068 §2.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Any other claims, read strictly (no duplicate keys at any depth).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Claims {
    /// What `iat` holds when the token has none (only under `Policy::allow_missing_iat`).
    ///
    /// Negative, so no token can carry it (a NumericDate here is never negative) and it
    /// cannot be mistaken for a real time; and earlier than any time, so a per-user
    /// "issued before" cut-off ([`crate::RevocationView`]) refuses such a token, the safe
    /// reading of a token that does not say when it was issued.
    pub const NO_IAT: i64 = -1;

    /// `iat`, or `None` if the token has none.
    #[must_use]
    pub fn issued_at(&self) -> Option<i64> {
        (self.iat != Claims::NO_IAT).then_some(self.iat)
    }

    /// `jti`, or `None` if the token has none.
    #[must_use]
    pub fn token_id(&self) -> Option<&str> {
        (!self.jti.is_empty()).then_some(self.jti.as_str())
    }

    fn is_no_iat(iat: &i64) -> bool {
        *iat == Claims::NO_IAT
    }

    /// Whether the token grants `role`.
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The scopes the token grants: its `scope` claim (RFC 9068 §2.2.3, RFC 8693 §4.2), a
    /// space-separated string, split. Empty when the token has none. (A `scope` of another JSON
    /// type is refused at verification, never read as no scope.)
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.extra
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    /// Whether the token grants `scope` (exact, case-sensitive match of one of [`Claims::scopes`]).
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// The claims this type does not know (`extra`), as your own type: what `jsonwebtoken`'s
    /// `decode::<T>` gives, without parsing the token again. They were read strictly with the
    /// rest (a duplicate key anywhere refused the token), so `T` sees each claim once.
    /// Registered claims (`iss`, `sub`, `exp`...) are in [`Claims`] itself, not here.
    ///
    /// ```
    /// # use jwtgate_verify::Claims;
    /// #[derive(serde::Deserialize)]
    /// struct Tenant { tenant: String, #[serde(default)] seats: u32 }
    /// # fn f(claims: &Claims) -> Result<(), serde_json::Error> {
    /// let tenant: Tenant = claims.custom()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The claims do not fit `T` (a missing field, a wrong type).
    pub fn custom<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.extra)
    }

    /// Reads claims strictly from a decoded payload, `jti` and `iat` required.
    ///
    /// # Errors
    /// [`Error::Json`], [`Error::DuplicateKey`], [`Error::MissingClaim`] or
    /// [`Error::InvalidClaim`].
    pub fn from_json(payload: &[u8]) -> Result<Claims, Error> {
        Claims::from_json_with(payload, Optional::NONE)
    }

    /// As [`Claims::from_json`], with the claims `optional` lets a token leave out.
    pub(crate) fn from_json_with(payload: &[u8], optional: Optional) -> Result<Claims, Error> {
        crate::json::parse(payload, ClaimsSeed { optional })
    }
}

/// Which of the claims jwtgate requires a policy lets a token leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Optional {
    pub(crate) jti: bool,
    pub(crate) iat: bool,
}

impl Optional {
    /// Every claim required: jwtgate's own tokens.
    pub(crate) const NONE: Optional = Optional {
        jti: false,
        iat: false,
    };
}

/// `aud`: a single string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// `"aud": "api"`.
    One(String),
    /// `"aud": ["api", "other"]`.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is among the token's audiences.
    #[must_use]
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Audience::One(one) => s.serialize_str(one),
            Audience::Many(many) => many.serialize(s),
        }
    }
}

impl From<&str> for Audience {
    fn from(value: &str) -> Self {
        Audience::One(value.to_owned())
    }
}

fn string(value: Loose<'_>, name: &'static str) -> Result<String, Error> {
    match value {
        Loose::Str(s) => Ok(s.into_owned()),
        _ => Err(Error::InvalidClaim(name)),
    }
}

fn strings(value: Loose<'_>, name: &'static str) -> Result<Vec<String>, Error> {
    match value {
        Loose::Strings(items) => Ok(items),
        _ => Err(Error::InvalidClaim(name)),
    }
}

/// `sub` names the principal the token speaks for. An empty string names no one, and a service
/// looking it up could land on a default or anonymous record, so it is refused like a wrong type.
/// So is an empty `jti`: it identifies no token (and the empty string is what an absent `jti`
/// reads as, where a policy lets it be absent).
fn non_empty(value: Loose<'_>, name: &'static str) -> Result<String, Error> {
    match string(value, name)? {
        s if s.is_empty() => Err(Error::InvalidClaim(name)),
        s => Ok(s),
    }
}

fn boolean(value: Loose<'_>, name: &'static str) -> Result<bool, Error> {
    match value {
        Loose::Bool(b) => Ok(b),
        _ => Err(Error::InvalidClaim(name)),
    }
}

fn numeric_date(value: Loose<'_>, name: &'static str) -> Result<i64, Error> {
    match value {
        Loose::Int(t) if (0..=MAX_NUMERIC_DATE).contains(&t) => Ok(t),
        _ => Err(Error::InvalidClaim(name)),
    }
}

fn audience(value: Loose<'_>) -> Result<Audience, Error> {
    match value {
        Loose::Str(s) => Ok(Audience::One(s.into_owned())),
        Loose::Strings(items) => Ok(Audience::Many(items)),
        _ => Err(Error::InvalidClaim("aud")),
    }
}

#[derive(Default)]
struct Partial {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
    sid: Option<String>,
    roles: Option<Vec<String>>,
    plan: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    client_id: Option<String>,
    extra: Map<String, Value>,
}

impl Partial {
    fn finish(self, optional: Optional) -> Result<Claims, Error> {
        // In the order of the claims in `Claims`, so the first missing one is reported.
        let iss = self.iss.ok_or(Error::MissingClaim("iss"))?;
        let sub = self.sub.ok_or(Error::MissingClaim("sub"))?;
        let aud = self.aud.ok_or(Error::MissingClaim("aud"))?;
        let exp = self.exp.ok_or(Error::MissingClaim("exp"))?;
        let iat = match self.iat {
            Some(iat) => iat,
            None if optional.iat => Claims::NO_IAT,
            None => return Err(Error::MissingClaim("iat")),
        };
        let jti = match self.jti {
            Some(jti) => jti,
            None if optional.jti => String::new(),
            None => return Err(Error::MissingClaim("jti")),
        };
        Ok(Claims {
            iss,
            sub,
            aud,
            exp,
            iat,
            nbf: self.nbf,
            jti,
            sid: self.sid,
            roles: self.roles.unwrap_or_default(),
            plan: self.plan,
            email: self.email,
            email_verified: self.email_verified,
            client_id: self.client_id,
            extra: self.extra,
        })
    }
}

struct ClaimsSeed {
    optional: Optional,
}

impl<'de> DeserializeSeed<'de> for ClaimsSeed {
    type Value = Result<Claims, Error>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

/// Stores a typed claim, remembering type errors but reading on, so that a duplicate key later
/// in the object is still reported as such (a mistyped copy is a copy too: see `visit_map`).
fn put<T, E: serde::de::Error>(
    slot: &mut Option<T>,
    parsed: Result<T, Error>,
    errors: &mut Vec<Error>,
) -> Result<(), E> {
    if slot.is_some() {
        return Err(duplicate());
    }
    match parsed {
        Ok(value) => *slot = Some(value),
        Err(err) => errors.push(err),
    }
    Ok(())
}

impl<'de> Visitor<'de> for ClaimsSeed {
    type Value = Result<Claims, Error>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut p = Partial::default();
        let mut err = Vec::new();
        // Claims seen with the wrong type: a later copy of one is a duplicate, not a second
        // type error. `"exp":"never","exp":1800000900` must be refused as a duplicate, because a
        // first-wins and a last-wins parser would read two different tokens from it.
        let mut mistyped: Vec<String> = Vec::new();
        while let Some(JsonKey(key)) = map.next_key()? {
            let key = key.as_ref();
            if mistyped.iter().any(|seen| seen == key) {
                return Err(duplicate());
            }
            let errors_before = err.len();
            match key {
                "iss" => put(&mut p.iss, string(map.next_value()?, "iss"), &mut err)?,
                "sub" => put(&mut p.sub, non_empty(map.next_value()?, "sub"), &mut err)?,
                "aud" => put(&mut p.aud, audience(map.next_value()?), &mut err)?,
                "exp" => put(&mut p.exp, numeric_date(map.next_value()?, "exp"), &mut err)?,
                "iat" => put(&mut p.iat, numeric_date(map.next_value()?, "iat"), &mut err)?,
                "nbf" => put(&mut p.nbf, numeric_date(map.next_value()?, "nbf"), &mut err)?,
                "jti" => put(&mut p.jti, non_empty(map.next_value()?, "jti"), &mut err)?,
                "sid" => put(&mut p.sid, string(map.next_value()?, "sid"), &mut err)?,
                "roles" => put(&mut p.roles, strings(map.next_value()?, "roles"), &mut err)?,
                "plan" => put(&mut p.plan, string(map.next_value()?, "plan"), &mut err)?,
                "email" => put(&mut p.email, string(map.next_value()?, "email"), &mut err)?,
                "email_verified" => put(
                    &mut p.email_verified,
                    boolean(map.next_value()?, "email_verified"),
                    &mut err,
                )?,
                "client_id" => put(
                    &mut p.client_id,
                    string(map.next_value()?, "client_id"),
                    &mut err,
                )?,
                _ => {
                    let StrictValue(value) = map.next_value()?;
                    // RFC 9068's authorization claim: a string, or the token is refused (never
                    // read as "no scope").
                    if key == "scope" && !value.is_string() {
                        err.push(Error::InvalidClaim("scope"));
                    }
                    if p.extra.insert(key.to_owned(), value).is_some() {
                        return Err(duplicate());
                    }
                }
            }
            if err.len() > errors_before {
                mistyped.push(key.to_owned());
            }
        }
        Ok(match err.first() {
            Some(&err) => Err(err),
            None => p.finish(self.optional),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"iss":"i","sub":"s","aud":"a","exp":1900,"iat":1000,"jti":"j"}"#;
    const BARE: &str = r#"{"iss":"i","sub":"s","aud":"a","exp":1900}"#;
    const BOTH: Optional = Optional {
        jti: true,
        iat: true,
    };

    #[test]
    fn jti_and_iat_are_required_unless_optional() {
        assert_eq!(
            Claims::from_json(BARE.as_bytes()),
            Err(Error::MissingClaim("iat"))
        );
        let only_iat = Optional {
            jti: false,
            iat: true,
        };
        assert_eq!(
            Claims::from_json_with(BARE.as_bytes(), only_iat),
            Err(Error::MissingClaim("jti"))
        );
        let claims = Claims::from_json_with(BARE.as_bytes(), BOTH).expect("claims");
        assert_eq!((claims.jti.as_str(), claims.iat), ("", Claims::NO_IAT));
        assert_eq!((claims.token_id(), claims.issued_at()), (None, None));
    }

    #[test]
    fn present_jti_and_iat_read_the_same_whether_optional_or_not() {
        let strict = Claims::from_json(FULL.as_bytes()).expect("claims");
        let relaxed = Claims::from_json_with(FULL.as_bytes(), BOTH).expect("claims");
        assert_eq!(strict, relaxed);
        assert_eq!(
            (strict.token_id(), strict.issued_at()),
            (Some("j"), Some(1000))
        );
    }

    #[test]
    fn an_empty_jti_is_refused_even_where_jti_is_optional() {
        let empty = r#"{"iss":"i","sub":"s","aud":"a","exp":1900,"iat":1000,"jti":""}"#;
        for optional in [Optional::NONE, BOTH] {
            assert_eq!(
                Claims::from_json_with(empty.as_bytes(), optional),
                Err(Error::InvalidClaim("jti"))
            );
        }
    }

    #[test]
    fn an_iat_that_is_present_is_never_read_as_absent() {
        // No NumericDate a token may carry is NO_IAT.
        let negative = r#"{"iss":"i","sub":"s","aud":"a","exp":1900,"iat":-1}"#;
        assert_eq!(
            Claims::from_json_with(negative.as_bytes(), BOTH),
            Err(Error::InvalidClaim("iat"))
        );
    }

    #[test]
    fn claims_without_jti_or_iat_serialise_without_them() {
        let claims = Claims::from_json_with(BARE.as_bytes(), BOTH).expect("claims");
        let json = serde_json::to_vec(&claims).expect("json");
        let text = String::from_utf8(json.clone()).expect("UTF-8");
        assert!(!text.contains("jti") && !text.contains("iat"), "{text}");
        assert_eq!(Claims::from_json_with(&json, BOTH), Ok(claims));
    }

    #[test]
    fn the_first_missing_claim_is_reported_whatever_is_optional() {
        let no_iss = r#"{"sub":"s","aud":"a","exp":1900}"#;
        for optional in [Optional::NONE, BOTH] {
            assert_eq!(
                Claims::from_json_with(no_iss.as_bytes(), optional),
                Err(Error::MissingClaim("iss"))
            );
        }
    }
}
