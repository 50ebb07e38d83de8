//! jwtgate: the self-hosted JWT authentication server (library half; `main.rs` is a thin shell).
//! Imports flow `http -> domain -> shared -> store`; nothing here is global, so two apps can run
//! side by side.
//!
//! Public are what the binary and the test suites use: the command line, the settings, the
//! clock, the application (`startup`) and the store (for fixtures and white-box checks through
//! its own methods). The rules and the HTTP surface stay inside.

pub mod cli;
pub mod clock;
pub mod config;
mod doctor;
mod domain;
mod files;
mod http;
mod metrics;
mod shared;
pub mod startup;
pub mod store;

pub use clock::Clock;
pub use config::Settings;
pub use startup::Application;
