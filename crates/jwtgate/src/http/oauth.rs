//! Owns the OpenID Connect provider's endpoints (issue 15): `/authorize` and the hosted
//! pages' `/api/oauth/authorize`, the form-encoded `/token`, `/introspect` and `/revoke`
//! (RFC 6749 §5.2 errors, `Cache-Control: no-store`), `/userinfo`, `/end-session`, and the
//! caller's allowed apps (`/api/me/apps`). Extract -> call `domain::authorize` or
//! `domain::oauth` -> map to response. Must not import sqlx.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiPath, Authenticated, ClientIp, user_agent};
use super::openapi::{AccessToken, Internal, JsonBody};
use crate::config::SecretString;
use crate::domain::authorize::{AuthorizeError, Decision, Next, NotRedirected};
use crate::domain::oauth::{
    AllowedApp, ClientCredentials, GrantedTokens, Introspection, OAuthError, TokenRequest,
    UserInfo, UserInfoError,
};
use crate::domain::tokens::RefreshToken;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize))
        .routes(routes!(decide))
        .routes(routes!(token))
        .routes(routes!(userinfo_get, userinfo_post))
        .routes(routes!(introspect))
        .routes(routes!(revoke))
        .routes(routes!(end_session))
        .routes(routes!(apps))
        .routes(routes!(forget_app))
}

/// 303 to `to`. Every address here is ASCII (a request's own query, or a URL the `url` crate
/// serialised), but a redirect must never panic on a request path, so a value that is not a
/// header value is a 500 with its cause logged instead of `Redirect::to`'s panic.
fn see_other(to: &str) -> Response {
    match HeaderValue::try_from(to) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => ApiError::internal("a redirect address is not a header value").into_response(),
    }
}

/// The web client's page for a request that cannot go back to its app.
fn error_page(code: &str, description: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("error", code)
        .append_pair("error_description", description)
        .finish();
    see_other(&format!("/#/oauth-error?{query}"))
}

/// Starts a sign-in for an app (RFC 6749 §4.1.1): a request for an unknown app or a redirect
/// URI it did not register is shown on jwtgate's error page; any other error goes back to the
/// app; a valid request goes on to the hosted page (sign-in if needed, then consent).
#[utoipa::path(
    get,
    path = "/authorize",
    tag = "oauth",
    // Every parameter is documented optional: whatever is missing or wrong, the answer is a
    // redirect that says so (to the app, or to jwtgate's error page), never a 4xx.
    params(
        ("client_id" = Option<String>, Query, description = "The app's client_id (required by OAuth)"),
        ("redirect_uri" = Option<String>, Query, description = "One of the app's registered redirect URIs, exactly (required)"),
        ("response_type" = Option<String>, Query, description = "`code` (required)"),
        ("scope" = Option<String>, Query, description = "`openid`, `email` (default `openid`)"),
        ("state" = Option<String>, Query, description = "Returned as given"),
        ("nonce" = Option<String>, Query, description = "Copied into the ID token"),
        ("code_challenge" = Option<String>, Query, description = "BASE64URL(SHA-256(code_verifier)) (required)"),
        ("code_challenge_method" = Option<String>, Query, description = "`S256` (required)"),
    ),
    responses(
        (status = 303, description = "To the hosted page, to the app with an error, or to jwtgate's error page", headers(("Location" = String))),
    ),
)]
async fn authorize(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    match state.authorize.check(&query).await {
        Ok(_) => see_other(&format!("/#/authorize?{query}")),
        Err(AuthorizeError::NotRedirected(e)) => not_redirected(&e),
        Err(AuthorizeError::Redirect(to)) => see_other(&to),
        Err(AuthorizeError::Internal(e)) => ApiError::from(e).into_response(),
    }
}

