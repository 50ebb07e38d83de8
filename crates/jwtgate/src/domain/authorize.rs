//! Owns the authorization request of the OpenID Connect provider (issue 15): parsing
//! `/authorize`'s query (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1, PKCE RFC 7636), which
//! errors may be sent back to the client and which must be shown to the user instead
//! (§4.1.2.1: never redirect to an address that is not the client's), consent, and the
//! single-use code. Must not import axum or sqlx.
//!
//! The query is the request's only state: the hosted pages send it back as it came, and it is
//! checked again in full before a code is made, so nothing is kept between the two steps.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::domain::clients::{Client, Grant};
use crate::domain::core::{CLIENT_ID, Core};
use crate::domain::error::AuthError;
use crate::domain::reason::EndReason;
use crate::domain::tokens;
use crate::store::NewCode;

/// How long a code may wait for its redemption (RFC 6749 §4.1.2 recommends at most 10 minutes;
/// a client redeems it at once).
pub const CODE_TTL: i64 = 60;
/// The scopes the provider knows: an ID token and userinfo (`openid`), the address (`email`).
pub const SCOPES: [&str; 2] = ["openid", "email"];
/// Longest `state` and `nonce` kept (they travel in URLs and tokens).
const MAX_ECHO_LEN: usize = 1024;

/// A set of known scopes, in the order of [`SCOPES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(Vec<&'static str>);

impl Scope {
    /// Space-separated scope values (RFC 6749 §3.3); unknown ones are refused by name.
    pub fn parse(raw: &str) -> Result<Scope, String> {
        let mut wanted = Vec::new();
        for value in raw.split(' ').filter(|v| !v.is_empty()) {
            match SCOPES.iter().find(|s| **s == value) {
                Some(known) => wanted.push(*known),
                None => {
                    return Err(format!(
                        "unknown scope {:?}; this server knows {}",
                        value.chars().take(40).collect::<String>(),
                        SCOPES.join(", ")
                    ));
                }
            }
        }
        Ok(Scope(
            SCOPES.into_iter().filter(|s| wanted.contains(s)).collect(),
        ))
    }

    pub fn has(&self, value: &str) -> bool {
        self.0.contains(&value)
    }

    pub fn covers(&self, other: &Scope) -> bool {
        other.0.iter().all(|v| self.0.contains(v))
    }

    pub fn union(&self, other: &Scope) -> Scope {
        Scope(
            SCOPES
                .into_iter()
                .filter(|s| self.has(s) || other.has(s))
                .collect(),
        )
    }

    pub fn values(&self) -> &[&'static str] {
        &self.0
    }

    pub fn to_text(&self) -> String {
        self.0.join(" ")
    }
}

/// An authorization request that cannot go back to the client: shown to the user.
#[derive(Debug, thiserror::Error)]
pub enum NotRedirected {
    /// `client_id` missing, repeated or unknown.
    #[error("{0}")]
    InvalidClient(String),
    /// `redirect_uri` missing, repeated or not one the client registered.
    #[error("{0}")]
    InvalidRedirectUri(String),
}

impl NotRedirected {
    /// The problem `code` the page and the API show it with.
    pub fn code(&self) -> &'static str {
        match self {
            NotRedirected::InvalidClient(_) => "invalid_client",
            NotRedirected::InvalidRedirectUri(_) => "invalid_redirect_uri",
        }
    }
}

/// What `/authorize` makes of a request.
#[derive(Debug)]
pub enum AuthorizeError {
    NotRedirected(NotRedirected),
    /// Sent to the client's redirect URI (an error response of RFC 6749 §4.1.2.1).
    Redirect(String),
    Internal(AuthError),
}

impl From<AuthError> for AuthorizeError {
    fn from(e: AuthError) -> Self {
        AuthorizeError::Internal(e)
    }
}

impl From<crate::store::StoreError> for AuthorizeError {
    fn from(e: crate::store::StoreError) -> Self {
        AuthorizeError::Internal(e.into())
    }
}

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub client: Client,
    pub redirect_uri: String,
    pub scope: Scope,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
}

/// The user's answer on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

/// What the hosted page does next.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Next {
    /// Go to this address (the client's redirect URI with a code, or with an error).
    RedirectTo(String),
    /// Ask the user first.
    Consent(ConsentPrompt),
}

/// What the consent page shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsentPrompt {
    pub client_id: String,
    pub client_name: String,
    /// The scopes asked for (`openid`, `email`).
    pub scopes: Vec<&'static str>,
    /// Where the user goes after answering: the redirect URI's origin.
    pub redirect_origin: String,
}

/// The query's parameters, each at most once (RFC 6749 §3.1).
struct Params(HashMap<String, String>, Option<String>);

