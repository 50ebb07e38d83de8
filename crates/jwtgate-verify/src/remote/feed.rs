//! The revocation feed (feature `remote`): keeps a service's [`RevocationView`] current from
//! jwtgate's `/revocations/stream`, so a token revoked on jwtgate (a logout, a password change,
//! a disabled account, a revoked key) is refused by the service within about a second, not at
//! its `exp`.
//!
//! Owns [`RevocationFeed`] and its builder. Never logs: what went wrong is in
//! [`RevocationFeed::status`].
//!
//! # How it follows the feed
//!
//! - It connects with a feed credential (`jwtgate feed-credential add`), asking for the entries
//!   after its cursor (`Last-Event-ID`) in the log it knows (`log_id`). jwtgate answers with a
//!   `hello`, the entries after the cursor (from the start for a new reader, a new log, or a
//!   restored one: entries are idempotent, so reading them again is safe), then each new entry
//!   as it is made, and a heartbeat comment whenever it has read the log and found nothing new.
//! - Every frame is sent right after jwtgate read the log, so each one proves the view current
//!   at that moment: it renews the view's lease to `now + max_staleness`.
//! - When the connection fails or stays silent for `max_staleness`, it reconnects (100 ms, then
//!   doubling up to 2 s), resuming from its cursor: through a load balancer, any node serves
//!   the same log, so no entry is missed.
//! - [`WhenStale::Refuse`] (the default): once the view has not been proven current for
//!   `max_staleness` (30 s by default), every token is refused with
//!   [`Error::RevocationStale`](crate::Error::RevocationStale) (503 from the axum extractor)
//!   until the feed is back; also before the first connection succeeds. [`WhenStale::Accept`]:
//!   tokens are checked against what the view holds, however old.
//!
//! `max_staleness` must exceed jwtgate's `feed_heartbeat_secs` (15 s by default), or a quiet
//! feed would look dead.
//!
//! # Use
//!
//! ```no_run
//! use std::sync::Arc;
//! use jwtgate_verify::{KeySet, Policy, Verifier};
//! use jwtgate_verify::remote::{RemoteJwks, RevocationFeed};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let feed = Arc::new(RevocationFeed::builder("https://auth.example.com", "jgf_…").build()?);
//! let policy = Policy::issued_by("https://auth.example.com").for_audience("orders");
//! let verifier = Verifier::new(KeySet::empty(), policy)
//!     .with_revocation(feed.view());
//! let jwks = "https://auth.example.com/.well-known/jwks.json";
//! let remote = Arc::new(RemoteJwks::connect(jwks, Arc::new(verifier)).await?);
//! tokio::spawn(Arc::clone(&feed).run(Arc::clone(remote.verifier()), std::future::pending()));
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde::{Deserialize, Serialize};

use super::{RemoteError, is_loopback};
use crate::{RevocationView, Verifier};

/// How long the view is trusted after the last frame of the feed, by default.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(30);
/// The longest SSE event accepted, in bytes (a page of entries is sent one event per entry).
const MAX_EVENT: usize = 64 * 1024;
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(2);

/// What a service does with tokens once its view may be stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenStale {
    /// Refuse every token ([`Error::RevocationStale`](crate::Error::RevocationStale)).
    #[default]
    Refuse,
    /// Keep checking against what the view holds.
    Accept,
}

/// Configures a [`RevocationFeed`].
#[derive(Debug)]
pub struct RevocationFeedBuilder {
    issuer: String,
    credential: String,
    max_staleness: Duration,
    when_stale: WhenStale,
    allow_plain_http: bool,
}

impl RevocationFeedBuilder {
    /// How long the view is trusted after the feed's last frame (default 30 s).
    #[must_use]
    pub fn max_staleness(mut self, max_staleness: Duration) -> Self {
        self.max_staleness = max_staleness;
        self
    }

    /// What happens to tokens once the view may be stale (default: refuse them).
    #[must_use]
    pub fn when_stale(mut self, when_stale: WhenStale) -> Self {
        self.when_stale = when_stale;
        self
    }

    /// Allows plain `http` to a host other than loopback (a feed read in clear text could be
    /// held back by anyone on the path).
    #[must_use]
    pub fn allow_plain_http(mut self) -> Self {
        self.allow_plain_http = true;
        self
    }

