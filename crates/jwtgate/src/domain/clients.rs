//! Owns the OAuth client registry (issue 15): the applications the OpenID Connect provider
//! will serve, as the CLI (`jwtgate client`) and the admin API register them. The rules are
//! here: names, redirect URIs (RFC 8252 / OAuth 2.1), grants, public and confidential clients,
//! the reserved built-in client `jwtgate`, and the secret (shown once, kept as SHA-256).
//! Requests are parsed into [`NewClient`] at the edge; the service takes only that.
//! Must not import axum or sqlx.

use std::sync::Arc;

use serde::Serialize;

use crate::config::SecretString;
use crate::domain::core::{CLIENT_ID, Core};
use crate::domain::tokens;
use crate::store::{ClientRow, NewClientRow, StoreError};

/// What every client secret starts with, so a leaked one is recognisable (secret scanners).
pub const SECRET_PREFIX: &str = "jgc_";
/// Longest client name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Most redirect URIs a client may have.
pub const MAX_REDIRECT_URIS: usize = 10;
/// Longest redirect URI, in bytes.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A request field breaks a rule; `field` is its name in the admin API's body.
    #[error("{field}: {detail}")]
    InvalidField { field: &'static str, detail: String },
    #[error("no OAuth client with id {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, detail: impl Into<String>) -> ClientError {
    ClientError::InvalidField {
        field,
        detail: detail.into(),
    }
}

/// Whether a client can keep a secret (a server-side application) or not (a browser or native
/// application, which authenticates with PKCE alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    Public,
    Confidential,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Public => "public",
            ClientKind::Confidential => "confidential",
        }
    }

    /// `public` or `confidential`; a client is confidential unless asked otherwise.
    pub fn parse(kind: Option<&str>) -> Result<ClientKind, ClientError> {
        match kind {
            None | Some("confidential") => Ok(ClientKind::Confidential),
            Some("public") => Ok(ClientKind::Public),
            Some(other) => Err(invalid(
                "kind",
                format!("kind {:?} is not public or confidential", shown(other)),
            )),
        }
    }
}

/// An OAuth grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::RefreshToken => "refresh_token",
            Grant::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(grant: &str) -> Result<Grant, ClientError> {
        match grant {
            "authorization_code" => Ok(Grant::AuthorizationCode),
            "refresh_token" => Ok(Grant::RefreshToken),
            "client_credentials" => Ok(Grant::ClientCredentials),
            other => Err(invalid(
                "grants",
                format!(
                    "grant {:?} is not one of authorization_code, refresh_token, \
                     client_credentials",
                    shown(other)
                ),
            )),
        }
    }
}

/// At most 40 characters of something refused, for a message.
fn shown(value: &str) -> String {
    value.chars().take(40).collect()
}

/// A client's display name: 1 to 100 characters, none a control character, not `jwtgate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    pub fn parse(name: &str) -> Result<ClientName, ClientError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(invalid(
                "name",
                format!("the name must be 1 to {MAX_NAME_CHARS} printable characters"),
            ));
        }
        // Tokens of the built-in web client carry `client_id: "jwtgate"`: a registered client
        // of that name would pass for it on consent screens and in the audit log.
        if name.eq_ignore_ascii_case(CLIENT_ID) {
            return Err(invalid(
                "name",
                format!("the name {CLIENT_ID} is reserved for the built-in web client"),
            ));
        }
        Ok(ClientName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A redirect URI: absolute, no fragment, `https`, or `http` on a loopback host (RFC 8252
/// §7.3, OAuth 2.1 §8.4.2). Kept exactly as given: the provider will match it by exact string
/// comparison, so no normalisation may make two spellings one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(raw: &str) -> Result<RedirectUri, ClientError> {
        let refuse = |why: &str| {
            invalid(
                "redirect_uris",
                format!("redirect URI {:?} {why}", shown(raw)),
            )
        };
        if raw.len() > MAX_REDIRECT_URI_LEN {
            return Err(refuse(&format!(
                "is longer than {MAX_REDIRECT_URI_LEN} bytes"
            )));
        }
        // The URL parser would trim or percent-encode these, and the stored string must be
        // the one that is matched.
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(refuse("must not contain spaces or control characters"));
        }
        let url = url::Url::parse(raw)
            .map_err(|_| refuse("is not an absolute URI (https://host/path)"))?;
        if url.fragment().is_some() {
            return Err(refuse("must not have a fragment (#...)"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("must not carry a user name or password"));
        }
        match url.scheme() {
            "https" if url.host().is_some() => Ok(RedirectUri(raw.to_owned())),
            "http" if is_loopback(&url) => Ok(RedirectUri(raw.to_owned())),
            "http" => Err(refuse(
                "must use https (http only on a loopback host: 127.0.0.1, [::1] or localhost)",
            )),
            _ => Err(refuse("must use https")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        Some(url::Host::Domain(host)) => host == "localhost",
        None => false,
    }
}

/// What a caller asks for, as the CLI and the admin API receive it (unparsed).
#[derive(Debug, Clone, Default)]
pub struct ClientRequest {
    pub name: String,
    /// `public` or `confidential` (the default).
    pub kind: Option<String>,
    pub redirect_uris: Vec<String>,
    /// Empty: `authorization_code` and `refresh_token`.
    pub grants: Vec<String>,
    pub first_party: bool,
}

/// A client to register, every rule checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClient {
    name: ClientName,
    kind: ClientKind,
    redirect_uris: Vec<RedirectUri>,
    grants: Vec<Grant>,
    first_party: bool,
}

impl NewClient {
    pub fn parse(request: ClientRequest) -> Result<NewClient, ClientError> {
        let name = ClientName::parse(&request.name)?;
        let kind = ClientKind::parse(request.kind.as_deref())?;
        let mut grants = request
            .grants
            .iter()
            .map(|g| Grant::parse(g))
            .collect::<Result<Vec<_>, _>>()?;
        if grants.is_empty() {
            grants = vec![Grant::AuthorizationCode, Grant::RefreshToken];
        }
        grants.sort_unstable();
        grants.dedup();
        // A public client cannot keep a secret, so it cannot authenticate as itself.
        if kind == ClientKind::Public && grants.contains(&Grant::ClientCredentials) {
            return Err(invalid(
                "grants",
                "client_credentials is only for confidential clients (a public client has no \
                 secret to authenticate with)",
            ));
        }
        if grants.contains(&Grant::RefreshToken) && !grants.contains(&Grant::AuthorizationCode) {
            return Err(invalid(
                "grants",
                "refresh_token needs authorization_code (it is the only grant that issues \
                 refresh tokens)",
            ));
        }
        let mut redirect_uris: Vec<RedirectUri> = Vec::new();
        for raw in &request.redirect_uris {
            let uri = RedirectUri::parse(raw)?;
            if !redirect_uris.contains(&uri) {
                redirect_uris.push(uri);
            }
        }
        if redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(invalid(
                "redirect_uris",
                format!("at most {MAX_REDIRECT_URIS} redirect URIs per client"),
            ));
        }
        if grants.contains(&Grant::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(invalid(
                "redirect_uris",
                "at least one redirect URI is needed for the authorization_code grant",
            ));
        }
        Ok(NewClient {
            name,
            kind,
            redirect_uris,
            grants,
            first_party: request.first_party,
        })
    }
}

