//! Owns the server's metrics: the counters and histograms recorded as requests, sign-ins and
//! revocations happen, the readings taken at scrape time (the pool, the verification cache, the
//! hashing queue, the revocation follower), and their Prometheus text. Must not import axum,
//! sqlx or the domain: what is read at scrape time is handed in as closures by `startup`.
//!
//! Off (`metrics_listen` unset) a [`Metrics`] holds nothing: recording is one branch, and the
//! request path reads no clock for it. On, every series lives in this app's own `Registry` (no
//! global recorder: two apps in one process count apart). Labels are bounded: the route
//! template, the method, the status, and outcomes from fixed sets; never a path, a token, an
//! address or an id.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Metrics::render`] writes (the Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Request latency buckets, in seconds: a cached `/api/me` takes tens of microseconds, a
/// sign-in milliseconds, a refusal held by the tarpit up to seconds.
const LATENCY_BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];

/// How long a password hash waited for a hashing thread, in seconds (at most 2 s: then it is
/// refused).
const HASH_WAIT_BUCKETS: [f64; 10] = [
    0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 2.0,
];

/// The app's metrics: cheap to clone, and nothing at all when off.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Inner>>);

struct Inner {
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    sign_ins: Counters,
    refreshes: Counters,
    reuse: Counters,
    revocations: Counters,
    refusals: Counters,
    hash_wait: Histogram,
    /// Locked only to add a reading at start-up and to render a scrape, never to record.
    registry: Mutex<Registry>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

/// Counters told apart by one label (`outcome`, `kind`, `code`) of a fixed set of values.
type Counters = Family<[(&'static str, &'static str); 1], Counter>;

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Metrics(on)"
        } else {
            "Metrics(off)"
        })
    }
}

/// The request label for a method: the methods the router answers, anything else `other`
/// (a client chooses the method, so it must not choose a new series).
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

impl Metrics {
    /// Metrics that record nothing (`metrics_listen` unset).
    pub fn off() -> Self {
        Self(None)
    }

    /// Metrics that record, in a registry of their own.
    pub fn on() -> Self {
        let inner = Inner {
            requests: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
            sign_ins: Family::default(),
            refreshes: Family::default(),
            reuse: Family::default(),
            revocations: Family::default(),
            refusals: Family::default(),
            hash_wait: Histogram::new(HASH_WAIT_BUCKETS),
            registry: Mutex::new(Registry::default()),
        };
        {
            let mut registry = inner
                .registry
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            registry.register(
                "jwtgate_http_request_duration_seconds",
                "Requests by method, route template and status, and how long they took",
                inner.requests.clone(),
            );
            for (name, help, family) in [
                ("jwtgate_sign_ins", "Sign-ins by outcome", &inner.sign_ins),
                (
                    "jwtgate_refreshes",
                    "Refresh token rotations by outcome",
                    &inner.refreshes,
                ),
                (
                    "jwtgate_refresh_reuse_detections",
                    "Spent refresh tokens presented again (theft), by whether the session was revoked",
                    &inner.reuse,
                ),
                (
                    "jwtgate_revocations",
                    "Revocations made on this node: sessions ended, users cut off",
                    &inner.revocations,
                ),
                (
                    "jwtgate_refusals",
                    "Requests refused to come back later (429, 503), by problem code",
                    &inner.refusals,
                ),
            ] {
                registry.register(name, help, family.clone());
            }
            registry.register(
                "jwtgate_password_hash_queue_wait_seconds",
                "How long each password hash waited for a hashing thread",
                inner.hash_wait.clone(),
            );
        }
        Self(Some(Arc::new(inner)))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// One answered request: `route` is the route template (never the path).
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        if let Some(m) = &self.0 {
            let labels = RequestLabels {
                method: method_label(method),
                route: route.to_owned(),
                status,
            };
            m.requests
                .get_or_create(&labels)
                .observe(took.as_secs_f64());
        }
    }

    /// A sign-in ended with `outcome` (one of a fixed set: see `domain::sessions`).
    pub fn sign_in(&self, outcome: &'static str) {
        self.count(|m| &m.sign_ins, ("outcome", outcome), 1);
    }

    /// A refresh ended with `outcome`.
    pub fn refresh(&self, outcome: &'static str) {
        self.count(|m| &m.refreshes, ("outcome", outcome), 1);
    }

    /// A spent refresh token came back; `outcome` says whether its session was revoked.
    pub fn reuse_detected(&self, outcome: &'static str) {
        self.count(|m| &m.reuse, ("outcome", outcome), 1);
    }

    /// `count` revocations of `kind` (`session` or `user`) made here.
    pub fn revoked(&self, kind: &'static str, count: u64) {
        self.count(|m| &m.revocations, ("kind", kind), count);
    }

    /// A request refused with the problem `code` (`rate_limited`, `too_many_attempts`...).
    pub fn refused(&self, code: &'static str) {
        self.count(|m| &m.refusals, ("code", code), 1);
    }

    fn count(&self, family: fn(&Inner) -> &Counters, label: (&'static str, &'static str), by: u64) {
        if let Some(m) = &self.0 {
            family(m).get_or_create(&[label]).inc_by(by);
        }
    }

