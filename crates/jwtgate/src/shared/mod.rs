//! Owns the server's per-node state, each kind in a home of its own, so that running several
//! nodes means giving a kind another implementation here, never touching the rules that use it:
//!
//! | module | what | today |
//! |---|---|---|
//! | `revocation` | which tokens are refused before they expire | this process's view, restored from the store at start |
//! | `throttle` | failed sign-ins, lockouts, logins in flight | this process's memory |
//! | `limits` | per-plan API rate limits | this process's memory |
//! | `keys` | signing, refresh-successor, CSRF and device-token keys | files in the data directory |
//! | `tarpit` | how long a refusal to a flooding address waits | this process's memory |
//!
//! (The mail ration already lives in the database: `domain::mail::MailGate`.)
//! Imports the store and `jwtgate-verify`; must not import axum or the domain's services.

pub mod keys;
pub mod limits;
pub mod revocation;
pub mod tarpit;
pub mod throttle;
