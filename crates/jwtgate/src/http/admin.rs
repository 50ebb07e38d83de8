//! Owns `/api/admin/*`: list, search and show users, set roles and plan, disable and enable,
//! end a user's sessions; list, rotate and revoke the signing keys; list, register, show and
//! remove OAuth clients. Every route is guarded by
//! `jwtgate-verify`'s `RequireRole` (through [`Admin`]): 401 without credentials, 403
//! `insufficient_scope` without the `admin` role.
//! Must not import sqlx.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, Problem};
use super::extract::{Admin, ApiJson, ApiPath, ClientIp};
use super::openapi::{AdminRole, Internal, JsonBody, PlanLimit};
use crate::domain::admin::{AdminError, AdminUser, Roles, UserPage};
use crate::domain::audit::{AuditEvent, Outcome};
use crate::domain::clients::{Client, ClientError, ClientRequest, NewClient};
use crate::domain::plans::Plan;
use crate::domain::signing::{KeyInfo, SigningError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(show_user))
        .routes(routes!(set_roles))
        .routes(routes!(set_plan))
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(end_sessions))
        .routes(routes!(plans))
        .routes(routes!(list_keys))
        .routes(routes!(rotate_key))
        .routes(routes!(revoke_key))
        .routes(routes!(list_clients, add_client))
        .routes(routes!(show_client, remove_client))
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::InvalidField { field, detail } => ApiError::InvalidField { field, detail },
            ClientError::NotFound(_) => ApiError::client(
                StatusCode::NOT_FOUND,
                "client_not_found",
                "no OAuth client with this client_id",
            ),
            ClientError::Store(cause) => ApiError::internal(cause),
        }
    }
}

impl From<SigningError> for ApiError {
    fn from(e: SigningError) -> Self {
        match e {
            SigningError::NoSuchKey(_) => {
                ApiError::client(StatusCode::NOT_FOUND, "not_found", "no such key")
            }
            SigningError::SecretManaged => ApiError::client(
                StatusCode::CONFLICT,
                "keys_from_secret",
                "signing uses JWT_SECRET: rotate it by setting a new JWT_SECRET and moving the \
                 old one to jwt_secret_previous",
            ),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound => {
                ApiError::client(StatusCode::NOT_FOUND, "not_found", "no such user")
            }
            AdminError::CannotModifySelf(why) => {
                ApiError::client(StatusCode::CONFLICT, "cannot_modify_self", why)
            }
            AdminError::LastAdmin => ApiError::client(
                StatusCode::CONFLICT,
                "last_admin",
                "this would leave no enabled administrator; make someone else an administrator first",
            ),
            AdminError::InvalidRoles(why) => {
                ApiError::client(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", why)
            }
            AdminError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// The one call site per admin action for the audit log (actor, subject, action, ip, outcome):
/// records how `result` went, then hands it back for the handler to answer with.
/// Never pass secrets here.
async fn audited<T, E>(
    state: &AppState,
    admin: &Admin,
    ip: &ClientIp,
    action: &'static str,
    subject: &str,
    result: Result<T, E>,
) -> Result<T, E> {
    state
        .core
        .audit()
        .record(AuditEvent {
            actor: Some(&admin.0.claims.sub),
            subject: Some(subject),
            ip: Some(&ip.0),
            event: action,
            outcome: if result.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            detail: None,
        })
        .await;
    result
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Part of the address to look for (case-insensitive).
    #[serde(default)]
    q: String,
    /// From 1.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    page: Option<u32>,
    /// 20 unless given; more than 100 is 100.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    per_page: Option<u32>,
}

/// Users, by address, a page at a time.
#[utoipa::path(
    get,
    path = "/api/admin/users",
    tag = "admin",
    params(ListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        AdminRole,
        PlanLimit,
        Internal,
    ),
)]
async fn list_users(
    State(state): State<AppState>,
    _admin: Admin,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<UserPage>, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::bad_request(
            "invalid_query",
            "page and per_page must be positive integers; q is a search string",
        )
    })?;
    let page = state
        .admin
        .list_users(
            &query.q,
            query.page.unwrap_or(1),
            query.per_page.unwrap_or(20),
        )
        .await?;
    Ok(Json(page))
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AdminUserBody)]
struct UserBody {
    user: AdminUser,
}