/// A registered client as the CLI and the admin API show it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Client {
    /// The `client_id`: random, URL-safe, never beginning with `-`.
    pub client_id: String,
    pub name: String,
    pub kind: ClientKind,
    /// Exactly as registered; matched by exact string comparison.
    pub redirect_uris: Vec<String>,
    pub grants: Vec<Grant>,
    /// Trusted by the operator: the provider may skip the consent screen for it.
    pub first_party: bool,
    pub created_at: i64,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("client {}: {what}", row.id));
        let kind = ClientKind::parse(Some(&row.kind)).map_err(|_| corrupt("kind"))?;
        let grants = row
            .grants
            .iter()
            .map(|g| Grant::parse(g))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| corrupt("grants"))?;
        Ok(Client {
            client_id: row.id,
            name: row.name,
            kind,
            redirect_uris: row.redirect_uris,
            grants,
            first_party: row.first_party,
            created_at: row.created_at,
        })
    }
}

/// A confidential client's secret, as made: shown once, then only its hash exists. `Debug`
/// and `Serialize` are redacted; [`ClientSecret::expose`] is the one way to read it.
#[derive(Debug, Clone)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

/// A new `client_id`: 128 random bits, base64url. Never beginning with `-`, so that no command
/// line reads it as an option (one did once).
fn new_client_id() -> String {
    loop {
        let id = tokens::random_id();
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// The client registry. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Clients {
    core: Arc<Core>,
}

impl Clients {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// Registers `client`: the client, and its secret (confidential clients only), which is
    /// shown this once.
    pub async fn add(
        &self,
        client: NewClient,
    ) -> Result<(Client, Option<ClientSecret>), ClientError> {
        let id = new_client_id();
        let secret = (client.kind == ClientKind::Confidential)
            .then(|| tokens::prefixed_secret(SECRET_PREFIX));
        // SHA-256 only: the secret is 256 random bits (see `tokens::secret_sha256`).
        let hash = secret.as_deref().map(tokens::secret_sha256);
        let redirect_uris: Vec<String> = client
            .redirect_uris
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect();
        let grants: Vec<String> = client
            .grants
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect();
        let created_at = self.core.clock().now();
        self.core
            .store()
            .add_client(&NewClientRow {
                id: &id,
                name: client.name.as_str(),
                kind: client.kind.as_str(),
                secret_sha256: hash.as_deref(),
                redirect_uris: &redirect_uris,
                grants: &grants,
                first_party: client.first_party,
                created_at,
            })
            .await?;
        Ok((
            Client {
                client_id: id,
                name: client.name.0,
                kind: client.kind,
                redirect_uris,
                grants: client.grants,
                first_party: client.first_party,
                created_at,
            },
            secret.map(|s| ClientSecret(SecretString::new(s))),
        ))
    }

    /// Every registered client, oldest first (the built-in web client is not one of them).
    pub async fn list(&self) -> Result<Vec<Client>, ClientError> {
        Ok(self
            .core
            .store()
            .clients()
            .await?
            .into_iter()
            .map(Client::try_from)
            .collect::<Result<_, _>>()?)
    }

    pub async fn get(&self, id: &str) -> Result<Client, ClientError> {
        match self.core.store().client(id).await? {
            Some(row) => Ok(Client::try_from(row)?),
            None => Err(ClientError::NotFound(id.to_owned())),
        }
    }

    /// Removes client `id`.
    /// Removes a client; its users' sessions with it end at once (their tokens are refused),
    /// and what they allowed it is forgotten with it.
    pub async fn remove(&self, id: &str) -> Result<(), ClientError> {
        // Its sessions end first: a crash between the two steps leaves a client whose sessions
        // are over (removing it again finishes the job), never a removed client's live session.
        let store = self.core.store();
        let why = crate::domain::reason::EndReason::AppAccessRevoked;
        let ended = store
            .end_client_sessions(id, self.core.clock().now(), why.as_str())
            .await?;
        self.core.revoke_sessions(&ended);
        if store.remove_client(id).await? {
            Ok(())
        } else {
            Err(ClientError::NotFound(id.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: Option<&str>, uris: &[&str], grants: &[&str]) -> ClientRequest {
        ClientRequest {
            name: "Orders".into(),
            kind: kind.map(str::to_owned),
            redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
            grants: grants.iter().map(|g| (*g).to_owned()).collect(),
            first_party: false,
        }
    }

    fn refused_field(result: Result<NewClient, ClientError>) -> &'static str {
        match result {
            Err(ClientError::InvalidField { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn https_and_loopback_http_redirect_uris_are_kept_exactly_as_given() {
        for uri in [
            "https://app.example.com/callback",
            "https://APP.example.com:8443/cb?x=1",
            "http://127.0.0.1:51234/cb",
            "http://[::1]/cb",
            "http://localhost:3000/auth/callback",
        ] {
            assert_eq!(RedirectUri::parse(uri).expect(uri).as_str(), uri);
        }
    }

    #[test]
    fn redirect_uris_that_are_not_https_or_loopback_or_carry_a_fragment_are_refused() {
        for uri in [
            "http://app.example.com/cb",
            "http://127.0.0.2/cb",
            "http://localhost.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://app.example.com/cb#",
            "/callback",
            "app.example.com/cb",
            "ftp://app.example.com/cb",
            "com.example.app:/cb",
            "https://user:pw@app.example.com/cb",
            "https://app.example.com/c b",
            "",
        ] {
            assert!(
                matches!(
                    RedirectUri::parse(uri),
                    Err(ClientError::InvalidField {
                        field: "redirect_uris",
                        ..
                    })
                ),
                "{uri}"
            );
        }
    }

    #[test]
    fn a_client_is_confidential_with_code_and_refresh_grants_unless_asked_otherwise() {
        let client = NewClient::parse(request(None, &["https://a.example/cb"], &[])).expect("ok");
        assert_eq!(client.kind, ClientKind::Confidential);
        assert_eq!(
            client.grants,
            vec![Grant::AuthorizationCode, Grant::RefreshToken]
        );
    }

    #[test]
    fn a_public_client_cannot_have_client_credentials() {
        let result = NewClient::parse(request(
            Some("public"),
            &["https://a.example/cb"],
            &["authorization_code", "client_credentials"],
        ));
        assert_eq!(refused_field(result), "grants");
    }

    #[test]
    fn authorization_code_needs_a_redirect_uri_but_client_credentials_does_not() {
        assert_eq!(
            refused_field(NewClient::parse(request(None, &[], &[]))),
            "redirect_uris"
        );
        let machine = NewClient::parse(request(None, &[], &["client_credentials"])).expect("ok");
        assert_eq!(machine.grants, vec![Grant::ClientCredentials]);
    }

    #[test]
    fn unknown_kinds_and_grants_and_bad_names_are_refused_naming_the_field() {
        assert_eq!(
            refused_field(NewClient::parse(request(Some("secret"), &[], &[]))),
            "kind"
        );
        assert_eq!(
            refused_field(NewClient::parse(request(None, &[], &["implicit"]))),
            "grants"
        );
        for name in ["", "   ", "a\u{7}b", "JWTGATE", &"x".repeat(101)] {
            let mut bad = request(None, &["https://a.example/cb"], &[]);
            bad.name = name.to_owned();
            assert_eq!(refused_field(NewClient::parse(bad)), "name", "{name:?}");
        }
    }

    #[test]
    fn client_ids_never_begin_with_a_hyphen() {
        for _ in 0..2000 {
            let id = new_client_id();
            assert!(!id.starts_with('-') && id.len() == 22, "{id}");
        }
    }

    #[test]
    fn a_secret_prints_redacted() {
        let secret = ClientSecret(SecretString::new("jgc_abc"));
        assert!(!format!("{secret:?}").contains("jgc_abc"));
    }
}
