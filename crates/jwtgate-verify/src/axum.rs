//! The axum integration (feature `axum`): an extractor for verified claims, a role guard, and
//! RFC 6750 answers when either refuses a request.
//!
//! Owns [`Auth`] (what the app state provides), [`Authenticated`], [`RequireRole`],
//! [`RequireScope`] and [`AuthRejection`]. Imports axum and the crate's verification types only; it must not import
//! anything of the jwtgate server, and it never logs: the specific [`Error`] travels in the
//! rejection response's extensions, for the application's own logs and metrics.
//!
//! # Wiring
//!
//! The state must yield an `Arc<Auth>` through [`FromRef`]. With `Arc<Auth>` as the whole
//! state that is automatic; with an app state, add
//! `impl FromRef<AppState> for Arc<Auth> { fn from_ref(s: &AppState) -> Self { s.auth.clone() } }`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use jwtgate_verify::axum::{Auth, Authenticated, RequireRole, Role};
//! # fn app(verifier: Arc<jwtgate_verify::Verifier>) -> Router {
//! struct Admin;
//! impl Role for Admin { const NAME: &'static str = "admin"; }
//!
//! async fn me(user: Authenticated) -> String { user.claims.sub.clone() }
//! async fn admin(_: RequireRole<Admin>) -> &'static str { "welcome" }
//!
//! Router::new()
//!     .route("/me", get(me))
//!     .route("/admin", get(admin))
//!     .with_state(Arc::new(Auth::new(verifier).with_cookie("__Host-access")))
//! # }
//! ```
//!
//! # Where a token may come from, and what each failure answers (RFC 6750 §3)
//!
//! | request | status | `WWW-Authenticate` | `code` |
//! |---|---|---|---|
//! | no `Authorization` header (or one of another scheme, e.g. `Basic`) and no cookie | 401 | `Bearer realm="…"` | `missing_credentials` |
//! | a token that fails verification, for any reason | 401 | `Bearer realm="…", error="invalid_token"` | `invalid_token` |
//! | a Bearer header *and* the cookie, two `Authorization` headers, a malformed Bearer header, the cookie twice | 400 | `Bearer realm="…", error="invalid_request"` | `invalid_request` |
//! | a valid token without the required role or scope | 403 | `Bearer realm="…", error="insufficient_scope"` | `insufficient_scope` |
//!
//! Every rejection is `application/problem+json` (RFC 9457) with `Cache-Control: no-store`,
//! members `type` (`https://jwtgate.dev/problems/<code>`), `title`, `status`, `code` and `detail`.
//!
//! Time comes from the system clock unless [`Auth::with_clock`] injects another.
//! Every `invalid_token` body is byte-for-byte the same: which check failed is for the
//! server's logs ([`AuthRejection::kind`], or `response.extensions().get::<Error>()`),
//! never for the client, who could use it to refine a forgery.
//!
//! The query-string form (`?access_token=`, RFC 6750 §2.3) is deliberately not supported:
//! URLs end up in logs, histories and `Referer` headers.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use ::axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use ::axum::response::{IntoResponse, Response};
use http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, COOKIE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::{Claims, Error, Verifier};

/// The realm used when none is configured.
pub const DEFAULT_REALM: &str = "jwtgate";

/// What the extractors need from the application state: the verifier, where else a token may
/// be found, and the realm named in challenges.
///
/// Provide it as `Arc<Auth>` through [`FromRef`] (see the module documentation). Challenge
/// header values are built once here, not per request.
pub struct Auth {
    verifier: Arc<Verifier>,
    cookie: Option<String>,
    realm: String,
    challenges: Challenges,
    clock: Option<ClockFn>,
    #[cfg(feature = "remote")]
    remote: Option<Arc<crate::remote::RemoteJwks>>,
}

/// A source of "now", seconds since the Unix epoch (see [`Auth::with_clock`]).
pub type ClockFn = Arc<dyn Fn() -> i64 + Send + Sync>;

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Auth");
        s.field("verifier", &self.verifier)
            .field("cookie", &self.cookie)
            .field("realm", &self.realm)
            .field(
                "clock",
                &self.clock.as_ref().map_or("system", |_| "injected"),
            );
        #[cfg(feature = "remote")]
        s.field("remote", &self.remote.is_some());
        s.finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Challenges {
    missing: HeaderValue,
    invalid_token: HeaderValue,
    invalid_request: HeaderValue,
    insufficient_scope: HeaderValue,
}

