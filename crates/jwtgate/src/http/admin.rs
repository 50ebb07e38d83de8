//! Owns `/api/admin/*`: list, search and show users, set roles and plan, disable and enable,
//! end a user's sessions; list, rotate and revoke the signing keys. Every route is guarded by
//! `jwtgate-verify`'s `RequireRole` (through [`Admin`]): 401 without credentials, 403
//! `insufficient_scope` without the `admin` role.
//! Must not import sqlx.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{Admin, ApiJson, ApiPath, ClientIp};
use crate::domain::admin::{AdminError, AdminUser, Roles, UserPage};
use crate::domain::audit::{AuditEvent, Outcome};
use crate::domain::plans::Plan;
use crate::domain::signing::{KeyInfo, SigningError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/users", get(list_users))
        .route("/api/admin/users/{id}", get(show_user))
        .route("/api/admin/users/{id}/roles", put(set_roles))
        .route("/api/admin/users/{id}/plan", put(set_plan))
        .route("/api/admin/users/{id}/disable", post(disable))
        .route("/api/admin/users/{id}/enable", post(enable))
        .route("/api/admin/users/{id}/sessions", delete(end_sessions))
        .route("/api/admin/plans", get(plans))
        .route("/api/admin/keys", get(list_keys))
        .route("/api/admin/keys/rotate", post(rotate_key))
        .route("/api/admin/keys/{kid}/revoke", post(revoke_key))
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

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    page: Option<u32>,
    per_page: Option<u32>,
}

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

#[derive(Serialize)]
struct UserBody {
    user: AdminUser,
}

async fn show_user(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserBody>, ApiError> {
    let user = state.admin.user(&id).await?;
    Ok(Json(UserBody { user }))
}

#[derive(Deserialize)]
struct RolesBody {
    roles: Vec<String>,
}

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

#[derive(Deserialize)]
struct PlanBody {
    plan: String,
}

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

#[derive(Serialize)]
struct EndedBody {
    ended_sessions: usize,
}

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

#[derive(Serialize)]
struct PlanView {
    name: String,
    requests_per_minute: u32,
}

#[derive(Serialize)]
struct PlansBody {
    plans: Vec<PlanView>,
    /// The plan of a user who has none recorded.
    default: &'static str,
    /// `false` when `rate_limits = "off"`: the plans exist, nothing is enforced.
    enforced: bool,
}

/// The configured plans, for the admin page's plan picker.
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

#[derive(Serialize)]
struct KeysBody {
    keys: Vec<KeyInfo>,
}

/// Every signing key with its state (what `jwtgate keys list --json` prints).
async fn list_keys(State(state): State<AppState>, _admin: Admin) -> Json<KeysBody> {
    Json(KeysBody {
        keys: state.core.signing().list(),
    })
}

#[derive(Serialize)]
struct KeyBody {
    key: KeyInfo,
}

/// Publishes the next key now (it signs after the pre-publication time); the waiting key.
async fn rotate_key(
    State(state): State<AppState>,
    admin: Admin,
    ip: ClientIp,
) -> Result<Json<KeyBody>, ApiError> {
    let result = state.core.signing().rotate().await;
    let kid = result.as_ref().map_or("", |k| k.kid.as_str()).to_owned();
    let key = audited(&state, &admin, &ip, "key_rotated", &kid, result).await?;
    Ok(Json(KeyBody { key }))
}

/// Revokes a key: out of the JWKS and every node's key set within a key poll.
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