fn not_redirected(e: &NotRedirected) -> Response {
    error_page(e.code(), &e.to_string())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct DecideBody {
    /// The query `/authorize` was called with, as it came.
    query: String,
    /// The user's answer on the consent page; absent on the first call.
    decision: Option<DecisionBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum DecisionBody {
    Allow,
    Deny,
}

/// What the hosted page does next: go to `redirect_to`, or show `consent`.
#[derive(Serialize, utoipa::ToSchema)]
struct DecideAnswer {
    #[serde(flatten)]
    next: Next,
}

/// The hosted page's step, for the signed-in user: a code for the app (first-party, or
/// allowed before), the consent to ask for, or the user's answer carried out.
#[utoipa::path(
    post,
    operation_id = "authorize_decide",
    path = "/api/oauth/authorize",
    tag = "oauth",
    request_body = DecideBody,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`redirect_to` (go there) or `consent` (ask the user)", body = DecideAnswer),
        JsonBody,
        AccessToken,
        Internal,
        (status = 400, description = "`invalid_client` or `invalid_redirect_uri`: the request cannot go back to an app", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn decide(
    State(state): State<AppState>,
    Authenticated { claims, .. }: Authenticated,
    ApiJson(body): ApiJson<DecideBody>,
) -> Result<Json<DecideAnswer>, ApiError> {
    let web_session = claims.sid.as_deref().unwrap_or_default();
    let decision = body.decision.map(|d| match d {
        DecisionBody::Allow => Decision::Allow,
        DecisionBody::Deny => Decision::Deny,
    });
    match state
        .authorize
        .decide(&body.query, &claims.sub, web_session, decision)
        .await
    {
        Ok(next) => Ok(Json(DecideAnswer { next })),
        Err(AuthorizeError::Redirect(to)) => Ok(Json(DecideAnswer {
            next: Next::RedirectTo(to),
        })),
        Err(AuthorizeError::NotRedirected(e)) => {
            Err(ApiError::bad_request(e.code(), e.to_string()))
        }
        Err(AuthorizeError::Internal(e)) => Err(e.into()),
    }
}

/// An RFC 6749 §5.2 error body.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope` or `unsupported_token_type`.
    error: &'static str,
    error_description: String,
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn oauth_error(e: OAuthError) -> Response {
    if let OAuthError::Internal(cause) = e {
        return ApiError::from(cause).into_response();
    }
    let status = match &e {
        OAuthError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = (
        status,
        Json(OAuthErrorBody {
            error: e.code(),
            error_description: e.to_string(),
        }),
    )
        .into_response();
    response.extensions_mut().insert(super::edge::OAuthAnswer);
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"jwtgate\""),
        );
    }
    no_store(response)
}

/// A form body's fields, each at most once (RFC 6749 §3.2), as sent with
/// `application/x-www-form-urlencoded`.
struct Form(std::collections::HashMap<String, String>);

impl Form {
    fn parse(headers: &HeaderMap, body: &Bytes) -> Result<Form, OAuthError> {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(OAuthError::InvalidRequest(
                "send the parameters as application/x-www-form-urlencoded".into(),
            ));
        }
        let mut map = std::collections::HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(OAuthError::InvalidRequest(format!(
                    "{k} is given more than once"
                )));
            }
        }
        Ok(Form(map))
    }

    fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name).filter(|v| !v.is_empty())
    }

    fn require(&mut self, name: &str) -> Result<String, OAuthError> {
        self.take(name)
            .ok_or_else(|| OAuthError::InvalidRequest(format!("{name} is missing")))
    }

    /// The client's credentials: HTTP Basic (`client_secret_basic`, RFC 6749 §2.3.1, its
    /// parts form-encoded), or `client_id` and `client_secret` in the body
    /// (`client_secret_post`), or `client_id` alone (a public client). Never two at once.
    fn client(&mut self, headers: &HeaderMap) -> Result<ClientCredentials, OAuthError> {
        let in_body = (self.take("client_id"), self.take("client_secret"));
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Basic ")
                    .or_else(|| v.strip_prefix("basic "))
            });
        let bad = |d: &str| OAuthError::InvalidClient(d.to_owned());
        match (basic, in_body) {
            (Some(encoded), (id, None)) => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| bad("the Basic credentials are not base64 of id:secret"))?;
                let (raw_id, raw_secret) = decoded
                    .split_once(':')
                    .ok_or_else(|| bad("the Basic credentials are not id:secret"))?;
                let decode = |s: &str| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                let client_id = decode(raw_id);
                if id.is_some_and(|id| id != client_id) {
                    return Err(OAuthError::InvalidRequest(
                        "client_id in the body is not the one in the Basic credentials".into(),
                    ));
                }
                Ok(ClientCredentials {
                    client_id,
                    secret: Some(SecretString::new(decode(raw_secret))),
                })
            }
            (Some(_), (_, Some(_))) => Err(OAuthError::InvalidRequest(
                "use one client authentication method, not Basic and client_secret both".into(),
            )),
            (None, (Some(client_id), secret)) => Ok(ClientCredentials {
                client_id,
                secret: secret.map(SecretString::new),
            }),
            (None, (None, _)) => Err(bad(
                "no client authentication: send client_id (and a confidential client's secret)",
            )),
        }
    }
}

