//! jwtgate: the self-hosted JWT authentication server (library half; `main.rs` is a thin shell).
//! Imports flow `http -> domain -> store`; nothing here is global, so two apps can run side by side.

pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod files;
pub mod http;
pub mod shared;
pub mod startup;
pub mod store;

pub use clock::Clock;
pub use config::Settings;
pub use startup::Application;
