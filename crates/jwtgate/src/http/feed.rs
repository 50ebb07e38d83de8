//! Owns the revocation feed's routes (issue 17): `GET /revocations?after=SEQ` (one page, JSON)
//! and `GET /revocations/stream` (server-sent events, `id:` = seq, resumed from
//! `Last-Event-ID`). Both take a feed credential as `Authorization: Bearer jgf_…`; anything else
//! is 401 and never a byte of the feed. Must not import sqlx.
//!
//! A stream reads the log when this node learns of a new entry (the follower on PostgreSQL, the
//! request that revoked on SQLite) and every `feed_heartbeat_secs`; every read ends in output
//! (the new entries, or a `: heartbeat` comment), so a reader that hears nothing for longer than
//! the heartbeat knows its view may be stale. A read that fails ends the stream: the reader
//! reconnects, through a load balancer to a node that can read the log.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, Problem};
use super::openapi::Internal;
use crate::domain::feed::{Feed, FeedError, FeedPage};

/// Streams one node serves at once; more answer 503 (each holds a task and reads the log).
pub const MAX_STREAMS: usize = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(page))
        .routes(routes!(stream))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FeedQuery {
    /// The cursor: entries after this `seq` (0 or more).
    after: Option<String>,
    /// The `log_id` the cursor belongs to (another one resets the reader).
    log_id: Option<String>,
}

impl From<FeedError> for ApiError {
    fn from(e: FeedError) -> Self {
        match e {
            FeedError::InvalidName | FeedError::NoSuchCredential(_) => {
                ApiError::invalid_request(e.to_string())
            }
            FeedError::Store(e) => ApiError::internal(e),
        }
    }
}

fn cursor(raw: Option<&str>, name: &str) -> Result<Option<i64>, ApiError> {
    raw.filter(|r| !r.is_empty())
        .map(|r| {
            r.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!("{name} must be a seq: an integer of 0 or more"),
                    )
                })
        })
        .transpose()
}

/// The feed credential of the request, checked: its id.
async fn credential(state: &AppState, headers: &HeaderMap) -> Result<(String, String), ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "missing_credentials",
            "send a feed credential as `Authorization: Bearer jgf_…` (jwtgate feed-credential add)",
            false,
        ));
    };
    let secret = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    match state.feed.authenticate(secret).await? {
        Some(id) => Ok((id, secret.to_owned())),
        None => Err(ApiError::unauthorized(
            "invalid_token",
            "the feed credential is unknown or revoked",
            true,
        )),
    }
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// One page of the revocation log after `after`.
#[utoipa::path(
    get,
    operation_id = "read_revocations",
    path = "/revocations",
    tag = "feed",
    params(FeedQuery),
    security(("feed" = [])),
    responses(
        (status = 200, description = "A page of the log", body = FeedPage),
        Internal,
        (status = 400, description = "`invalid_query` (`after`, `Last-Event-ID`), `invalid_request`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_credentials` or `invalid_token` (unknown or revoked feed credential)", body = Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"jwtgate\"`..."))),
    ),
)]
async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) =
        query.map_err(|_| ApiError::bad_request("invalid_query", "after must be a seq"))?;
    credential(&state, &headers).await?;
    let after = cursor(q.after.as_deref(), "after")?.unwrap_or(0);
    let page = state.feed.page(after, q.log_id.as_deref()).await?;
    Ok(no_store(Json(page).into_response()))
}