impl Challenges {
    fn new(realm: &str) -> Challenges {
        let challenge = |error: Option<&str>| {
            let text = match error {
                None => format!("Bearer realm=\"{realm}\""),
                Some(error) => format!("Bearer realm=\"{realm}\", error=\"{error}\""),
            };
            // `realm` is sanitised to visible ASCII, so this cannot fail; the fallback keeps
            // the request path free of panics all the same.
            HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
        };
        Challenges {
            missing: challenge(None),
            invalid_token: challenge(Some("invalid_token")),
            invalid_request: challenge(Some("invalid_request")),
            insufficient_scope: challenge(Some("insufficient_scope")),
        }
    }
}

/// Makes `realm` safe inside a quoted-string: visible ASCII and spaces only, `"` and `\`
/// escaped. Anything else is dropped rather than let a realm inject header syntax.
fn quote_safe(realm: &str) -> String {
    let mut out = String::with_capacity(realm.len());
    for c in realm.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {}
        }
    }
    out
}

impl Auth {
    /// Bearer tokens only, verified by `verifier`, realm [`DEFAULT_REALM`].
    #[must_use]
    pub fn new(verifier: Arc<Verifier>) -> Auth {
        Auth {
            verifier,
            cookie: None,
            realm: DEFAULT_REALM.to_owned(),
            challenges: Challenges::new(DEFAULT_REALM),
            clock: None,
            #[cfg(feature = "remote")]
            remote: None,
        }
    }

    /// Verifies through `remote`: its verifier, and on an unknown `kid` one shared, rate-limited
    /// refetch of the issuer's JWKS before giving up (see [`crate::remote`]).
    #[cfg(feature = "remote")]
    #[must_use]
    pub fn remote(remote: Arc<crate::remote::RemoteJwks>) -> Auth {
        let mut auth = Auth::new(Arc::clone(remote.verifier()));
        auth.remote = Some(remote);
        auth
    }

    /// Also accepts the access token from the cookie `name` (browser clients). A request
    /// carrying both the cookie and a Bearer header is refused with `invalid_request`: two
    /// credentials that may name two users must not be resolved by a silent preference.
    /// Prefer a `__Host-` name so sibling subdomains cannot plant the cookie.
    #[must_use]
    pub fn with_cookie(mut self, name: impl Into<String>) -> Auth {
        self.cookie = Some(name.into());
        self
    }

    /// The realm named in `WWW-Authenticate`. Characters outside visible ASCII are dropped;
    /// `"` and `\` are escaped.
    #[must_use]
    pub fn with_realm(mut self, realm: &str) -> Auth {
        self.realm = quote_safe(realm);
        self.challenges = Challenges::new(&self.realm);
        self
    }

    /// Verifies as of `clock()` (seconds since the Unix epoch) instead of the system time.
    ///
    /// For servers whose tests move an injected clock rather than sleep, and for issuers that
    /// dogfood this extractor with the same clock they mint with. The function is called once
    /// per verification, so it must be cheap.
    #[must_use]
    pub fn with_clock(mut self, clock: ClockFn) -> Auth {
        self.clock = Some(clock);
        self
    }

    /// The verifier.
    #[must_use]
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.verifier
    }

    /// The cookie name, if cookies are accepted.
    #[must_use]
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    /// The realm, as it appears (escaped) in challenges.
    #[must_use]
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// A rejection of `kind` carrying this realm's challenge.
    #[must_use]
    pub fn reject(&self, kind: RejectionKind) -> AuthRejection {
        let challenge = match kind {
            RejectionKind::MissingCredentials => &self.challenges.missing,
            RejectionKind::InvalidToken(_) => &self.challenges.invalid_token,
            RejectionKind::InvalidRequest(_) => &self.challenges.invalid_request,
            RejectionKind::InsufficientScope(_) => &self.challenges.insufficient_scope,
            // Not sent (a 503 carries `Retry-After` instead): nothing about the token is wrong.
            RejectionKind::RevocationStale => &self.challenges.missing,
        };
        AuthRejection {
            challenge: challenge.clone(),
            kind,
        }
    }

    async fn verify(&self, token: &str) -> Result<Arc<Claims>, Error> {
        let now = self.clock.as_ref().map(|clock| clock());
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return match now {
                Some(now) => remote.verify_at(token, now).await,
                None => remote.verify(token).await,
            };
        }
        match now {
            Some(now) => self.verifier.verify_at(token, now),
            None => self.verifier.verify(token),
        }
    }

    /// Finds the one token in the request, or says why there is none.
    fn locate<'a>(&self, headers: &'a HeaderMap) -> Result<(&'a str, TokenSource), RejectionKind> {
        let bearer = bearer_token(headers)?;
        let cookie = match &self.cookie {
            Some(name) => cookie(headers, name).map_err(RejectionKind::InvalidRequest)?,
            None => None,
        };
        match (bearer, cookie) {
            (Some(_), Some(_)) => Err(RejectionKind::InvalidRequest(
                InvalidRequest::HeaderAndCookie,
            )),
            (Some(token), None) => Ok((token, TokenSource::Bearer)),
            (None, Some(token)) => Ok((token, TokenSource::Cookie)),
            (None, None) => Err(RejectionKind::MissingCredentials),
        }
    }
}

