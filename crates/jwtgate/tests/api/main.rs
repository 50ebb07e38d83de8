//! The black-box HTTP test suite: every test boots the real app on a fresh SQLite database.

mod addresses;
mod admin;
mod audit;
mod cli;
mod connection;
mod cookies;
mod cutoff;
mod email;
mod errors;
mod files;
mod health;
mod helpers;
mod lockout;
mod login;
mod logout;
mod mail_limits;
mod outbox;
mod password;
mod proxy;
mod ratelimit;
mod refresh;
mod register;
mod sessions;
mod todos;
mod tokens;
mod web;