/// The revocation log as server-sent events (`hello`, then `revoked` with `id:` = seq, and
/// `: heartbeat` comments), resumed from `Last-Event-ID`.
#[utoipa::path(
    get,
    operation_id = "stream_revocations",
    path = "/revocations/stream",
    tag = "feed",
    params(
        FeedQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The last `id:` received (wins over `after`)"),
    ),
    security(("feed" = [])),
    responses(
        (status = 200, description = "An endless `text/event-stream`", content_type = "text/event-stream", body = FeedEvent),
        Internal,
        (status = 400, description = "`invalid_query` (`after`, `Last-Event-ID`), `invalid_request`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_credentials` or `invalid_token` (unknown or revoked feed credential)", body = Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"jwtgate\"`..."))),
        (status = 503, description = "`too_many_streams`", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = i64, description = "Seconds to wait"))),
    ),
)]
async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) =
        query.map_err(|_| ApiError::bad_request("invalid_query", "after must be a seq"))?;
    let (id, secret) = credential(&state, &headers).await?;
    // `Last-Event-ID` (a reconnecting EventSource) wins over `after` (the first connection).
    let last = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("invalid"));
    let after = match cursor(last, "Last-Event-ID")? {
        Some(seq) => seq,
        None => cursor(q.after.as_deref(), "after")?.unwrap_or(0),
    };
    let Some(slot) = StreamSlot::take(&state.feed_streams) else {
        return Err(ApiError::RetryLater {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "too_many_streams",
            detail: format!("this node serves {MAX_STREAMS} feed streams already"),
            retry_after_secs: 5,
        });
    };
    // The first read before answering: a node that cannot read the log answers 503, not an
    // empty stream.
    let first = state.feed.page(after, q.log_id.as_deref()).await?;
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let reader = Reader {
        feed: state.feed.clone(),
        credential: id,
        secret,
        node: state.settings.node_id(),
        heartbeat: Duration::from_secs(state.settings.feed_heartbeat_secs.unsigned_abs()),
        applied: state.core.revocations().applied(),
        stop: state.feed_stop.subscribe(),
        tx,
        _slot: slot,
    };
    tokio::spawn(reader.run(first));
    let events = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|event| event.map(Ok::<_, Infallible>))
    });
    let mut response = no_store(Sse::new(events).into_response());
    // nginx buffers `text/event-stream` unless told not to.
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// One of the node's [`MAX_STREAMS`], given back when the stream ends.
struct StreamSlot(Arc<AtomicUsize>);

impl StreamSlot {
    fn take(count: &Arc<AtomicUsize>) -> Option<StreamSlot> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_STREAMS).then_some(n + 1)
            })
            .ok()
            .map(|_| StreamSlot(Arc::clone(count)))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One server-sent event of the stream, as a reader parses it.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes the events `Reader` sends")]
struct FeedEvent {
    /// `hello` (first, and after a reset: `{log_id, head, reset, node}`) or `revoked`.
    #[schema(value_type = String, pattern = "^(hello|revoked)$")]
    event: Option<String>,
    /// JSON: the hello object, or one `FeedEntry`.
    data: String,
    /// The entry's `seq` (`revoked` events).
    id: Option<String>,
}

/// The task behind one stream.
struct Reader {
    feed: Feed,
    credential: String,
    secret: String,
    node: String,
    heartbeat: Duration,
    applied: tokio::sync::watch::Receiver<i64>,
    stop: tokio::sync::watch::Receiver<bool>,
    tx: mpsc::Sender<Event>,
    _slot: StreamSlot,
}

impl Reader {
    async fn run(mut self, first: FeedPage) {
        let mut log_id = first.log_id.clone();
        let mut cursor = first.next;
        let hello = serde_json::json!({
            "log_id": first.log_id, "head": first.head, "reset": first.reset, "node": self.node,
        });
        if !self
            .send(Event::default().event("hello").data(hello.to_string()))
            .await
            || !self.entries(&first).await
        {
            return;
        }
        let mut more = first.more;
        loop {
            if !more {
                tokio::select! {
                    changed = self.applied.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(self.heartbeat) => {}
                    () = self.tx.closed() => return,
                    _ = self.stop.wait_for(|stop| *stop) => return,
                }
            }
            // A revoked credential ends its streams at their next read.
            match self.feed.authenticate(&self.secret).await {
                Ok(Some(id)) if id == self.credential => {}
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "feed stream: could not check its credential");
                    return;
                }
            }
            let page = match self.feed.page(cursor, Some(&log_id)).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "feed stream: could not read the revocation log");
                    return;
                }
            };
            if page.reset {
                // The log was replaced under the stream (a restored database): say so, then
                // send it all again.
                let hello = serde_json::json!({
                    "log_id": page.log_id, "head": page.head, "reset": true, "node": self.node,
                });
                if !self
                    .send(Event::default().event("hello").data(hello.to_string()))
                    .await
                {
                    return;
                }
            }
            if !self.entries(&page).await {
                return;
            }
            log_id.clone_from(&page.log_id);
            cursor = page.next;
            more = page.more;
        }
    }

    /// Sends a page's entries, or a heartbeat when it has none; false once the reader is gone.
    async fn entries(&self, page: &FeedPage) -> bool {
        if page.entries.is_empty() {
            return self.send(Event::default().comment("heartbeat")).await;
        }
        for entry in &page.entries {
            let data = serde_json::to_string(entry).unwrap_or_default();
            let event = Event::default()
                .id(entry.seq().to_string())
                .event("revoked")
                .data(data);
            if !self.send(event).await {
                return false;
            }
        }
        true
    }

    async fn send(&self, event: Event) -> bool {
        self.tx.send(event).await.is_ok()
    }
}