/// Where the verified token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// The configured cookie.
    Cookie,
}

/// The verified claims of the request's access token.
///
/// Extracting it twice in one request (directly and through [`RequireRole`], say) verifies
/// once: the result is kept in the request's extensions, which only server code can write,
/// and reused only by extractors reading the same `Arc<Auth>`.
/// `Option<Authenticated>` answers `None` when the request carries no credentials at all, and
/// still refuses a request whose token is bad or ambiguous.
#[derive(Clone)]
pub struct Authenticated {
    /// The verified claims.
    pub claims: Arc<Claims>,
    /// Where the token was found.
    pub source: TokenSource,
    auth: Arc<Auth>,
}

impl fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticated")
            .field("sub", &self.claims.sub)
            .field("jti", &self.claims.jti)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Authenticated {
    /// Whether the token grants `role`.
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.claims.has_role(role)
    }

    /// For roles known only at run time: `Ok` if the token grants `role`, else the 403
    /// `insufficient_scope` rejection, ready to return from a handler with `?`.
    ///
    /// # Errors
    /// [`RejectionKind::InsufficientScope`].
    pub fn require_role(&self, role: &str) -> Result<(), AuthRejection> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(self
                .auth
                .reject(RejectionKind::InsufficientScope(Cow::Owned(
                    role.to_owned(),
                ))))
        }
    }

    /// For scopes known only at run time: `Ok` if the token's `scope` claim grants `scope`,
    /// else the 403 `insufficient_scope` rejection.
    ///
    /// # Errors
    /// [`RejectionKind::InsufficientScope`].
    pub fn require_scope(&self, scope: &str) -> Result<(), AuthRejection> {
        if self.claims.has_scope(scope) {
            Ok(())
        } else {
            Err(self
                .auth
                .reject(RejectionKind::InsufficientScope(Cow::Owned(
                    scope.to_owned(),
                ))))
        }
    }

    async fn extract(parts: &mut Parts, auth: Arc<Auth>) -> Result<Self, AuthRejection> {
        // Reuse only a verdict reached under this very configuration: a middleware with
        // another `Auth` (another audience, say) must not vouch for this extractor.
        if let Some(done) = parts.extensions.get::<Authenticated>()
            && Arc::ptr_eq(&done.auth, &auth)
        {
            return Ok(done.clone());
        }
        let (token, source) = auth
            .locate(&parts.headers)
            .map_err(|kind| auth.reject(kind))?;
        let claims = auth.verify(token).await.map_err(|err| match err {
            Error::RevocationStale => auth.reject(RejectionKind::RevocationStale),
            err => auth.reject(RejectionKind::InvalidToken(err)),
        })?;
        let authenticated = Authenticated {
            claims,
            source,
            auth,
        };
        parts.extensions.insert(authenticated.clone());
        Ok(authenticated)
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    Arc<Auth>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Authenticated::extract(parts, Arc::<Auth>::from_ref(state)).await
    }
}

impl<S> OptionalFromRequestParts<S> for Authenticated
where
    Arc<Auth>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match Authenticated::extract(parts, Arc::<Auth>::from_ref(state)).await {
            Ok(authenticated) => Ok(Some(authenticated)),
            Err(rejection) if rejection.kind == RejectionKind::MissingCredentials => Ok(None),
            Err(rejection) => Err(rejection),
        }
    }
}

/// A role, named at compile time, for [`RequireRole`].
pub trait Role {
    /// The role as it appears in the token's `roles` claim.
    const NAME: &'static str;
}