    /// # Errors
    /// [`RemoteError::InvalidUrl`], [`RemoteError::InsecureUrl`], or [`RemoteError::Http`] if
    /// the HTTP client cannot be built.
    pub fn build(self) -> Result<RevocationFeed, RemoteError> {
        let base = self.issuer.trim_end_matches('/');
        let url = reqwest::Url::parse(&format!("{base}/revocations/stream"))
            .map_err(|_| RemoteError::InvalidUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_plain_http || is_loopback(&url) => {}
            "http" => return Err(RemoteError::InsecureUrl),
            _ => return Err(RemoteError::InvalidUrl),
        }
        let mut credential = HeaderValue::from_str(&format!("Bearer {}", self.credential))
            .map_err(|_| RemoteError::InvalidUrl)?;
        credential.set_sensitive(true);
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .https_only(url.scheme() == "https")
            .build()
            .map_err(RemoteError::http)?;
        let view = match self.when_stale {
            WhenStale::Refuse => RevocationView::leased(),
            WhenStale::Accept => RevocationView::new(),
        };
        Ok(RevocationFeed {
            url,
            credential,
            client,
            max_staleness: self.max_staleness,
            view: Arc::new(view),
            started: Instant::now(),
            fresh_until: AtomicU64::new(0),
            cursor: AtomicI64::new(0),
            connected: AtomicBool::new(false),
            applied: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            progress: tokio::sync::watch::channel(0).0,
        })
    }
}

/// What [`RevocationFeed::status`] reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedStatus {
    /// Whether a stream is open now.
    pub connected: bool,
    /// Whether the view was proven current within `max_staleness`.
    pub fresh: bool,
    /// The `seq` of the last entry applied.
    pub cursor: i64,
    /// The log followed, once known.
    pub log_id: Option<String>,
    /// The jwtgate node serving the stream (its `node_id`).
    pub node: Option<String>,
    /// Entries applied since start.
    pub applied: u64,
    /// Streams opened since start.
    pub connections: u64,
    /// Why the last stream ended or could not open.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    log_id: Option<String>,
    node: Option<String>,
    last_error: Option<String>,
}

/// A service's copy of jwtgate's revocations, kept current from the feed. See the module
/// documentation.
#[derive(Debug)]
pub struct RevocationFeed {
    url: reqwest::Url,
    credential: HeaderValue,
    client: reqwest::Client,
    max_staleness: Duration,
    view: Arc<RevocationView>,
    started: Instant,
    /// Nanoseconds after `started` until which the view is proven current.
    fresh_until: AtomicU64,
    cursor: AtomicI64,
    connected: AtomicBool,
    applied: AtomicU64,
    connections: AtomicU64,
    state: Mutex<State>,
    /// The cursor, as it moves (for [`RevocationFeed::applied_through`]).
    progress: tokio::sync::watch::Sender<i64>,
}

/// One entry of the feed.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Entry {
    Session {
        seq: i64,
        session: String,
        until: i64,
    },
    User {
        seq: i64,
        user: String,
        issued_before: i64,
        until: i64,
    },
    Token {
        seq: i64,
        jti: String,
        until: i64,
    },
    Key {
        seq: i64,
        kid: String,
    },
    /// A kind this version does not know: skipped, its `seq` still counted.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize)]
struct Hello {
    log_id: String,
    #[serde(default)]
    reset: bool,
    node: Option<String>,
}

/// One SSE frame: an event, or a comment.
#[derive(Debug, Default, PartialEq, Eq)]
struct Frame {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl RevocationFeed {
    /// A feed from the jwtgate at `issuer` (its base URL), read with `credential`.
    pub fn builder(
        issuer: impl Into<String>,
        credential: impl Into<String>,
    ) -> RevocationFeedBuilder {
        RevocationFeedBuilder {
            issuer: issuer.into(),
            credential: credential.into(),
            max_staleness: DEFAULT_MAX_STALENESS,
            when_stale: WhenStale::Refuse,
            allow_plain_http: false,
        }
    }

    /// The view to give the verifier ([`Verifier::with_revocation`]).
    #[must_use]
    pub fn view(&self) -> Arc<RevocationView> {
        Arc::clone(&self.view)
    }

    /// Where the feed stands.
    #[must_use]
    pub fn status(&self) -> FeedStatus {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        FeedStatus {
            connected: self.connected.load(Ordering::Acquire),
            fresh: self.is_fresh(),
            cursor: self.cursor.load(Ordering::Acquire),
            log_id: state.log_id.clone(),
            node: state.node.clone(),
            applied: self.applied.load(Ordering::Acquire),
            connections: self.connections.load(Ordering::Acquire),
            last_error: state.last_error.clone(),
        }
    }

    /// Whether a frame of the feed arrived within `max_staleness`.
    #[must_use]
    pub fn is_fresh(&self) -> bool {
        let now = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        now < self.fresh_until.load(Ordering::Acquire)
    }

    /// Resolves once every entry up to `seq` has been applied.
    pub async fn applied_through(&self, seq: i64) {
        let mut progress = self.progress.subscribe();
        let _ = progress.wait_for(|cursor| *cursor >= seq).await;
    }