/// The token endpoint's parameters (RFC 6749 §4.1.3, §6, §4.4.2), form-encoded.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes the form for the contract")]
struct TokenForm {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The OAuth answers' shared failures: RFC 6749 §5.2 bodies.
struct OAuthFailures;

impl utoipa::IntoResponses for OAuthFailures {
    fn responses() -> std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    > {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder, header::Header};
        let body = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("OAuthErrorBody")))
                .build()
        };
        let mut map = Internal::responses();
        for (status, description) in [
            ("400", "An RFC 6749 §5.2 `error`"),
            ("401", "`invalid_client`"),
        ] {
            let mut answer = ResponseBuilder::new()
                .description(description)
                .content("application/json", body());
            if status == "401" {
                answer = answer.header("WWW-Authenticate", Header::default());
            }
            map.insert(status.to_owned(), answer.build().into());
        }
        for (status, answer) in JsonBody::responses() {
            if status == "408" || status == "413" {
                map.insert(status, answer);
            }
        }
        map
    }
}

/// The token endpoint (RFC 6749 §3.2): a code (with its PKCE verifier) for tokens, a refresh
/// token for new ones (rotated), or a client's own credentials for a service token.
#[utoipa::path(
    post,
    path = "/token",
    tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "The tokens", body = GrantedTokens),
        OAuthFailures,
    ),
)]
async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let mut form = Form::parse(&headers, &body)?;
        let presented = form.client(&headers)?;
        let request = match form.require("grant_type")?.as_str() {
            "authorization_code" => TokenRequest::AuthorizationCode {
                code: form.require("code")?,
                redirect_uri: form.take("redirect_uri"),
                code_verifier: form.take("code_verifier"),
            },
            "refresh_token" => TokenRequest::RefreshToken {
                refresh_token: RefreshToken::new(form.require("refresh_token")?),
                scope: form.take("scope"),
            },
            "client_credentials" => TokenRequest::ClientCredentials {
                scope: form.take("scope"),
            },
            other => {
                return Err(OAuthError::UnsupportedGrantType(format!(
                    "grant_type {:?} is not supported (no implicit or password grant)",
                    other.chars().take(40).collect::<String>()
                )));
            }
        };
        let client = state.provider.authenticate(&presented).await?;
        let ua = user_agent(&headers);
        state
            .provider
            .token(&client, request, &ip, ua.as_deref())
            .await
    }
    .await;
    match result {
        Ok(tokens) => no_store(Json(tokens).into_response()),
        Err(e) => oauth_error(e),
    }
}

/// The `Authorization: Bearer` token's user (OpenID Connect Core §5.3): an app's token with the
/// `openid` scope; the address with `email`.
#[utoipa::path(
    get,
    path = "/userinfo",
    tag = "oauth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserInfo),
        (status = 401, description = "`missing_credentials` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`: not an app's token with `openid`", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`invalid_request`: malformed or ambiguous credentials", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`revocation_view_stale`", body = Problem, content_type = "application/problem+json"),
        Internal,
    ),
)]
async fn userinfo_get(
    state: State<AppState>,
    verified: jwtgate_verify::axum::Authenticated,
) -> Result<Json<UserInfo>, ApiError> {
    userinfo(state, verified).await
}

/// As `GET /userinfo` (OpenID Connect Core §5.3.1 allows both methods).
#[utoipa::path(
    post,
    path = "/userinfo",
    tag = "oauth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserInfo),
        (status = 401, description = "`missing_credentials` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`: not an app's token with `openid`", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`invalid_request`: malformed or ambiguous credentials", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`revocation_view_stale`", body = Problem, content_type = "application/problem+json"),
        Internal,
    ),
)]
async fn userinfo_post(
    state: State<AppState>,
    verified: jwtgate_verify::axum::Authenticated,
) -> Result<Json<UserInfo>, ApiError> {
    userinfo(state, verified).await
}

async fn userinfo(
    State(state): State<AppState>,
    verified: jwtgate_verify::axum::Authenticated,
) -> Result<Json<UserInfo>, ApiError> {
    match state.provider.userinfo(&verified.claims).await {
        Ok(info) => Ok(Json(info)),
        Err(UserInfoError::InsufficientScope) => Err(ApiError::client(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "userinfo needs an app's access token with the openid scope",
        )),
        Err(UserInfoError::InvalidToken) => Err(ApiError::unauthorized(
            "invalid_token",
            "the token's account no longer exists",
            true,
        )),
        Err(UserInfoError::Internal(e)) => Err(e.into()),
    }
}