    /// A password hash waited `wait` for a thread.
    pub fn hash_waited(&self, wait: Duration) {
        if let Some(m) = &self.0 {
            m.hash_wait.observe(wait.as_secs_f64());
        }
    }

    /// A gauge read at every scrape (nothing when off).
    pub fn gauge_at_scrape(
        &self,
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) {
        self.read_at_scrape(
            name,
            help,
            None,
            Read::Gauge(Box::new(move || vec![("", read())])),
        );
    }

    /// Gauges told apart by the label `label`, read at every scrape.
    pub fn gauges_at_scrape(
        &self,
        name: &'static str,
        help: &'static str,
        label: &'static str,
        read: impl Fn() -> Vec<(&'static str, f64)> + Send + Sync + 'static,
    ) {
        self.read_at_scrape(name, help, Some(label), Read::Gauge(Box::new(read)));
    }

    /// Counters kept elsewhere (monotonic), told apart by `label`, read at every scrape.
    pub fn counters_at_scrape(
        &self,
        name: &'static str,
        help: &'static str,
        label: &'static str,
        read: impl Fn() -> Vec<(&'static str, u64)> + Send + Sync + 'static,
    ) {
        self.read_at_scrape(name, help, Some(label), Read::Counter(Box::new(read)));
    }

    fn read_at_scrape(
        &self,
        name: &'static str,
        help: &'static str,
        label: Option<&'static str>,
        read: Read,
    ) {
        if let Some(m) = &self.0 {
            m.registry
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .register_collector(Box::new(Scraped {
                    name,
                    help,
                    label,
                    read,
                }));
        }
    }

    /// Every series in the Prometheus text format; `None` when off.
    pub fn render(&self) -> Option<String> {
        let m = self.0.as_ref()?;
        let registry = m.registry.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = String::new();
        // Writing to a String cannot fail; an encoder error would be a bug of ours.
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry) {
            tracing::warn!(error = %e, "cannot render the metrics");
        }
        Some(text)
    }
}

type Readings<T> = Box<dyn Fn() -> Vec<(&'static str, T)> + Send + Sync>;

enum Read {
    Gauge(Readings<f64>),
    Counter(Readings<u64>),
}

/// Series whose values live elsewhere and are read when scraped.
struct Scraped {
    name: &'static str,
    help: &'static str,
    label: Option<&'static str>,
    read: Read,
}

impl fmt::Debug for Scraped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scraped").field("name", &self.name).finish()
    }
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let kind = match self.read {
            Read::Gauge(_) => MetricType::Gauge,
            Read::Counter(_) => MetricType::Counter,
        };
        let metric = encoder.encode_descriptor(self.name, self.help, None, kind)?;
        match &self.read {
            Read::Gauge(read) => write(metric, self.label, read(), ConstGauge::new),
            Read::Counter(read) => write(metric, self.label, read(), ConstCounter::new),
        }
    }
}

/// Writes `values` as one series each, labelled `label` = its name; or, without a label, the
/// first value alone.
fn write<V, M: EncodeMetric>(
    mut metric: MetricEncoder<'_>,
    label: Option<&'static str>,
    values: Vec<(&'static str, V)>,
    make: fn(V) -> M,
) -> Result<(), fmt::Error> {
    match label {
        None => match values.into_iter().next() {
            Some((_, value)) => make(value).encode(metric),
            None => Ok(()),
        },
        Some(key) => {
            for (name, value) in values {
                make(value).encode(metric.encode_family(&[(key, name)])?)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_that_are_off_record_nothing_and_render_nothing() {
        let off = Metrics::off();
        off.sign_in("success");
        off.gauge_at_scrape("jwtgate_x", "x", || 1.0);
        assert!(off.render().is_none());
    }

    #[test]
    fn two_apps_count_apart() {
        let (a, b) = (Metrics::on(), Metrics::on());
        a.sign_in("success");
        a.request("BREW", "/api/me", 200, Duration::from_micros(20));
        let (a, b) = (a.render().expect("on"), b.render().expect("on"));
        assert!(
            a.contains("jwtgate_sign_ins_total{outcome=\"success\"} 1"),
            "{a}"
        );
        assert!(a.contains("method=\"other\""), "{a}");
        assert!(!b.contains("jwtgate_sign_ins_total{"), "{b}");
    }

    #[test]
    fn readings_are_taken_at_scrape_time_with_their_labels() {
        let metrics = Metrics::on();
        let value = Arc::new(std::sync::atomic::AtomicU64::new(3));
        let read = Arc::clone(&value);
        metrics.counters_at_scrape("jwtgate_things", "things", "result", move || {
            vec![("hit", read.load(std::sync::atomic::Ordering::Relaxed))]
        });
        metrics.gauge_at_scrape("jwtgate_level", "level", || 0.5);
        value.store(7, std::sync::atomic::Ordering::Relaxed);
        let text = metrics.render().expect("on");
        assert!(
            text.contains("jwtgate_things_total{result=\"hit\"} 7"),
            "{text}"
        );
        assert!(text.contains("jwtgate_level 0.5"), "{text}");
    }
}