impl Params {
    fn parse(query: &str) -> Params {
        let mut map = HashMap::new();
        let mut repeated = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            if map.insert(k.to_string(), v.to_string()).is_some() && repeated.is_none() {
                repeated = Some(k.to_string());
            }
        }
        Params(map, repeated)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn repeated(&self, name: &str) -> bool {
        self.1.as_deref() == Some(name)
    }
}

/// The client's redirect URI with the parameters of an answer added (its own query kept).
pub fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(url) if pairs.is_empty() => url.to_string(),
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in pairs {
                    query.append_pair(k, v);
                }
            }
            url.to_string()
        }
        // Registered URIs were parsed when they were registered.
        Err(_) => redirect_uri.to_owned(),
    }
}

/// `BASE64URL(SHA-256(verifier))` equals `challenge` (RFC 7636 §4.6), for a verifier of the
/// grammar of §4.1 (43 to 128 unreserved characters).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let grammar = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !grammar {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes())
        .is_ok()
}

/// The provider's authorization step.
#[derive(Debug, Clone)]
pub struct Authorize {
    core: Arc<Core>,
}

impl Authorize {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    fn issuer(&self) -> &str {
        &self.core.rules().issuer
    }

    /// Checks the request in the order of RFC 6749 §4.1.2.1: the client and its redirect URI
    /// first (a failure there is shown, never redirected), then everything else (sent back).
    pub async fn check(&self, query: &str) -> Result<Authorization, AuthorizeError> {
        let params = Params::parse(query);
        let not = AuthorizeError::NotRedirected;
        if params.repeated("client_id") {
            return Err(not(NotRedirected::InvalidClient(
                "client_id is given more than once".into(),
            )));
        }
        let client_id = params.get("client_id").unwrap_or_default();
        if client_id.is_empty() {
            return Err(not(NotRedirected::InvalidClient(
                "the request names no client_id".into(),
            )));
        }
        let client = match self.core.store().client(client_id).await? {
            Some(row) => Client::try_from(row)?,
            None => {
                return Err(not(NotRedirected::InvalidClient(
                    "no app is registered with this client_id".into(),
                )));
            }
        };
        if params.repeated("redirect_uri") {
            return Err(not(NotRedirected::InvalidRedirectUri(
                "redirect_uri is given more than once".into(),
            )));
        }
        let Some(redirect_uri) = params.get("redirect_uri") else {
            return Err(not(NotRedirected::InvalidRedirectUri(
                "the request names no redirect_uri".into(),
            )));
        };
        // Exact string comparison (RFC 9700 §4.1.3): no prefix, no pattern, no normalising.
        if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Err(not(NotRedirected::InvalidRedirectUri(
                "redirect_uri is not one this app registered".into(),
            )));
        }
        let state = params.get("state").map(str::to_owned);
        let back = |error: &str, description: &str| {
            let mut pairs = vec![("error", error), ("error_description", description)];
            if let Some(state) = state.as_deref() {
                pairs.push(("state", state));
            }
            pairs.push(("iss", self.issuer()));
            AuthorizeError::Redirect(redirect_with(redirect_uri, &pairs))
        };
        if let Some(name) = &params.1 {
            return Err(back(
                "invalid_request",
                &format!("{name} is given more than once"),
            ));
        }
        if state.as_ref().is_some_and(|s| s.len() > MAX_ECHO_LEN) {
            return Err(back("invalid_request", "state is too long"));
        }
        if !client.grants.contains(&Grant::AuthorizationCode) {
            return Err(back(
                "unauthorized_client",
                "this app may not use the authorization code grant",
            ));
        }
        if params.get("request").is_some() {
            return Err(back(
                "request_not_supported",
                "request objects are not supported",
            ));
        }
        if params.get("request_uri").is_some() {
            return Err(back(
                "request_uri_not_supported",
                "request_uri is not supported",
            ));
        }
        match params.get("response_type") {
            Some("code") => {}
            None => return Err(back("invalid_request", "response_type is missing")),
            Some(_) => {
                return Err(back(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ));
            }
        }
        if params.get("response_mode").is_some_and(|m| m != "query") {
            return Err(back(
                "invalid_request",
                "only response_mode=query is supported",
            ));
        }
        let Some(code_challenge) = params.get("code_challenge") else {
            return Err(back(
                "invalid_request",
                "code_challenge is required (PKCE, RFC 7636)",
            ));
        };
        if params.get("code_challenge_method") != Some("S256") {
            return Err(back(
                "invalid_request",
                "code_challenge_method must be S256",
            ));
        }
        let well_formed = code_challenge.len() == 43
            && code_challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !well_formed {
            return Err(back(
                "invalid_request",
                "code_challenge must be BASE64URL(SHA-256(code_verifier)), 43 characters",
            ));
        }
        let scope = match Scope::parse(params.get("scope").unwrap_or("openid")) {
            Ok(scope) => scope,
            Err(detail) => return Err(back("invalid_scope", &detail)),
        };
        let nonce = params.get("nonce").map(str::to_owned);
        if nonce.as_ref().is_some_and(|n| n.len() > MAX_ECHO_LEN) {
            return Err(back("invalid_request", "nonce is too long"));
        }
        // Silent authentication is not offered: an app asking for none gets the answer that
        // the user must take part.
        if params
            .get("prompt")
            .is_some_and(|p| p.split(' ').any(|v| v == "none"))
        {
            return Err(back(
                "login_required",
                "this server always shows its sign-in and consent pages",
            ));
        }
        Ok(Authorization {
            redirect_uri: redirect_uri.to_owned(),
            client,
            scope,
            state,
            nonce,
            code_challenge: code_challenge.to_owned(),
        })
    }

    /// The signed-in user's step: the user of `user_id`, signed in to the web client as session
    /// `web_session`, asked for `query`. A first-party app, or one the user allowed these
    /// scopes before, gets its code at once; any other is asked about first.
    pub async fn decide(
        &self,
        query: &str,
        user_id: &str,
        web_session: &str,
        decision: Option<Decision>,
    ) -> Result<Next, AuthorizeError> {
        let request = self.check(query).await?;
        let store = self.core.store();
        let now = self.core.clock().now();
        // The web session must be the web client's and live: its start is the sign-in time.
        let session = store
            .session(web_session)
            .await?
            .filter(|s| s.client_id == CLIENT_ID && s.user_id == user_id && s.live_at(now))
            .ok_or(AuthError::SessionEnded(EndReason::SessionEnded))?;
        let client_id = request.client.client_id.clone();
        let earlier = if request.client.first_party {
            None
        } else {
            store
                .consent(user_id, &client_id)
                .await?
                .and_then(|s| Scope::parse(&s).ok())
        };
        let allowed = request.client.first_party
            || earlier
                .as_ref()
                .is_some_and(|granted| granted.covers(&request.scope));
        let issuer = self.issuer().to_owned();
        let back = |answer: &[(&str, &str)]| {
            let mut pairs = answer.to_vec();
            if let Some(state) = request.state.as_deref() {
                pairs.push(("state", state));
            }
            pairs.push(("iss", &issuer));
            redirect_with(&request.redirect_uri, &pairs)
        };
        match (allowed, decision) {
            (_, Some(Decision::Deny)) => {
                return Ok(Next::RedirectTo(back(&[
                    ("error", "access_denied"),
                    ("error_description", "the user did not allow the app"),
                ])));
            }
            (false, None) => {
                let origin = url::Url::parse(&request.redirect_uri)
                    .map(|u| u.origin().ascii_serialization())
                    .unwrap_or_default();
                return Ok(Next::Consent(ConsentPrompt {
                    client_id,
                    client_name: request.client.name.clone(),
                    scopes: request.scope.values().to_vec(),
                    redirect_origin: origin,
                }));
            }
            (false, Some(Decision::Allow)) => {
                let scope = earlier
                    .map_or_else(|| request.scope.clone(), |e| e.union(&request.scope))
                    .to_text();
                store
                    .grant_consent(user_id, &client_id, &scope, now)
                    .await?;
            }
            (true, _) => {}
        }
        let code = tokens::new_refresh_token();
        store
            .insert_code(&NewCode {
                code_hash: &code.hash(),
                client_id: &client_id,
                user_id,
                parent_id: &session.id,
                redirect_uri: &request.redirect_uri,
                scope: &request.scope.to_text(),
                nonce: request.nonce.as_deref(),
                code_challenge: &request.code_challenge,
                auth_time: session.created_at,
                now,
                expires_at: now + CODE_TTL,
            })
            .await?;
        tracing::info!(client_id, user_id, "authorization code issued");
        Ok(Next::RedirectTo(back(&[("code", code.expose())])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_known_values_in_a_fixed_order() {
        assert_eq!(
            Scope::parse("email  openid").expect("known").to_text(),
            "openid email"
        );
        assert!(Scope::parse("openid profile").is_err());
        let openid = Scope::parse("openid").expect("known");
        let both = Scope::parse("openid email").expect("known");
        assert!(both.covers(&openid) && !openid.covers(&both));
        assert_eq!(openid.union(&both), both);
    }

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(&verifier.replace('d', "e"), challenge));
        // The verifier's grammar: too short, or a character outside the unreserved set.
        assert!(!pkce_matches("short", challenge));
        assert!(!pkce_matches(&format!("{verifier}+"), challenge));
    }

    #[test]
    fn a_redirect_keeps_the_registered_query_and_encodes_what_it_adds() {
        assert_eq!(
            redirect_with(
                "https://app.example/cb?x=1",
                &[("code", "a b"), ("state", "&")]
            ),
            "https://app.example/cb?x=1&code=a+b&state=%26"
        );
        assert_eq!(
            redirect_with("https://app.example/cb", &[]),
            "https://app.example/cb"
        );
    }
}