/// A scope (RFC 9068 §2.2.3), named at compile time, for [`RequireScope`].
pub trait Scope {
    /// The scope as it appears in the token's space-separated `scope` claim.
    const NAME: &'static str;
}

/// A guard extractor: an [`Authenticated`] request whose token grants what `$trait` names
/// (checked by `Claims::$granted`); otherwise 403 `insufficient_scope` naming it (or the
/// authentication rejection, checked first).
macro_rules! guard {
    ($(#[$doc:meta])* $guard:ident, $trait:ident, $granted:ident) => {
        $(#[$doc])*
        pub struct $guard<G: $trait> {
            /// The authenticated request.
            pub auth: Authenticated,
            granted: PhantomData<fn() -> G>,
        }

        impl<G: $trait> fmt::Debug for $guard<G> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($guard))
                    .field("requires", &G::NAME)
                    .field("auth", &self.auth)
                    .finish()
            }
        }

        impl<G: $trait> Clone for $guard<G> {
            fn clone(&self) -> Self {
                $guard {
                    auth: self.auth.clone(),
                    granted: PhantomData,
                }
            }
        }

        impl<G: $trait> Deref for $guard<G> {
            type Target = Authenticated;
            fn deref(&self) -> &Authenticated {
                &self.auth
            }
        }

        impl<S, G> FromRequestParts<S> for $guard<G>
        where
            Arc<Auth>: FromRef<S>,
            S: Send + Sync,
            G: $trait,
        {
            type Rejection = AuthRejection;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                let auth = Authenticated::extract(parts, Arc::<Auth>::from_ref(state)).await?;
                if !auth.claims.$granted(G::NAME) {
                    return Err(auth
                        .auth
                        .reject(RejectionKind::InsufficientScope(Cow::Borrowed(G::NAME))));
                }
                Ok($guard {
                    auth,
                    granted: PhantomData,
                })
            }
        }
    };
}

guard!(
    /// An [`Authenticated`] request whose token grants role `R` (its `roles` claim); otherwise
    /// 403 `insufficient_scope` (or the authentication rejection, checked first).
    RequireRole,
    Role,
    has_role
);
guard!(
    /// An [`Authenticated`] request whose token grants scope `S` (its `scope` claim, RFC 9068);
    /// otherwise 403 `insufficient_scope` (or the authentication rejection, checked first).
    RequireScope,
    Scope,
    has_scope
);

/// Why a request was refused. Also inserted into the rejection response's extensions.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectionKind {
    /// No Bearer header and no cookie: 401 without an error code (RFC 6750 §3.1).
    MissingCredentials,
    /// The token failed verification: 401 `invalid_token`. The reason is for logs only.
    InvalidToken(Error),
    /// The request itself is malformed or ambiguous: 400 `invalid_request`.
    InvalidRequest(InvalidRequest),
    /// The token lacks this role: 403 `insufficient_scope`.
    InsufficientScope(Cow<'static, str>),
    /// The revocation view's lease ran out ([`Error::RevocationStale`]): whether the token was
    /// revoked cannot be known now. 503 `revocation_view_stale` with `Retry-After: 1`: a state
    /// of this server, not a fault of the client, so not a 401 that would sign it out.
    RevocationStale,
}

