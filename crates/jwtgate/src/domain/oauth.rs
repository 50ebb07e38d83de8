//! Owns the OpenID Connect provider's token side (issue 15): client authentication
//! (`client_secret_basic`, `client_secret_post`, `none` for public clients), the token
//! endpoint's grants (`authorization_code` with PKCE, `refresh_token` rotated through the same
//! sessions as the web client's, `client_credentials`), ID tokens, userinfo, introspection (RFC
//! 7662), revocation (RFC 7009), RP-initiated logout, and the apps a user allowed. Errors are
//! RFC 6749 §5.2's codes ([`OAuthError`]). Must not import axum or sqlx.

use std::sync::Arc;

use jwtgate_verify::{Audience, Claims, Policy};
use serde::Serialize;

use crate::domain::authorize::{Scope, pkce_matches, redirect_with};
use crate::domain::clients::{Client, ClientKind, Grant};
use crate::domain::core::Core;
use crate::domain::error::AuthError;
use crate::domain::plans::DEFAULT_PLAN;
use crate::domain::reason::EndReason;
use crate::domain::sessions::{Csrf, Issued, Sessions};
use crate::domain::tokens::{self, RefreshToken};
use crate::store::ConsentRow;

/// The error codes of RFC 6749 §5.2 (and RFC 7009 §2.2.1), each with a description for the
/// developer; never a secret.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    /// Client authentication failed (401, with `WWW-Authenticate: Basic` as every 401 has a
    /// challenge).
    #[error("{0}")]
    InvalidClient(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    UnsupportedTokenType(String),
    #[error(transparent)]
    Internal(#[from] AuthError),
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::UnsupportedTokenType(_) => "unsupported_token_type",
            OAuthError::Internal(_) => "server_error",
        }
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        OAuthError::Internal(e.into())
    }
}

/// How a client presented itself at the token, introspection or revocation endpoint.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    /// The secret, if one was sent.
    pub secret: Option<crate::config::SecretString>,
}

/// A token request's grant and its parameters (RFC 6749 §4.1.3, §6, §4.4.2).
#[derive(Debug)]
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: RefreshToken,
        scope: Option<String>,
    },
    ClientCredentials {
        scope: Option<String>,
    },
}

/// A successful token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GrantedTokens {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

/// An introspection answer (RFC 7662 §2.2): `{"active": false}` alone for anything not
/// active.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// The userinfo answer (OpenID Connect Core §5.3.2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// Why userinfo refused a token (RFC 6750 §3.1).
#[derive(Debug)]
pub enum UserInfoError {
    /// Not an app's token with the `openid` scope.
    InsufficientScope,
    /// The account is gone.
    InvalidToken,
    Internal(AuthError),
}

/// One app a user allowed, for the sessions page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AllowedApp {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub granted_at: i64,
}

impl From<ConsentRow> for AllowedApp {
    fn from(row: ConsentRow) -> Self {
        AllowedApp {
            client_id: row.client_id,
            name: row.name,
            scopes: row.scope.split(' ').map(str::to_owned).collect(),
            granted_at: row.granted_at,
        }
    }
}

/// The claims of an ID token (OpenID Connect Core §2).
#[derive(Debug, Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    jti: String,
    sid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
}

/// The provider's token side.
#[derive(Debug, Clone)]
pub struct Provider {
    core: Arc<Core>,
    sessions: Arc<Sessions>,
}

impl Provider {
    pub fn new(core: Arc<Core>, sessions: Arc<Sessions>) -> Self {
        Self { core, sessions }
    }

    /// Client authentication (RFC 6749 §2.3): a confidential client proves its secret (the
    /// SHA-256 compared in constant time), a public client sends none (PKCE binds its code).
    /// Every failure is `invalid_client`, saying which rule failed but never whether a
    /// secret was close.
    pub async fn authenticate(&self, presented: &ClientCredentials) -> Result<Client, OAuthError> {
        let refuse = |detail: &str| OAuthError::InvalidClient(detail.to_owned());
        let store = self.core.store();
        let Some((row, stored)) = store.client_with_secret(&presented.client_id).await? else {
            return Err(refuse("unknown client"));
        };
        let client = Client::try_from(row)?;
        match (client.kind, &presented.secret) {
            (ClientKind::Public, None) => Ok(client),
            (ClientKind::Public, Some(_)) => Err(refuse(
                "a public client has no secret: it authenticates with PKCE alone",
            )),
            (ClientKind::Confidential, None) => Err(refuse(
                "a confidential client must authenticate with its secret \
                 (client_secret_basic or client_secret_post)",
            )),
            (ClientKind::Confidential, Some(secret)) => {
                let presented = tokens::secret_sha256(secret.expose());
                let matches = stored.is_some_and(|s| {
                    aws_lc_rs::constant_time::verify_slices_are_equal(&s, &presented).is_ok()
                });
                if matches {
                    Ok(client)
                } else {
                    Err(refuse("wrong client secret"))
                }
            }
        }
    }

