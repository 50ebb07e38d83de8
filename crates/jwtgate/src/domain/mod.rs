//! Owns the rules: accounts, passwords, sessions, refresh rotation, throttling, time.
//! Must not import axum or sqlx (it calls `store::Store` methods, never SQL).

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod background;
pub mod clock;
pub mod device;
pub mod email;
pub mod keys;
pub mod links;
pub mod mail;
pub mod password;
pub mod plans;
pub mod sessions;
pub mod throttle;
pub mod todos;
pub mod tokens;

pub use auth::{Auth, AuthError};