    /// Follows the feed until `shutdown` resolves. `verifier` is the one whose keys a revoked
    /// key leaves at once (with a [`RemoteJwks`](super::RemoteJwks), its verifier).
    pub async fn run(self: Arc<Self>, verifier: Arc<Verifier>, shutdown: impl Future<Output = ()>) {
        let follow = async {
            let mut retry = FIRST_RETRY;
            loop {
                let outcome = self.follow_once(&verifier).await;
                self.connected.store(false, Ordering::Release);
                let proved = match outcome {
                    Ok(proved) => {
                        self.note_error("the stream ended".to_owned());
                        proved
                    }
                    Err((proved, why)) => {
                        self.note_error(why);
                        proved
                    }
                };
                if proved {
                    retry = FIRST_RETRY;
                }
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(LAST_RETRY);
            }
        };
        tokio::select! {
            () = follow => {}
            () = shutdown => {}
        }
    }

    fn note_error(&self, why: String) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_error = Some(why);
    }

    /// One stream, until it ends. `Ok(true)` / `Err((true, _))`: it delivered at least one
    /// frame (the next retry starts from the shortest delay).
    async fn follow_once(&self, verifier: &Verifier) -> Result<bool, (bool, String)> {
        let mut url = self.url.clone();
        let cursor = self.cursor.load(Ordering::Acquire);
        let log_id = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .log_id
            .clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("after", &cursor.to_string());
            if let Some(log_id) = &log_id {
                query.append_pair("log_id", log_id);
            }
        }
        let request = self
            .client
            .get(url)
            .header(AUTHORIZATION, self.credential.clone())
            .header(ACCEPT, "text/event-stream")
            .header("last-event-id", cursor.to_string())
            .send();
        let mut response = match tokio::time::timeout(self.max_staleness, request).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err((false, format!("connect: {}", e.without_url()))),
            Err(_) => return Err((false, "connect: timed out".to_owned())),
        };
        if !response.status().is_success() {
            return Err((false, format!("HTTP {}", response.status().as_u16())));
        }
        self.connected.store(true, Ordering::Release);
        self.connections.fetch_add(1, Ordering::AcqRel);
        let mut buffer: Vec<u8> = Vec::new();
        let mut proved = false;
        loop {
            let chunk = match tokio::time::timeout(self.max_staleness, response.chunk()).await {
                Ok(Ok(Some(chunk))) => chunk,
                Ok(Ok(None)) => return Ok(proved),
                Ok(Err(e)) => return Err((proved, format!("read: {}", e.without_url()))),
                Err(_) => return Err((proved, "no frame within max_staleness".to_owned())),
            };
            buffer.extend_from_slice(&chunk);
            while let Some((frame, rest)) = next_frame(&buffer) {
                let frame = parse_frame(frame);
                buffer.drain(..rest);
                self.handle(&frame, verifier).map_err(|why| (proved, why))?;
                // jwtgate sends every frame right after a read of the log: the view is current
                // as of its arrival, less the network's delay.
                proved = true;
                self.renew(Instant::now());
            }
            if buffer.len() > MAX_EVENT {
                return Err((proved, "an event larger than 64 KiB".to_owned()));
            }
        }
    }

    fn renew(&self, basis: Instant) {
        let until = basis + self.max_staleness;
        self.view.renew_until(until);
        let nanos = u64::try_from(until.saturating_duration_since(self.started).as_nanos())
            .unwrap_or(u64::MAX);
        self.fresh_until.fetch_max(nanos, Ordering::AcqRel);
    }

    fn handle(&self, frame: &Frame, verifier: &Verifier) -> Result<(), String> {
        match frame.event.as_deref() {
            Some("hello") => {
                let hello: Hello = serde_json::from_str(&frame.data)
                    .map_err(|e| format!("a hello that is not JSON: {e}"))?;
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                // Another log, or the same one gone back (restored): it is sent again from
                // its start, and applying entries twice is harmless. What the view holds from
                // the old log stays until it expires: refusing too much, never too little.
                if hello.reset || state.log_id.as_deref() != Some(hello.log_id.as_str()) {
                    self.cursor.store(0, Ordering::Release);
                }
                state.log_id = Some(hello.log_id);
                state.node = hello.node;
                state.last_error = None;
                Ok(())
            }
            Some("revoked") => {
                let entry: Entry = serde_json::from_str(&frame.data)
                    .map_err(|e| format!("an entry that is not JSON: {e}"))?;
                let seq = self.apply(entry, verifier);
                let seq = seq
                    .or_else(|| frame.id.as_deref().and_then(|id| id.parse().ok()))
                    .ok_or_else(|| "an entry without a seq".to_owned())?;
                self.cursor.fetch_max(seq, Ordering::AcqRel);
                self.applied.fetch_add(1, Ordering::AcqRel);
                self.progress
                    .send_replace(self.cursor.load(Ordering::Acquire));
                if self.applied.load(Ordering::Relaxed).is_multiple_of(1024) {
                    self.view.prune(unix_now());
                }
                Ok(())
            }
            // Heartbeats (comments) and events of later versions.
            _ => {
                if frame.event.is_none() && frame.data.is_empty() {
                    // A heartbeat: the log was read and held nothing new; forget what can
                    // no longer match a token now and then.
                    self.view.prune(unix_now());
                }
                Ok(())
            }
        }
    }

    /// Applies one entry; its `seq` if it has one.
    fn apply(&self, entry: Entry, verifier: &Verifier) -> Option<i64> {
        match entry {
            Entry::Session {
                seq,
                session,
                until,
            } => {
                self.view.revoke_session(&session, until);
                Some(seq)
            }
            Entry::User {
                seq,
                user,
                issued_before,
                until,
            } => {
                self.view
                    .revoke_user_tokens_issued_before(&user, issued_before, until);
                Some(seq)
            }
            Entry::Token { seq, jti, until } => {
                self.view.revoke_token(&jti, until);
                Some(seq)
            }
            Entry::Key { seq, kid } => {
                let keys = verifier.keys();
                if keys.get(&kid).is_some() {
                    verifier.set_keys(keys.without(&kid));
                }
                Some(seq)
            }
            Entry::Unknown => None,
        }
    }
}

