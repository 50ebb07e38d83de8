//! Owns the OpenAPI 3.1 contract served at `GET /openapi.json`: the document's frame (info,
//! tags, security schemes, the `Problem` schema) and the problem answers many routes share. The
//! operations themselves are described on their handlers (`#[utoipa::path]`) and registered with
//! `utoipa_axum::routes!`, so a route cannot be added without its description. The web client's
//! static files are not part of it. Must not import sqlx or the domain's services.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::response::{Response as Answer, ResponseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Header, ObjectBuilder, OpenApi, Ref, RefOr, Type};
use utoipa::{IntoResponses, Modify};

use super::AppState;
use super::cookies::ACCESS_COOKIE;
use super::error::Problem;
use super::oauth::OAuthErrorBody;

/// The problems' media type (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "jwtgate",
        description = "Self-hosted JWT authentication server. Every error is \
            `application/problem+json` (RFC 9457) with a stable `code`; every 401 carries \
            `WWW-Authenticate`, every 429 `Retry-After`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(Problem, OAuthErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Sign-up, sign-in, refresh, sign-out, sessions, activity"),
        (name = "account", description = "Passwords, addresses, deleting the account"),
        (name = "api", description = "The caller's own resources (per-plan rate limit)"),
        (name = "admin", description = "Administration (the `admin` role)"),
        (name = "feed", description = "The revocation feed, for other services"),
        (name = "oauth", description = "The OpenID Connect provider: apps signing users in"),
        (name = "discovery", description = "Public keys, discovery and this document"),
        (name = "health", description = "Probes"),
    )
)]
struct Frame;

/// The credentials the server takes.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from `POST /auth/login` (body transport).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                ACCESS_COOKIE,
                "The HttpOnly access cookie set by `POST /auth/login` with \
                 `\"transport\": \"cookie\"` (browsers).",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "With the access cookie, every request that changes state also sends the \
                 session's CSRF token (`csrf_token` of the sign-in, or `GET /auth/csrf`).",
            ))),
        );
        components.add_security_scheme(
            "client_secret_basic",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A confidential OAuth client: `client_id:client_secret` \
                         (`jwtgate client add`). Or `client_id` and `client_secret` in the form.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "feed",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("jgf_…")
                    .description(Some(
                        "A feed credential (`jwtgate feed-credential add`): `Bearer jgf_…`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The whole document: the frame, and the operations `api` was built with.
pub fn document(api: OpenApi) -> OpenApi {
    let mut frame = <Frame as utoipa::OpenApi>::openapi();
    frame.merge(api);
    frame
}

/// The document as served, serialised once at start-up.
pub fn to_json(document: &OpenApi) -> axum::body::Bytes {
    serde_json::to_vec(document)
        .unwrap_or_else(|_| b"{}".to_vec())
        .into()
}

#[utoipa::path(
    get,
    operation_id = "openapi",
    path = "/openapi.json",
    tag = "discovery",
    responses(
        (status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object),
    ),
)]
pub async fn serve(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.openapi.clone(),
    )
        .into_response()
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn problem(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        PROBLEM_JSON,
        Content::new(Some(Ref::from_schema_name("Problem"))),
    )
}

fn challenged(description: &str) -> RefOr<Answer> {
    problem(description)
        .header(
            "WWW-Authenticate",
            Header::new(string().description(Some("`Bearer realm=\"jwtgate\"`, with `error=\"invalid_token\"` when a credential was refused"))),
        )
        .build()
        .into()
}

fn retry(description: &str) -> ResponseBuilder {
    problem(description).header(
        "Retry-After",
        Header::new(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some("Seconds to wait")),
        ),
    )
}

fn map(entries: impl IntoIterator<Item = (&'static str, RefOr<Answer>)>) -> Responses {
    entries
        .into_iter()
        .map(|(status, answer)| (status.to_owned(), answer))
        .collect()
}

type Responses = BTreeMap<String, RefOr<Answer>>;

/// The 400 every set shares (operations with codes of their own describe theirs).
const BAD_REQUEST: &str = "Malformed request; `code` says how: `invalid_json`, `bad_request`, \
    `invalid_request` (malformed or ambiguous credentials), `invalid_path`, `invalid_query`";

/// A JSON request body: what reading and parsing it can refuse.
pub struct JsonBody;

impl IntoResponses for JsonBody {
    fn responses() -> Responses {
        map([
            ("400", problem(BAD_REQUEST).build().into()),
            (
                "408",
                problem("`request_timeout`: the body did not arrive in time")
                    .build()
                    .into(),
            ),
            (
                "413",
                problem("`payload_too_large`: bodies are limited to 16 KiB")
                    .build()
                    .into(),
            ),
            (
                "415",
                problem("`unsupported_media_type`: send the body as application/json")
                    .build()
                    .into(),
            ),
            (
                "422",
                problem("`missing_field` or `invalid_field`: the JSON has the wrong shape")
                    .build()
                    .into(),
            ),
        ])
    }
}

/// What the access-token check can answer (the library's extractor, then the CSRF rule).
pub struct AccessToken;

const UNAUTHORIZED: &str = "`missing_credentials`, `invalid_token` (invalid, expired or \
    revoked) or `duplicate_cookie`";

impl IntoResponses for AccessToken {
    fn responses() -> Responses {
        map([
            ("400", problem(BAD_REQUEST).build().into()),
            ("401", challenged(UNAUTHORIZED)),
            (
                "403",
                problem("`csrf_failed`: a cookie-authenticated change without the CSRF header")
                    .build()
                    .into(),
            ),
            (
                "503",
                retry("`revocation_view_stale`: this node cannot confirm the token is not revoked")
                    .build()
                    .into(),
            ),
        ])
    }
}

/// [`AccessToken`], and the `admin` role.
pub struct AdminRole;

impl IntoResponses for AdminRole {
    fn responses() -> Responses {
        let mut responses = AccessToken::responses();
        responses.insert(
            "403".to_owned(),
            challenged("`insufficient_scope` (no `admin` role) or `csrf_failed`"),
        );
        responses
    }
}

/// The per-plan limit of `/api/*`.
pub struct PlanLimit;

impl IntoResponses for PlanLimit {
    fn responses() -> Responses {
        map([(
            "429",
            retry("`rate_limited`: the plan's requests per minute are spent")
                .header(
                    "RateLimit",
                    Header::new(string().description(Some("`\"plan\";r=REMAINING;t=RESET`"))),
                )
                .header(
                    "RateLimit-Policy",
                    Header::new(string().description(Some("`\"plan\";q=QUOTA;w=60`"))),
                )
                .build()
                .into(),
        )])
    }
}

/// The opaque 500: the body names only the request id (the cause is in the log).
pub struct Internal;

impl IntoResponses for Internal {
    fn responses() -> Responses {
        map([(
            "500",
            problem("`internal_error`, with the `request_id` to quote")
                .build()
                .into(),
        )])
    }
}