impl RejectionKind {
    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            RejectionKind::MissingCredentials | RejectionKind::InvalidToken(_) => {
                StatusCode::UNAUTHORIZED
            }
            RejectionKind::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            RejectionKind::InsufficientScope(_) => StatusCode::FORBIDDEN,
            RejectionKind::RevocationStale => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The problem `code` sent to the client (RFC 6750 error codes, plus
    /// `missing_credentials`).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            RejectionKind::MissingCredentials => "missing_credentials",
            RejectionKind::InvalidToken(_) => "invalid_token",
            RejectionKind::InvalidRequest(_) => "invalid_request",
            RejectionKind::InsufficientScope(_) => "insufficient_scope",
            RejectionKind::RevocationStale => "revocation_view_stale",
        }
    }

    /// A stable reason for logs and metrics, finer than [`RejectionKind::code`].
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            RejectionKind::MissingCredentials => "missing_credentials",
            RejectionKind::InvalidToken(err) => err.reason(),
            RejectionKind::InvalidRequest(why) => why.reason(),
            RejectionKind::InsufficientScope(_) => "missing_role",
            RejectionKind::RevocationStale => "revocation_stale",
        }
    }

    /// The whole response body. Static, so every `invalid_token` body is identical by
    /// construction.
    fn body(&self) -> &'static str {
        match self {
            RejectionKind::MissingCredentials => {
                r#"{"type":"https://jwtgate.dev/problems/missing_credentials","title":"Authentication required","status":401,"code":"missing_credentials","detail":"send an access token as `Authorization: Bearer <token>`"}"#
            }
            RejectionKind::InvalidToken(_) => {
                r#"{"type":"https://jwtgate.dev/problems/invalid_token","title":"Invalid access token","status":401,"code":"invalid_token","detail":"the access token is invalid, expired or revoked"}"#
            }
            RejectionKind::InvalidRequest(_) => {
                r#"{"type":"https://jwtgate.dev/problems/invalid_request","title":"Malformed or ambiguous credentials","status":400,"code":"invalid_request","detail":"send exactly one access token, in the Authorization header or the cookie"}"#
            }
            RejectionKind::InsufficientScope(_) => {
                r#"{"type":"https://jwtgate.dev/problems/insufficient_scope","title":"Insufficient permissions","status":403,"code":"insufficient_scope","detail":"the access token does not grant the role this request needs"}"#
            }
            RejectionKind::RevocationStale => {
                r#"{"type":"https://jwtgate.dev/problems/revocation_view_stale","title":"Revocations not current","status":503,"code":"revocation_view_stale","detail":"this server cannot confirm that the token has not been revoked; retry shortly"}"#
            }
        }
    }
}

/// The problem `title` this module uses for `code` (one of [`RejectionKind::code`]), so an
/// application can give its own answers with these codes the same title.
#[must_use]
pub fn problem_title(code: &str) -> Option<&'static str> {
    match code {
        "missing_credentials" => Some("Authentication required"),
        "invalid_token" => Some("Invalid access token"),
        "invalid_request" => Some("Malformed or ambiguous credentials"),
        "insufficient_scope" => Some("Insufficient permissions"),
        "revocation_view_stale" => Some("Revocations not current"),
        _ => None,
    }
}

/// What made a request `invalid_request`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidRequest {
    /// A Bearer header and the token cookie at once.
    HeaderAndCookie,
    /// More than one `Authorization` header.
    MultipleAuthorizationHeaders,
    /// An `Authorization` header that is not `<scheme> [token]` in visible ASCII, or a Bearer
    /// header without exactly one token68 credential.
    MalformedAuthorization,
    /// The token cookie more than once (a sibling subdomain may have planted one).
    DuplicateCookie,
}

impl InvalidRequest {
    /// A stable reason for logs and metrics.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            InvalidRequest::HeaderAndCookie => "header_and_cookie",
            InvalidRequest::MultipleAuthorizationHeaders => "multiple_authorization_headers",
            InvalidRequest::MalformedAuthorization => "malformed_authorization",
            InvalidRequest::DuplicateCookie => "duplicate_cookie",
        }
    }
}

/// The response to a refused request: status, `WWW-Authenticate` challenge, problem+json body.
///
/// The response's extensions carry the [`RejectionKind`], and for `invalid_token` the
/// verification [`Error`] itself.
#[derive(Debug, Clone)]
pub struct AuthRejection {
    kind: RejectionKind,
    challenge: HeaderValue,
}

impl AuthRejection {
    /// Why the request was refused.
    #[must_use]
    pub fn kind(&self) -> &RejectionKind {
        &self.kind
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let mut response = (self.kind.status(), self.kind.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        // A refusal must not be replayed from a cache to another request or user.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.kind == RejectionKind::RevocationStale {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        } else {
            headers.insert(WWW_AUTHENTICATE, self.challenge);
        }
        if let RejectionKind::InvalidToken(err) = self.kind {
            response.extensions_mut().insert(err);
        }
        response.extensions_mut().insert(self.kind);
        response
    }
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    // Every request with a token passes here: a table lookup a byte, without an early exit
    // (a valid token is read whole anyway), costs half what the comparisons did.
    !body.is_empty()
        && body
            .bytes()
            .fold(true, |ok, b| ok & B64TOKEN[usize::from(b)])
}

