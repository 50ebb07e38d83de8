//! Strict JSON reading for headers and claims: objects only, duplicate keys rejected at every
//! depth, and values read loosely so that a wrong type becomes a precise [`Error`] instead of
//! an opaque parser failure.
//!
//! Owns the serde plumbing shared by `claims.rs` and `verify.rs`. serde_json alone would let the
//! last of two duplicate keys win silently; another parser may let the first win, and then two
//! services read two different tokens from the same bytes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::Error;

const DUPLICATE: &str = "jwtgate-verify: duplicate key";
const FORBIDDEN: &str = "jwtgate-verify: forbidden header";

/// Runs a strict parse and maps parser failures to [`Error`].
pub(crate) fn parse<'de, T>(
    bytes: &'de [u8],
    seed: impl DeserializeSeed<'de, Value = Result<T, Error>>,
) -> Result<T, Error> {
    // One UTF-8 check over the whole text is much cheaper than serde_json's check of each
    // string from a byte slice; JSON text must be UTF-8 anyway (RFC 8259 §8.1).
    let text = std::str::from_utf8(bytes).map_err(|_| Error::Json)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = seed.deserialize(&mut de).map_err(map_err)?;
    de.end().map_err(|_| Error::Json)?;
    value
}

fn map_err(err: serde_json::Error) -> Error {
    let text = err.to_string();
    if text.starts_with(DUPLICATE) {
        Error::DuplicateKey
    } else if text.starts_with(FORBIDDEN) {
        Error::ForbiddenHeader
    } else {
        Error::Json
    }
}

pub(crate) fn duplicate<E: de::Error>() -> E {
    E::custom(DUPLICATE)
}

pub(crate) fn forbidden<E: de::Error>() -> E {
    E::custom(FORBIDDEN)
}

/// An object key, borrowed from the input when it holds no escapes.
pub(crate) struct JsonKey<'de>(pub(crate) Cow<'de, str>);

impl<'de> de::Deserialize<'de> for JsonKey<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = JsonKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonKey(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonKey(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A JSON value read without committing to a type: typed fields check the shape afterwards.
#[derive(Debug)]
pub(crate) enum Loose<'de> {
    Str(Cow<'de, str>),
    Int(i64),
    /// Any other number: a float, or an integer beyond `i64`.
    OtherNumber,
    /// An array whose items are all strings (`aud`, `roles`), owned as the claims will hold them.
    Strings(Vec<String>),
    /// `true` or `false` (`email_verified`).
    Bool(bool),
    /// `null`, an object, or an array holding a non-string: never valid for a typed field.
    Other,
}

impl<'de> de::Deserialize<'de> for Loose<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LooseVisitor;
        impl<'de> Visitor<'de> for LooseVisitor {
            type Value = Loose<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Loose::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Loose::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Loose::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(Loose::OtherNumber, Loose::Int))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Loose::OtherNumber)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Loose::Bool(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Loose::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // Strings go straight into the Vec the claims keep (no Vec<Loose> in between);
                // every item is still read strictly, so a duplicate key inside is still refused.
                let mut items = Vec::new();
                let mut only_strings = true;
                while let Some(item) = seq.next_element::<Loose<'de>>()? {
                    match item {
                        Loose::Str(s) if only_strings => items.push(s.into_owned()),
                        _ => only_strings = false,
                    }
                }
                Ok(if only_strings {
                    Loose::Strings(items)
                } else {
                    Loose::Other
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                // Still read strictly: a duplicate key anywhere is refused.
                StrictMapVisitor.visit_map(map)?;
                Ok(Loose::Other)
            }
        }
        d.deserialize_any(LooseVisitor)
    }
}

/// A `serde_json::Value` whose objects, at any depth, have no duplicate keys.
pub(crate) struct StrictValue(pub(crate) Value);

impl<'de> de::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = StrictValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(StrictValue(Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(StrictValue(Value::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(StrictValue(Value::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(StrictValue(Value::from(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrictValue(Value::String(v.to_owned())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(StrictValue(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(StrictValue(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(StrictValue(Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Ok(StrictValue(Value::Object(StrictMapVisitor.visit_map(map)?)))
            }
        }
        d.deserialize_any(ValueVisitor)
    }
}

struct StrictMapVisitor;

impl<'de> Visitor<'de> for StrictMapVisitor {
    type Value = Map<String, Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Map::new();
        while let Some(JsonKey(key)) = map.next_key()? {
            let StrictValue(value) = map.next_value()?;
            if out.insert(key.into_owned(), value).is_some() {
                return Err(duplicate());
            }
        }
        Ok(out)
    }
}

/// Skips a value; used for header members that are refused anyway.
pub(crate) type Skip = IgnoredAny;

/// The header members jwtgate accepts, borrowed from the decoded header.
#[derive(Debug, Default)]
pub(crate) struct Header<'de> {
    pub(crate) alg: Option<Loose<'de>>,
    pub(crate) typ: Option<Loose<'de>>,
    pub(crate) kid: Option<Loose<'de>>,
}

/// Reads a header. `ignore` holds the parameters a policy lets a token carry beside `alg`,
/// `typ` and `kid` (such as `x5t`), none of them one that [`NEVER_IGNORED`] lists.
pub(crate) struct HeaderSeed<'p> {
    pub(crate) ignore: &'p [String],
}

/// Header parameters no policy may ignore, each refused wherever it appears: they ask the
/// verifier to trust the token's own word about keys (`jwk`, `jku`, `x5u`, `x5c`), name
/// extensions that must be understood (`crit`), change how the payload is read (`b64`,
/// `zip`, `cty`), or belong to JWE (`enc`, `epk`, `apu`, `apv`, `iv`, `tag`, `p2s`, `p2c`).
/// `alg`, `typ` and `kid` are read, never ignored.
pub(crate) const NEVER_IGNORED: [&str; 19] = [
    "alg", "typ", "kid", "crit", "jwk", "jku", "x5u", "x5c", "b64", "zip", "cty", "enc", "epk",
    "apu", "apv", "iv", "tag", "p2s", "p2c",
];

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = Result<Header<'de>, Error>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = Result<Header<'de>, Error>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut header = Header::default();
        // Which of `ignore` were seen: a second copy is a duplicate as for any other member.
        let mut ignored_seen: Vec<usize> = Vec::new();
        while let Some(JsonKey(key)) = map.next_key()? {
            let slot = match key.as_ref() {
                "alg" => &mut header.alg,
                "typ" => &mut header.typ,
                "kid" => &mut header.kid,
                other => match self.ignore.iter().position(|name| name == other) {
                    // Ignored, but still read strictly: no duplicate key inside it either.
                    Some(index) => {
                        map.next_value::<Loose<'de>>()?;
                        if ignored_seen.contains(&index) {
                            return Err(duplicate());
                        }
                        ignored_seen.push(index);
                        continue;
                    }
                    // jwk, jku, x5u, x5c, crit, b64, zip, enc, p2c, cty...: each either asks
                    // the verifier to trust the token's own word about keys or changes how the
                    // payload is read. jwtgate issues none of them, so none is accepted; nor is
                    // any other member a policy does not name.
                    None => {
                        map.next_value::<Skip>()?;
                        return Err(forbidden());
                    }
                },
            };
            let value = map.next_value::<Loose<'de>>()?;
            if slot.replace(value).is_some() {
                return Err(duplicate());
            }
        }
        Ok(Ok(header))
    }
}
