//! The black-box HTTP test suite: every test boots the real app on a fresh database
//! (SQLite; PostgreSQL when `TEST_DATABASE_URL` is set, see `database`).

mod account;
mod addresses;
mod admin;
mod audit;
mod cli;
mod connection;
mod cookies;
mod cors;
mod cutoff;
mod database;
mod email;
mod errors;
mod feed;
mod files;
mod health;
mod helpers;
mod keys;
mod lockout;
mod login;
mod logout;
mod logs;
mod mail_limits;
mod openapi;
mod outbox;
mod password;
mod proxy;
mod ratelimit;
mod refresh;
mod register;
mod revocation_log;
mod sessions;
mod todos;
mod tokens;
mod web;