/// The bytes of a `b64token` before its padding.
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// RFC 9110 `token` (an auth-scheme).
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// The Bearer token of the `Authorization` header, if the request has one.
///
/// Two headers, or a header that does not parse, are `invalid_request`: guessing which of two
/// credentials was meant is how confused-deputy bugs start. A well-formed header of another
/// scheme (`Basic`, `Digest`...) is not a Bearer credential at all, so it counts as absent
/// (RFC 6750 §3.1: a request "attempted using an unsupported authentication method" gets no
/// error code).
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, RejectionKind> {
    let malformed = RejectionKind::InvalidRequest(InvalidRequest::MalformedAuthorization);
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(RejectionKind::InvalidRequest(
            InvalidRequest::MultipleAuthorizationHeaders,
        ));
    }
    let value = value.to_str().map_err(|_| malformed.clone())?;
    let value = value.trim_matches([' ', '\t']);
    // credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]  (RFC 9110 §11.4)
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !is_token(scheme) {
        return Err(malformed);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim_start_matches(' ');
    if !is_b64token(token) {
        return Err(malformed);
    }
    Ok(Some(token))
}

/// The value of cookie `name`, if present and non-empty, read from every `Cookie` header
/// (HTTP/2 may split them). Other cookies are skipped unread, whatever their syntax. Public so
/// that an application reads its other cookies (a refresh token's, say) by the same rules.
///
/// An empty value counts as absent: it is how a cleared cookie often comes back. The same
/// name twice is [`InvalidRequest::DuplicateCookie`]: it happens when a cookie was planted for a
/// parent domain or another path, and picking one would let the planted one win.
///
/// # Errors
/// [`InvalidRequest::DuplicateCookie`].
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, InvalidRequest> {
    let mut found: Option<&'a [u8]> = None;
    for header in headers.get_all(COOKIE) {
        for pair in header.as_bytes().split(|&b| b == b';') {
            let pair = pair.trim_ascii();
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (key, value) = (&pair[..eq], &pair[eq + 1..]);
            if key.trim_ascii() != name.as_bytes() {
                continue;
            }
            let mut value = value.trim_ascii();
            // cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE )  (RFC 6265 §4.1.1)
            if let [b'"', inner @ .., b'"'] = value {
                value = inner;
            }
            if value.is_empty() {
                continue;
            }
            if found.replace(value).is_some() {
                return Err(InvalidRequest::DuplicateCookie);
            }
        }
    }
    match found {
        None => Ok(None),
        // Not UTF-8 cannot be a JWT: let the verifier refuse it as a token, not as a request.
        Some(value) => Ok(Some(std::str::from_utf8(value).unwrap_or("\u{fffd}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(http::header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_allows_several_spaces() {
        for value in [
            "Bearer abc.def",
            "bearer abc.def",
            "BEARER   abc.def",
            "Bearer abc.def ",
        ] {
            let map = headers(&[(AUTHORIZATION, value)]);
            assert_eq!(bearer_token(&map), Ok(Some("abc.def")), "{value}");
        }
    }

    #[test]
    fn bearer_without_exactly_one_token68_is_malformed() {
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
            "Bearer =abc",
            "Bearer\tabc",
            "",
        ] {
            let map = headers(&[(AUTHORIZATION, value)]);
            assert_eq!(
                bearer_token(&map),
                Err(RejectionKind::InvalidRequest(
                    InvalidRequest::MalformedAuthorization
                )),
                "{value:?}"
            );
        }
    }

    #[test]
    fn other_schemes_are_not_bearer_credentials() {
        let map = headers(&[(AUTHORIZATION, "Basic dXNlcjpwYXNz")]);
        assert_eq!(bearer_token(&map), Ok(None));
    }

    #[test]
    fn cookie_is_found_among_others_and_unquoted() {
        let map = headers(&[(COOKIE, "a=1; access=\"tok.en\"; b=2")]);
        assert_eq!(cookie(&map, "access"), Ok(Some("tok.en")));
        let split = headers(&[(COOKIE, "a=1"), (COOKIE, "access=x.y")]);
        assert_eq!(cookie(&split, "access"), Ok(Some("x.y")));
        let prefix = headers(&[(COOKIE, "xaccess=1; access_old=2")]);
        assert_eq!(cookie(&prefix, "access"), Ok(None));
        let empty = headers(&[(COOKIE, "access=")]);
        assert_eq!(cookie(&empty, "access"), Ok(None));
    }

    #[test]
    fn realm_cannot_break_out_of_its_quotes() {
        assert_eq!(quote_safe("a\"b\\c\r\nd"), "a\\\"b\\\\cd");
    }
}