    /// The token endpoint, after client authentication.
    pub async fn token(
        &self,
        client: &Client,
        request: TokenRequest,
        ip: &str,
        user_agent: Option<&str>,
    ) -> Result<GrantedTokens, OAuthError> {
        let grant = match &request {
            TokenRequest::AuthorizationCode { .. } => Grant::AuthorizationCode,
            TokenRequest::RefreshToken { .. } => Grant::RefreshToken,
            TokenRequest::ClientCredentials { .. } => Grant::ClientCredentials,
        };
        if !client.grants.contains(&grant) {
            return Err(OAuthError::UnauthorizedClient(format!(
                "this client may not use the {} grant",
                grant.as_str()
            )));
        }
        match request {
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                self.code_grant(client, &code, redirect_uri, code_verifier, ip, user_agent)
                    .await
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
            } => self.refresh_grant(client, &refresh_token, scope).await,
            TokenRequest::ClientCredentials { scope } => self.service_grant(client, scope),
        }
    }

    async fn code_grant(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
        ip: &str,
        user_agent: Option<&str>,
    ) -> Result<GrantedTokens, OAuthError> {
        let invalid = |d: &str| OAuthError::InvalidGrant(d.to_owned());
        let hash = RefreshToken::new(code.to_owned()).hash();
        let store = self.core.store();
        let now = self.core.clock().now();
        let found = store
            .code(&hash)
            .await?
            .filter(|c| c.client_id == client.client_id)
            .ok_or_else(|| invalid("unknown authorization code"))?;
        if found.used_at.is_some() {
            return Err(self.code_replayed(found.session_id.as_deref()).await);
        }
        if now >= found.expires_at {
            return Err(invalid("the authorization code has expired"));
        }
        if redirect_uri.as_deref() != Some(found.redirect_uri.as_str()) {
            return Err(invalid(
                "redirect_uri must be the one the authorization request named",
            ));
        }
        let Some(verifier) = code_verifier else {
            return Err(invalid("code_verifier is required (PKCE)"));
        };
        if !pkce_matches(&verifier, &found.code_challenge) {
            return Err(invalid("code_verifier does not match the code_challenge"));
        }
        // The sign-in that authorised the code must still be on: a user who signed out (or was
        // signed out) between the consent and the exchange has not signed in to the app.
        let parent_live = store
            .session(&found.parent_id)
            .await?
            .is_some_and(|p| p.live_at(now));
        if !parent_live {
            return Err(invalid("the sign-in that authorised this code has ended"));
        }
        let issued = match self.sessions.redeem(&hash, &found, ip, user_agent).await {
            Ok(Some(issued)) => issued,
            // A concurrent redemption won: the session it started is read now.
            Ok(None) => {
                let winner = store.code(&hash).await?.and_then(|c| c.session_id);
                return Err(self.code_replayed(winner.as_deref()).await);
            }
            Err(AuthError::TooManySignIns) => {
                return Err(invalid("too many sign-ins to this account this minute"));
            }
            Err(AuthError::AccountDisabled) => return Err(invalid("the account is disabled")),
            Err(e) => return Err(e.into()),
        };
        let scope = Scope::parse(&found.scope).map_err(AuthError::Internal)?;
        let id_token = if scope.has("openid") {
            Some(self.id_token(client, &issued, &found, &scope, now).await?)
        } else {
            None
        };
        Ok(self.respond(client, issued, id_token, scope.to_text()))
    }

    /// A code came back after its redemption: whoever has it is not (only) the client, so the
    /// session it started ends and its tokens are refused (RFC 6749 §4.1.2).
    async fn code_replayed(&self, session: Option<&str>) -> OAuthError {
        if let Some(sid) = session {
            if let Err(e) = self
                .core
                .end_session(sid, EndReason::AuthorizationCodeReused)
                .await
            {
                return e.into();
            }
            tracing::warn!(session_id = %sid, "authorization code replayed; its session ended");
        }
        OAuthError::InvalidGrant("the authorization code was already used".into())
    }

    async fn id_token(
        &self,
        client: &Client,
        issued: &Issued,
        code: &crate::store::CodeRow,
        scope: &Scope,
        now: i64,
    ) -> Result<String, OAuthError> {
        let rules = self.core.rules();
        let email = scope.has("email");
        let claims = IdTokenClaims {
            iss: &rules.issuer,
            sub: &issued.user.id,
            aud: &client.client_id,
            exp: now + rules.access_ttl,
            iat: now,
            auth_time: code.auth_time,
            jti: tokens::random_id(),
            sid: &issued.session_id,
            nonce: code.nonce.as_deref(),
            email: email.then_some(issued.user.email.as_str()),
            email_verified: email.then_some(issued.user.email_verified),
        };
        let signer = self
            .core
            .signing()
            .id_token_signer()
            .await
            .map_err(|e| AuthError::Internal(format!("ID token signing key: {e}")))?;
        Ok(signer
            .sign("JWT", &claims)
            .map_err(|e| AuthError::Internal(format!("signing an ID token: {e}")))?)
    }

    fn respond(
        &self,
        client: &Client,
        issued: Issued,
        id_token: Option<String>,
        scope: String,
    ) -> GrantedTokens {
        // A client without the refresh_token grant gets none; its session still records the
        // sign-in (the session list, revocation by session).
        let refresh = client
            .grants
            .contains(&Grant::RefreshToken)
            .then(|| issued.refresh_token.expose().to_owned());
        GrantedTokens {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token: refresh,
            id_token,
            scope,
        }
    }

    async fn refresh_grant(
        &self,
        client: &Client,
        presented: &RefreshToken,
        scope: Option<String>,
    ) -> Result<GrantedTokens, OAuthError> {
        let issued = match self
            .sessions
            .refresh(presented, Csrf::NotRequired, &client.client_id)
            .await
        {
            Ok(issued) => issued,
            Err(AuthError::InvalidRefreshToken) => {
                return Err(OAuthError::InvalidGrant("unknown refresh token".into()));
            }
            Err(AuthError::SessionEnded(why)) => {
                return Err(OAuthError::InvalidGrant(format!(
                    "the session ended: {why}"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let granted = issued.scope.clone().unwrap_or_default();
        if let Some(asked) = scope {
            let asked = Scope::parse(&asked).map_err(OAuthError::InvalidScope)?;
            let granted = Scope::parse(&granted).map_err(AuthError::Internal)?;
            // The new tokens carry the session's scope; a request beyond it is refused (RFC
            // 6749 §6), after the rotation, whose new refresh token the client then never sees:
            // the session ends rather than leave a successor nobody holds.
            if !granted.covers(&asked) {
                self.core
                    .end_session(&issued.session_id, EndReason::SignedOutByApp)
                    .await?;
                return Err(OAuthError::InvalidScope(
                    "a refresh cannot widen the scope granted".into(),
                ));
            }
        }
        Ok(self.respond(client, issued, None, granted))
    }

    /// `client_credentials` (RFC 6749 §4.4): a token whose subject is the client itself, for
    /// a service calling an API. No refresh token, no session: it lives `access_ttl`.
    fn service_grant(
        &self,
        client: &Client,
        scope: Option<String>,
    ) -> Result<GrantedTokens, OAuthError> {
        if scope.as_deref().is_some_and(|s| !s.trim().is_empty()) {
            return Err(OAuthError::InvalidScope(
                "client_credentials tokens carry no scope".into(),
            ));
        }
        let rules = self.core.rules();
        let now = self.core.clock().now();
        let claims = Claims {
            iss: rules.issuer.clone(),
            sub: client.client_id.clone(),
            aud: Audience::One(rules.audience.clone()),
            exp: now + rules.access_ttl,
            iat: now,
            nbf: Some(now),
            jti: tokens::random_id(),
            sid: None,
            roles: Vec::new(),
            plan: Some(DEFAULT_PLAN.to_owned()),
            email: None,
            email_verified: None,
            client_id: Some(client.client_id.clone()),
            extra: serde_json::Map::new(),
        };
        let token = self.core.sign(jwtgate_verify::ACCESS_TOKEN_TYP, &claims)?;
        tracing::info!(client_id = %client.client_id, "client_credentials token issued");
        Ok(GrantedTokens {
            access_token: token,
            token_type: "Bearer",
            expires_in: rules.access_ttl,
            refresh_token: None,
            id_token: None,
            scope: String::new(),
        })
    }

    /// Userinfo for an access token the library verified: an app's, with `openid`.
    pub async fn userinfo(&self, claims: &Claims) -> Result<UserInfo, UserInfoError> {
        let scope = claims
            .extra
            .get("scope")
            .and_then(|s| s.as_str())
            .and_then(|s| Scope::parse(s).ok());
        let Some(scope) = scope.filter(|s| s.has("openid")) else {
            return Err(UserInfoError::InsufficientScope);
        };
        let user = self
            .core
            .store()
            .user_by_id(&claims.sub)
            .await
            .map_err(|e| UserInfoError::Internal(e.into()))?
            .ok_or(UserInfoError::InvalidToken)?;
        let email = scope.has("email");
        Ok(UserInfo {
            sub: user.id,
            email: email.then_some(user.email),
            email_verified: email.then_some(user.email_verified),
        })
    }

    /// RFC 7662: what a confidential client may know of a token. Access tokens go through the
    /// server's own verifier (signature, expiry, revocation); refresh tokens are looked up, and
    /// only their own client learns about them.
    pub async fn introspect(
        &self,
        client: &Client,
        token: &str,
    ) -> Result<Introspection, OAuthError> {
        if client.kind != ClientKind::Confidential {
            return Err(OAuthError::UnauthorizedClient(
                "introspection is for confidential clients".into(),
            ));
        }
        let now = self.core.clock().now();
        if let Ok(claims) = self.core.verifier().verify_at(token, now) {
            let aud = match &claims.aud {
                Audience::One(a) => Some(a.clone()),
                Audience::Many(many) => many.first().cloned(),
            };
            return Ok(Introspection {
                active: true,
                scope: claims
                    .extra
                    .get("scope")
                    .and_then(|s| s.as_str())
                    .map(str::to_owned),
                client_id: claims.client_id.clone(),
                sub: Some(claims.sub.clone()),
                token_type: Some("Bearer"),
                exp: Some(claims.exp),
                iat: Some(claims.iat),
                iss: Some(claims.iss.clone()),
                aud,
                sid: claims.sid.clone(),
            });
        }
        let presented = RefreshToken::new(token.to_owned());
        let found = self.core.store().find_refresh(&presented.hash()).await?;
        Ok(match found {
            Some(f)
                if f.session.client_id == client.client_id
                    && f.spent_at.is_none()
                    && !f.disabled
                    && f.session.live_at(now) =>
            {
                Introspection {
                    active: true,
                    scope: f.session.scope.clone(),
                    client_id: Some(f.session.client_id.clone()),
                    sub: Some(f.session.user_id.clone()),
                    token_type: Some("refresh_token"),
                    exp: Some(f.session.idle_expires_at),
                    iat: None,
                    iss: Some(self.core.rules().issuer.clone()),
                    aud: None,
                    sid: Some(f.session.id.clone()),
                }
            }
            _ => Introspection::default(),
        })
    }

    /// RFC 7009: a client gives back a token of its own. A refresh token, or an access token
    /// of a session, ends that session (and so every token of it). Tokens that are unknown,
    /// expired or another client's are answered like success (§2.2), and change nothing.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<(), OAuthError> {
        let now = self.core.clock().now();
        let session = match self.core.verifier().verify_at(token, now) {
            Ok(claims) => {
                if claims.client_id.as_deref() != Some(client.client_id.as_str()) {
                    return Ok(());
                }
                match &claims.sid {
                    Some(sid) => Some(sid.clone()),
                    None => {
                        return Err(OAuthError::UnsupportedTokenType(
                            "a client_credentials token cannot be revoked: it expires \
                             within access_ttl"
                                .into(),
                        ));
                    }
                }
            }
            Err(_) => self
                .core
                .store()
                .find_refresh(&RefreshToken::new(token.to_owned()).hash())
                .await?
                .filter(|f| f.session.client_id == client.client_id)
                .map(|f| f.session.id),
        };
        if let Some(sid) = session {
            self.core
                .end_session(&sid, EndReason::SignedOutByApp)
                .await?;
            tracing::info!(client_id = %client.client_id, session_id = %sid, "token revoked by its client");
        }
        Ok(())
    }

    /// RP-initiated logout: the ID token the app holds (`id_token_hint`, checked by signature,
    /// issuer and audience; an expired one is accepted, as the specification asks) names the
    /// app's session; it ends with the web session it was authorised from and every other app
    /// session of that sign-in. Where the browser goes next: the app's
    /// `post_logout_redirect_uri` (one of its registered redirect URIs, exactly) with `state`,
    /// or `None` for jwtgate's own page.
    pub async fn end_session(
        &self,
        id_token_hint: &str,
        client_id: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> Result<Option<String>, OAuthError> {
        let bad = |d: &str| OAuthError::InvalidRequest(d.to_owned());
        let unverified =
            unverified_claims(id_token_hint).ok_or_else(|| bad("id_token_hint is not a JWT"))?;
        let aud = unverified
            .get("aud")
            .and_then(|a| a.as_str())
            .ok_or_else(|| bad("id_token_hint has no audience"))?
            .to_owned();
        let iat = unverified
            .get("iat")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| bad("id_token_hint has no iat"))?;
        if client_id.is_some_and(|c| c != aud) {
            return Err(bad("client_id is not the id_token_hint's audience"));
        }
        let rules = self.core.rules();
        // Verified as of its own issue time: signature, issuer, audience and type all hold,
        // only its expiry is not asked (an app signs out with the ID token it kept).
        let verifier = self
            .core
            .verifier()
            .sibling(Policy::new(rules.issuer.clone(), aud.clone()).with_typ("JWT"))
            .without_revocation();
        let claims = verifier
            .verify_at(id_token_hint, iat)
            .map_err(|e| bad(&format!("id_token_hint is not valid: {}", e.reason())))?;
        let client = self
            .core
            .store()
            .client(&aud)
            .await?
            .map(Client::try_from)
            .transpose()?
            .ok_or_else(|| bad("the id_token_hint's app is no longer registered"))?;
        let redirect = match post_logout_redirect_uri {
            Some(uri) if client.redirect_uris.iter().any(|u| u == uri) => {
                let state: Vec<(&str, &str)> = state.map(|s| ("state", s)).into_iter().collect();
                Some(redirect_with(uri, &state))
            }
            Some(_) => {
                return Err(bad(
                    "post_logout_redirect_uri is not one of the app's registered redirect URIs",
                ));
            }
            None => None,
        };
        if let Some(sid) = &claims.sid {
            let store = self.core.store();
            let now = self.core.clock().now();
            let app_session = store.session(sid).await?.filter(|s| s.client_id == aud);
            if let Some(session) = app_session {
                let parent = session.parent_id.unwrap_or(session.id);
                let why = EndReason::SignedOutByApp;
                let ended = store.end_session_family(&parent, now, why.as_str()).await?;
                self.core.revoke_sessions(&ended);
                crate::shared::revocation::note_revoked();
                tracing::info!(client_id = %aud, sessions = ended.len(), "RP-initiated logout");
            }
        }
        Ok(redirect)
    }

    /// The apps `user_id` allowed.
    pub async fn allowed_apps(&self, user_id: &str) -> Result<Vec<AllowedApp>, AuthError> {
        Ok(self
            .core
            .store()
            .consents_of(user_id)
            .await?
            .into_iter()
            .map(AllowedApp::from)
            .collect())
    }

    /// Takes back what `user_id` allowed `client_id`: the consent is forgotten and the app's
    /// sessions of the user end. `NotFound` if there was none.
    pub async fn forget_app(&self, user_id: &str, client_id: &str) -> Result<(), AuthError> {
        let now = self.core.clock().now();
        let why = EndReason::AppAccessRevoked;
        let ended = self
            .core
            .store()
            .forget_consent(user_id, client_id, now, why.as_str())
            .await?
            .ok_or(AuthError::NotFound)?;
        self.core.revoke_sessions(&ended);
        if !ended.is_empty() {
            crate::shared::revocation::note_revoked();
        }
        Ok(())
    }
}

/// The payload of a compact JWS, not verified: only to choose how to verify it.
fn unverified_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}