/// The introspection and revocation form (RFC 7662 §2.1, RFC 7009 §2.1).
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes the form for the contract")]
struct TokenOnlyForm {
    token: String,
    /// `access_token` or `refresh_token` (a hint; both are tried).
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 7662: whether a token is active, and what it is, for a confidential client.
#[utoipa::path(
    post,
    path = "/introspect",
    tag = "oauth",
    request_body(content = TokenOnlyForm, content_type = "application/x-www-form-urlencoded"),
    security(("client_secret_basic" = [])),
    responses(
        (status = 200, description = "`active`, and for an active token what it is", body = Introspection),
        OAuthFailures,
    ),
)]
async fn introspect(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let mut form = Form::parse(&headers, &body)?;
        let presented = form.client(&headers)?;
        let token = form.require("token")?;
        let client = state.provider.authenticate(&presented).await?;
        state.provider.introspect(&client, &token).await
    }
    .await;
    match result {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(e) => oauth_error(e),
    }
}

/// RFC 7009: a client gives back one of its tokens; its session ends. 200 for tokens unknown
/// or not the client's too (§2.2).
#[utoipa::path(
    post,
    path = "/revoke",
    tag = "oauth",
    request_body(content = TokenOnlyForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "Done (or nothing to do)"),
        OAuthFailures,
    ),
)]
async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let mut form = Form::parse(&headers, &body)?;
        let presented = form.client(&headers)?;
        let token = form.require("token")?;
        let client = state.provider.authenticate(&presented).await?;
        state.provider.revoke(&client, &token).await
    }
    .await;
    match result {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => oauth_error(e),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EndSessionQuery {
    /// The ID token the app was given (required).
    id_token_hint: Option<String>,
    /// One of the app's registered redirect URIs, exactly.
    post_logout_redirect_uri: Option<String>,
    /// Returned to the app as given.
    state: Option<String>,
    client_id: Option<String>,
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ends the app's session, the
/// jwtgate sign-in it came from, and that sign-in's other app sessions; then back to the app.
#[utoipa::path(
    get,
    path = "/end-session",
    tag = "oauth",
    params(EndSessionQuery),
    responses(
        (status = 303, description = "To `post_logout_redirect_uri`, jwtgate's sign-in page, or its error page", headers(("Location" = String))),
        Internal,
    ),
)]
async fn end_session(
    State(state): State<AppState>,
    q: Result<Query<EndSessionQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error_page("invalid_request", "the logout request is malformed");
    };
    let Some(hint) = q.id_token_hint.filter(|h| !h.is_empty()) else {
        return error_page(
            "invalid_request",
            "id_token_hint is required: the app must say whose session ends",
        );
    };
    match state
        .provider
        .end_session(
            &hint,
            q.client_id.as_deref(),
            q.post_logout_redirect_uri.as_deref(),
            q.state.as_deref(),
        )
        .await
    {
        Ok(Some(to)) => see_other(&to),
        Ok(None) => see_other("/#/sign-in"),
        Err(OAuthError::Internal(e)) => ApiError::from(e).into_response(),
        Err(e) => error_page(e.code(), &e.to_string()),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct AppsBody {
    apps: Vec<AllowedApp>,
}

/// The apps the caller allowed on a consent page.
#[utoipa::path(
    get,
    operation_id = "list_allowed_apps",
    path = "/api/me/apps",
    tag = "api",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The caller's allowed apps", body = AppsBody),
        AccessToken,
        Internal,
    ),
)]
async fn apps(
    State(state): State<AppState>,
    Authenticated { claims, .. }: Authenticated,
) -> Result<Json<AppsBody>, ApiError> {
    let apps = state.provider.allowed_apps(&claims.sub).await?;
    Ok(Json(AppsBody { apps }))
}

/// Takes back an app's access: the consent is forgotten and the app's sessions end. 404 if
/// the caller never allowed it.
#[utoipa::path(
    delete,
    operation_id = "forget_allowed_app",
    path = "/api/me/apps/{client_id}",
    tag = "api",
    params(("client_id" = String, Path, description = "The app's client_id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Forgotten; its sessions ended"),
        AccessToken,
        Internal,
        (status = 404, description = "`not_found`: the caller never allowed this app", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn forget_app(
    State(state): State<AppState>,
    Authenticated { claims, .. }: Authenticated,
    ApiPath(client_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.provider.forget_app(&claims.sub, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
