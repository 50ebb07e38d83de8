//! Owns the administrators' rules: list and show users, set roles (cutting off the user's
//! existing access tokens at once), set the plan (next refresh), disable and enable accounts,
//! end a user's sessions, and the self-protection rule. Must not import axum or sqlx.
//!
//! Why roles cut tokens off but plans do not: a role is authority, and a token that still
//! carries a removed role must not be honoured for its remaining lifetime; a plan only sizes a
//! rate limit, so the old value may live until the next refresh (at most one access-token
//! lifetime).

use serde::Serialize;

use std::sync::Arc;

use crate::domain::core::Core;
use crate::domain::error::AuthError;
use crate::domain::plans::{DEFAULT_PLAN, Plan, is_valid_name};
use crate::domain::reason::EndReason;
use crate::store::admin::{AdminUserRow, Guarded};
use crate::store::{EndSessions, StoreError};

/// The role that may use the admin API.
pub use crate::store::admin::ADMIN_ROLE;
/// At most this many roles per user.
pub const MAX_ROLES: usize = 16;
/// Largest page of the user list.
pub const MAX_PER_PAGE: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no such user")]
    NotFound,
    /// An administrator may not lock themself out (the last admin would lock everyone out).
    #[error("{0}")]
    CannotModifySelf(&'static str),
    #[error("{0}")]
    InvalidRoles(String),
    /// The change would leave no enabled administrator.
    #[error("no enabled administrator would be left")]
    LastAdmin,
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

impl From<AuthError> for AdminError {
    fn from(e: AuthError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

/// A validated, de-duplicated, sorted set of role names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(Vec<String>);

impl Roles {
    pub fn parse(roles: Vec<String>) -> Result<Roles, AdminError> {
        if let Some(bad) = roles.iter().find(|r| !is_valid_name(r)) {
            let shown: String = bad.chars().take(40).collect();
            return Err(AdminError::InvalidRoles(format!(
                "role {shown:?} is not a valid name (a lower-case letter, then up to 31 of a-z, 0-9, _ or -)"
            )));
        }
        let mut roles = roles;
        roles.sort_unstable();
        roles.dedup();
        if roles.len() > MAX_ROLES {
            return Err(AdminError::InvalidRoles(format!(
                "at most {MAX_ROLES} roles per user"
            )));
        }
        Ok(Roles(roles))
    }

    pub fn contains(&self, role: &str) -> bool {
        self.0.iter().any(|r| r == role)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// A user as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AdminUser {
    pub id: String,
    pub email: String,
    pub roles: Vec<String>,
    pub plan: String,
    pub disabled: bool,
    pub created_at: i64,
}

impl From<AdminUserRow> for AdminUser {
    fn from(row: AdminUserRow) -> Self {
        AdminUser {
            id: row.user.id,
            email: row.user.email,
            roles: row.user.roles,
            plan: row.user.plan.unwrap_or_else(|| DEFAULT_PLAN.to_owned()),
            disabled: row.disabled_at.is_some(),
            created_at: row.user.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub users: Vec<AdminUser>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

/// The administrators' service.
#[derive(Debug)]
pub struct Admin {
    core: Arc<Core>,
}

impl Admin {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// Users whose email contains `query` (case-insensitive), page `page` (from 1).
    pub async fn list_users(
        &self,
        query: &str,
        page: u32,
        per_page: u32,
    ) -> Result<UserPage, AdminError> {
        let page = page.max(1);
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        let offset = i64::from(page - 1) * i64::from(per_page);
        let needle = query.trim().to_lowercase();
        let (rows, total) = self
            .core
            .store()
            .list_users(&needle, i64::from(per_page), offset)
            .await?;
        Ok(UserPage {
            users: rows.into_iter().map(AdminUser::from).collect(),
            page,
            per_page,
            total,
        })
    }

    pub async fn user(&self, user_id: &str) -> Result<AdminUser, AdminError> {
        self.core
            .store()
            .admin_user(user_id)
            .await?
            .map(AdminUser::from)
            .ok_or(AdminError::NotFound)
    }

    /// Replaces a user's roles. Their access tokens stop verifying at once; their sessions stay
    /// alive, and the next refresh (which reads roles from the users table) carries the new
    /// roles.
    pub async fn set_roles(
        &self,
        actor: &str,
        user_id: &str,
        roles: Roles,
    ) -> Result<AdminUser, AdminError> {
        if actor == user_id && !roles.contains(ADMIN_ROLE) {
            return Err(AdminError::CannotModifySelf(
                "an administrator cannot remove their own admin role",
            ));
        }
        let cutoff = self.core.cutoff_now();
        match self
            .core
            .store()
            .set_roles(user_id, roles.as_slice(), cutoff)
            .await?
        {
            Guarded::Done(()) => {
                self.core.revoke_user(user_id, cutoff);
                self.user(user_id).await
            }
            Guarded::NotFound => Err(AdminError::NotFound),
            Guarded::LastAdmin => Err(AdminError::LastAdmin),
        }
    }

    /// Sets a user's plan. No revocation: the plan only sizes a rate limit and takes effect on
    /// the next refresh.
    pub async fn set_plan(&self, user_id: &str, plan: &Plan) -> Result<AdminUser, AdminError> {
        if !self.core.store().set_plan(user_id, plan.as_str()).await? {
            return Err(AdminError::NotFound);
        }
        self.user(user_id).await
    }

    /// Disables an account: a cut-off refuses every token of it, whatever state its session is
    /// in, and every session ends (`disabled_by_admin`), in one transaction.
    pub async fn disable(&self, actor: &str, user_id: &str) -> Result<AdminUser, AdminError> {
        if actor == user_id {
            return Err(AdminError::CannotModifySelf(
                "an administrator cannot disable their own account",
            ));
        }
        let cutoff = self.core.cutoff_now();
        let end = EndSessions {
            user_id,
            keep: None,
            now: self.core.clock().now(),
            reason: EndReason::DisabledByAdmin.as_str(),
        };
        match self.core.store().disable_user(&end, cutoff).await? {
            Guarded::Done(ended) => {
                self.core.revoke_user(user_id, cutoff);
                self.core.revoke_sessions(&ended);
            }
            Guarded::NotFound => return Err(AdminError::NotFound),
            Guarded::LastAdmin => return Err(AdminError::LastAdmin),
        }
        self.user(user_id).await
    }

    pub async fn enable(&self, user_id: &str) -> Result<AdminUser, AdminError> {
        if !self.core.store().enable_user(user_id).await? {
            return Err(AdminError::NotFound);
        }
        self.user(user_id).await
    }

    /// Ends every session of the user (`signed_out_by_admin`) and cuts off every token issued
    /// so far, those of sessions that already expired included. Returns how many ended.
    pub async fn end_sessions(&self, user_id: &str) -> Result<usize, AdminError> {
        if self.core.store().admin_user(user_id).await?.is_none() {
            return Err(AdminError::NotFound);
        }
        Ok(self
            .core
            .end_sessions_of_user(user_id, None, EndReason::SignedOutByAdmin, true)
            .await?)
    }
}
