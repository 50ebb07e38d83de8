//! Owns the rules, as one small core that every service shares (`core`: store, clock, keys,
//! revocations, the token rules) and services that each own one job: `sessions` (sign-in,
//! refresh, sign-out, the session list), `accounts` (registration, passwords, addresses,
//! deletion), `admin`, `todos`, `feed` (the revocation feed for other services), `clients`
//! (the OAuth client registry). Must not import axum or sqlx (it calls `store::Store` methods,
//! never SQL); per-node state lives in `shared`.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod authorize;
pub mod background;
pub mod clients;
pub mod core;
pub mod device;
pub mod email;
pub mod error;
pub mod feed;
pub mod links;
pub mod mail;
pub mod oauth;
pub mod password;
pub mod plans;
pub mod reason;
pub mod sessions;
pub mod signing;
pub mod todos;
pub mod tokens;

pub use error::AuthError;