#[utoipa::path(
    get,
    path = "/api/admin/users/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The user", body = UserBody),
        AdminRole,
        PlanLimit,
        Internal,
        (status = 404, description = "`not_found`: no such user", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn show_user(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserBody>, ApiError> {
    let user = state.admin.user(&id).await?;
    Ok(Json(UserBody { user }))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RolesBody {
    roles: Vec<String>,
}

/// Replaces the user's roles.
#[utoipa::path(
    put,
    path = "/api/admin/users/{id}/roles",
    tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    request_body = RolesBody,
    responses(
        (status = 200, description = "The user", body = UserBody),
        JsonBody,
        AdminRole,
        PlanLimit,
        Internal,
        (status = 404, description = "`not_found`: no such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cannot_modify_self` or `last_admin`", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn set_roles(
    State(state): State<AppState>,
    admin: Admin,
    ip: ClientIp,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RolesBody>,
) -> Result<Json<UserBody>, ApiError> {
    let roles = Roles::parse(body.roles)?;
    let result = state.admin.set_roles(&admin.0.claims.sub, &id, roles).await;
    let user = audited(&state, &admin, &ip, "set_roles", &id, result).await?;
    Ok(Json(UserBody { user }))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct PlanBody {
    plan: String,
}

/// Sets the user's plan (one of `GET /api/admin/plans`).
#[utoipa::path(
    put,
    path = "/api/admin/users/{id}/plan",
    tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    request_body = PlanBody,
    responses(
        (status = 200, description = "The user", body = UserBody),
        JsonBody,
        AdminRole,
        PlanLimit,
        Internal,
        (status = 404, description = "`not_found`: no such user", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn set_plan(
    State(state): State<AppState>,
    admin: Admin,
    ip: ClientIp,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PlanBody>,
) -> Result<Json<UserBody>, ApiError> {
    let limits = &state.settings.rate_limits.per_minute;
    let plan = Plan::parse(&body.plan, |p| limits.contains_key(p)).ok_or_else(|| {
        let known: Vec<&str> = limits.keys().map(String::as_str).collect();
        ApiError::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("plan must be one of: {}", known.join(", ")),
        )
    })?;
    let result = state.admin.set_plan(&id, &plan).await;
    let user = audited(&state, &admin, &ip, "set_plan", &id, result).await?;
    Ok(Json(UserBody { user }))
}

/// Disables the user and ends their sessions.
#[utoipa::path(
    post,
    operation_id = "disable_user",
    path = "/api/admin/users/{id}/disable",
    tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The user", body = UserBody),
        AdminRole,
        PlanLimit,
        Internal,
        (status = 404, description = "`not_found`: no such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cannot_modify_self` or `last_admin`", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn disable(
    State(state): State<AppState>,
    admin: Admin,
    ip: ClientIp,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserBody>, ApiError> {
    let result = state.admin.disable(&admin.0.claims.sub, &id).await;
    let user = audited(&state, &admin, &ip, "disable_user", &id, result).await?;
    Ok(Json(UserBody { user }))
}

#[utoipa::path(
    post,
    operation_id = "enable_user",
    path = "/api/admin/users/{id}/enable",
    tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The user", body = UserBody),
        AdminRole,
        PlanLimit,
        Internal,
        (status = 404, description = "`not_found`: no such user", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn enable(
    State(state): State<AppState>,
    admin: Admin,
    ip: ClientIp,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserBody>, ApiError> {
    let result = state.admin.enable(&id).await;
    let user = audited(&state, &admin, &ip, "enable_user", &id, result).await?;
    Ok(Json(UserBody { user }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct EndedBody {
    ended_sessions: usize,
}

/// Ends every session of the user.
#[utoipa::path(
    delete,
    operation_id = "end_user_sessions",
    path = "/api/admin/users/{id}/sessions",
    tag = "admin",
    params(("id" = String, Path, description = "A user id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "How many sessions ended", body = EndedBody),
        AdminRole,
        PlanLimit,
        Internal,
        (status = 404, description = "`not_found`: no such user", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn end_sessions(
    State(state): State<AppState>,
    admin: Admin,
    ip: ClientIp,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EndedBody>, ApiError> {
    let result = state.admin.end_sessions(&id).await;
    let ended_sessions = audited(&state, &admin, &ip, "end_sessions", &id, result).await?;
    Ok(Json(EndedBody { ended_sessions }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct PlanView {
    name: String,
    requests_per_minute: u32,
}

#[derive(Serialize, utoipa::ToSchema)]
struct PlansBody {
    plans: Vec<PlanView>,
    /// The plan of a user who has none recorded.
    default: &'static str,
    /// `false` when `rate_limits = "off"`: the plans exist, nothing is enforced.
    enforced: bool,
}

/// The configured plans, for the admin page's plan picker.
#[utoipa::path(
    get,
    operation_id = "list_plans",
    path = "/api/admin/plans",
    tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The plans", body = PlansBody), AdminRole, PlanLimit),
)]
async fn plans(State(state): State<AppState>, _admin: Admin) -> Json<PlansBody> {
    let limits = &state.settings.rate_limits;
    Json(PlansBody {
        plans: limits
            .per_minute
            .iter()
            .map(|(name, per_minute)| PlanView {
                name: name.clone(),
                requests_per_minute: *per_minute,
            })
            .collect(),
        default: crate::domain::plans::DEFAULT_PLAN,
        enforced: limits.enabled,
    })
}

#[derive(Serialize, utoipa::ToSchema)]
struct KeysBody {
    keys: Vec<KeyInfo>,
}

/// Every signing key with its state (what `jwtgate keys list --json` prints).
#[utoipa::path(
    get,
    path = "/api/admin/keys",
    tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The signing keys", body = KeysBody),
        AdminRole,
        PlanLimit,
    ),
)]
async fn list_keys(State(state): State<AppState>, _admin: Admin) -> Json<KeysBody> {
    Json(KeysBody {
        keys: state.core.signing().list(),
    })
}

#[derive(Serialize, utoipa::ToSchema)]
struct KeyBody {
    key: KeyInfo,
}

/// Publishes the next key now (it signs after the pre-publication time); the waiting key.
#[utoipa::path(
    post,
    path = "/api/admin/keys/rotate",
    tag = "admin",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The waiting key", body = KeyBody),
        AdminRole,
        PlanLimit,
        Internal,
        (status = 409, description = "`keys_from_secret`: signing uses JWT_SECRET", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn rotate_key(
    State(state): State<AppState>,
    admin: Admin,
    ip: ClientIp,
) -> Result<Json<KeyBody>, ApiError> {
    let result = state.core.signing().rotate(None).await;
    let kid = result.as_ref().map_or("", |k| k.kid.as_str()).to_owned();
    let key = audited(&state, &admin, &ip, "key_rotated", &kid, result).await?;
    Ok(Json(KeyBody { key }))
}

/// Revokes a key: out of the JWKS and every node's key set within a key poll.
#[utoipa::path(
    post,
    path = "/api/admin/keys/{kid}/revoke",
    tag = "admin",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    params(("kid" = String, Path, description = "A key id")),
    responses(
        (status = 200, description = "The revoked key", body = KeyBody),
        AdminRole,
        PlanLimit,
        Internal,
        (status = 404, description = "`not_found`: no such key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`keys_from_secret`: signing uses JWT_SECRET", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn revoke_key(
    State(state): State<AppState>,
    admin: Admin,
    ip: ClientIp,
    ApiPath(kid): ApiPath<String>,
) -> Result<Json<KeyBody>, ApiError> {
    let result = state.core.signing().revoke(&kid).await;
    let key = audited(&state, &admin, &ip, "key_revoked", &kid, result).await?;
    Ok(Json(KeyBody { key }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct ClientsBody {
    /// Oldest first; the built-in web client (`jwtgate`) is not one of them.
    clients: Vec<Client>,
}

/// Every registered OAuth client (never a secret).
#[utoipa::path(
    get,
    path = "/api/admin/clients",
    tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The clients", body = ClientsBody),
        AdminRole,
        PlanLimit,
        Internal,
    ),
)]
async fn list_clients(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<ClientsBody>, ApiError> {
    Ok(Json(ClientsBody {
        clients: state.clients.list().await?,
    }))
}

/// A client to register. Its secret is never sent: jwtgate makes it.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewClientBody {
    /// 1 to 100 characters, no control characters; not `jwtgate` (the built-in web client).
    name: String,
    /// `confidential` (the default: it gets a secret) or `public` (no secret, PKCE only).
    #[serde(default)]
    kind: Option<String>,
    /// https, or http on 127.0.0.1, [::1] or localhost; no fragment. At least one with the
    /// `authorization_code` grant. Kept, and later matched, exactly as given.
    #[serde(default)]
    redirect_uris: Vec<String>,
    /// Of `authorization_code`, `refresh_token`, `client_credentials` (confidential only).
    /// Default: `authorization_code` and `refresh_token`.
    #[serde(default)]
    grants: Vec<String>,
    /// The operator's own application (the provider may skip the consent screen).
    #[serde(default)]
    first_party: bool,
    /// Refused when present: jwtgate makes a confidential client's secret, and a public client
    /// has none.
    #[serde(default)]
    client_secret: Option<serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct AddedClientBody {
    #[serde(flatten)]
    client: Client,
    /// A confidential client's secret, shown this once (only its hash is kept); `null` for a
    /// public client.
    client_secret: Option<String>,
}

/// Registers an OAuth client; a confidential client's secret is in this answer only.
#[utoipa::path(
    post,
    path = "/api/admin/clients",
    tag = "admin",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    request_body = NewClientBody,
    responses(
        (status = 201, description = "The client, with its secret this once", body = AddedClientBody),
        JsonBody,
        AdminRole,
        PlanLimit,
        Internal,
    ),
)]
async fn add_client(
    State(state): State<AppState>,
    admin: Admin,
    ip: ClientIp,
    ApiJson(body): ApiJson<NewClientBody>,
) -> Result<(StatusCode, Json<AddedClientBody>), ApiError> {
    let result = async {
        if body.client_secret.is_some() {
            return Err(ClientError::InvalidField {
                field: "client_secret",
                detail: "client_secret is not accepted: jwtgate makes a confidential client's \
                         secret, and a public client has none"
                    .to_owned(),
            });
        }
        let client = NewClient::parse(ClientRequest {
            name: body.name,
            kind: body.kind,
            redirect_uris: body.redirect_uris,
            grants: body.grants,
            first_party: body.first_party,
        })?;
        state.clients.add(client).await
    }
    .await;
    let id = result
        .as_ref()
        .map_or("", |(client, _)| client.client_id.as_str())
        .to_owned();
    let (client, secret) = audited(&state, &admin, &ip, "client_added", &id, result).await?;
    Ok((
        StatusCode::CREATED,
        Json(AddedClientBody {
            client,
            client_secret: secret.map(|s| s.expose().to_owned()),
        }),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
struct ClientBody {
    client: Client,
}

/// One OAuth client (never its secret).
#[utoipa::path(
    get,
    path = "/api/admin/clients/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "A client_id")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The client", body = ClientBody),
        AdminRole,
        PlanLimit,
        Internal,
        (status = 404, description = "`client_not_found`", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn show_client(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClientBody>, ApiError> {
    Ok(Json(ClientBody {
        client: state.clients.get(&id).await?,
    }))
}

/// Removes an OAuth client.
#[utoipa::path(
    delete,
    path = "/api/admin/clients/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "A client_id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Removed"),
        AdminRole,
        PlanLimit,
        Internal,
        (status = 404, description = "`client_not_found`", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn remove_client(
    State(state): State<AppState>,
    admin: Admin,
    ip: ClientIp,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let result = state.clients.remove(&id).await;
    audited(&state, &admin, &ip, "client_removed", &id, result).await?;
    Ok(StatusCode::NO_CONTENT)
}