/// The first complete frame in `buffer` (up to a blank line), and where the rest starts.
fn next_frame(buffer: &[u8]) -> Option<(&[u8], usize)> {
    let mut i = 0;
    while i < buffer.len() {
        if buffer[i] == b'\n' {
            // "\n\n" or "\n\r\n" ends a frame.
            if buffer.get(i + 1) == Some(&b'\n') {
                return Some((&buffer[..i], i + 2));
            }
            if buffer.get(i + 1) == Some(&b'\r') && buffer.get(i + 2) == Some(&b'\n') {
                return Some((&buffer[..i], i + 3));
            }
        }
        i += 1;
    }
    None
}

/// An SSE frame's fields (the WHATWG event-stream format): `data` lines joined by `\n`,
/// comments ignored.
fn parse_frame(raw: &[u8]) -> Frame {
    let text = String::from_utf8_lossy(raw);
    let mut frame = Frame::default();
    let mut data: Vec<&str> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "id" => frame.id = Some(value.to_owned()),
            "event" => frame.event = Some(value.to_owned()),
            "data" => data.push(value),
            _ => {}
        }
    }
    frame.data = data.join("\n");
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_on_blank_lines_with_either_line_ending() {
        let buffer = b"id: 3\nevent: revoked\ndata: {}\n\n: heartbeat\r\n\r\nid: 4";
        let (first, rest) = next_frame(buffer).expect("a frame");
        assert_eq!(
            parse_frame(first),
            Frame {
                id: Some("3".into()),
                event: Some("revoked".into()),
                data: "{}".into()
            }
        );
        let (second, rest2) = next_frame(&buffer[rest..]).expect("a second frame");
        assert_eq!(parse_frame(second), Frame::default());
        assert!(
            next_frame(&buffer[rest + rest2..]).is_none(),
            "an unfinished frame waits"
        );
    }

    #[test]
    fn multi_line_data_is_joined_and_unknown_fields_ignored() {
        let frame = parse_frame(b"event: x\ndata: a\ndata:b\nretry: 10\nnonsense");
        assert_eq!(frame.event.as_deref(), Some("x"));
        assert_eq!(frame.data, "a\nb");
    }

    #[test]
    fn entries_of_every_kind_parse_and_unknown_kinds_are_skipped() {
        let parse = |s: &str| serde_json::from_str::<Entry>(s).expect("parses");
        assert!(matches!(
            parse(r#"{"type":"session","seq":1,"session":"s","until":9}"#),
            Entry::Session { seq: 1, .. }
        ));
        assert!(matches!(
            parse(r#"{"type":"user","seq":2,"user":"u","issued_before":5,"until":9}"#),
            Entry::User {
                issued_before: 5,
                ..
            }
        ));
        assert!(matches!(
            parse(r#"{"type":"token","seq":3,"jti":"j","until":9}"#),
            Entry::Token { .. }
        ));
        assert!(matches!(
            parse(r#"{"type":"key","seq":4,"kid":"k","until":9}"#),
            Entry::Key { seq: 4, .. }
        ));
        assert!(matches!(
            parse(r#"{"type":"device","seq":5}"#),
            Entry::Unknown
        ));
    }
}
