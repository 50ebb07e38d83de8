//! Owns `Password` (a redacted wrapper), the strength policy (length + zxcvbn) and the bounded
//! Argon2id hashing pool. Must not import axum or sqlx.
//!
//! Hashing is CPU- and memory-heavy (19 MiB per hash by default), so it never runs on the async
//! workers: at most `workers` hashes run at once on threads of their own, at a lower CPU priority,
//! at most `queue` more wait, and anything beyond is refused at once (`Busy`) instead of growing
//! memory without bound.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{Semaphore, oneshot};

use crate::metrics::Metrics;

/// A password as typed by the user. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(raw: String) -> Self {
        Self(raw)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WeakPassword {
    #[error("password must be at least 8 characters")]
    TooShort,
    #[error("password must be at most 128 characters")]
    TooLong,
    #[error("{0}")]
    Guessable(String),
}

/// The registration policy: 8..=128 characters and a zxcvbn score of at least 3, judged with the
/// email as a user input (so "ada@example.com1" is weak for Ada).
pub fn check_strength(password: &Password, user_inputs: &[&str]) -> Result<(), WeakPassword> {
    let chars = password.0.chars().count();
    if chars < 8 {
        return Err(WeakPassword::TooShort);
    }
    if chars > 128 {
        return Err(WeakPassword::TooLong);
    }
    let entropy = zxcvbn::zxcvbn(&password.0, user_inputs);
    if u8::from(entropy.score()) >= 3 {
        return Ok(());
    }
    let mut advice = String::from("password is too easy to guess");
    if let Some(feedback) = entropy.feedback() {
        if let Some(warning) = feedback.warning() {
            advice.push_str(&format!(": {warning}"));
        }
        for suggestion in feedback.suggestions() {
            advice.push_str(&format!(" {suggestion}"));
        }
    }
    Err(WeakPassword::Guessable(advice))
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot and queue place is taken: the caller answers 503 with Retry-After.
    #[error("password hashing pool is saturated")]
    Busy,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Result of a verification.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// The password matched, and here is a hash with the current parameters to store.
    YesRehashed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashParams {
    /// Whether Argon2 takes these parameters (what [`PasswordHasher::new`] needs).
    pub fn check(&self) -> Result<(), HashError> {
        self.argon2().map(|_| ())
    }

    fn argon2(&self) -> Result<Params, HashError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None).map_err(internal)
    }
}

/// The hashing pool: `workers` OS threads of their own, each owning its Argon2 working memory,
/// fed through a queue of at most `queue` waiting jobs.
///
/// The threads run at a lower CPU priority (nice 10) than the async workers: on a busy core the
/// scheduler then hands the async workers the CPU as soon as they have a request to serve, so
/// verifying tokens is never queued behind a flood of logins; hashing gets the rest of the core.
/// Each thread keeps one buffer of `m` KiB, so hashing memory is `workers * m` and stays there
/// (allocating per hash on tokio's blocking threads left a copy in every malloc arena).
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    admitted: Arc<Semaphore>,
    /// A job that waited longer than this in the queue is refused (`Busy`) instead of run.
    max_wait: Duration,
    jobs: mpsc::Sender<Job>,
    dummy_hash: Arc<str>,
    /// Jobs sent that no thread has started yet (the queue's depth).
    queued: Arc<AtomicUsize>,
    /// Records how long each job waited.
    metrics: Metrics,
}

/// A unit of hashing work, run on a pool thread with that thread's Argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// How much lower than the async workers the hashing threads run (a Unix nice increment).
const HASH_NICE: i32 = 10;

/// The longest a login may wait for a hashing thread. Below the API's priority, hashing can be
/// starved while a flood keeps the async workers busy; past this wait the caller gets a prompt
/// 503 with `Retry-After` rather than an answer after its client has given up.
const MAX_QUEUE_WAIT: Duration = Duration::from_secs(2);

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m", &self.params.m_cost())
            .field("t", &self.params.t_cost())
            .field("p", &self.params.p_cost())
            .field("admitted", &self.admitted.available_permits())
            .finish()
    }
}

/// Starts `workers` hashing threads sharing one job queue; they end when every sender is gone.
/// A thread's memory is trimmed back to `blocks` after a job that needed more (an old hash).
fn spawn_workers(workers: usize, blocks: usize) -> Result<mpsc::Sender<Job>, HashError> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for n in 0..workers {
        let receiver = Arc::clone(&receiver);
        std::thread::Builder::new()
            .name(format!("jwtgate-hash-{n}"))
            .spawn(move || {
                lower_priority();
                let mut memory = Vec::new();
                loop {
                    // The lock is held only while waiting for the next job, never while hashing.
                    let job = receiver
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok(job) = job else { return };
                    job(&mut memory);
                    if memory.len() > blocks {
                        memory.truncate(blocks);
                        memory.shrink_to_fit();
                    }
                }
            })
            .map_err(internal)?;
    }
    Ok(sender)
}

/// Re-nices the calling thread `HASH_NICE` below the process (on Linux a thread id names one
/// thread). Best effort: without it hashing still works, it just competes with the API for the
/// CPU on equal terms.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let tid = Some(rustix::thread::gettid());
        let lowered = getpriority_process(tid)
            .and_then(|now| setpriority_process(tid, (now + HASH_NICE).min(19)));
        if let Err(e) = lowered {
            tracing::debug!(error = %e, "could not lower the hashing thread's priority");
        }
    }
}

/// The thread's working memory, grown to `blocks` on first use (or for an old, larger `m`).
fn memory_for(memory: &mut Vec<Block>, blocks: usize) -> &mut [Block] {
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    memory.get_mut(..blocks).unwrap_or_default()
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn internal(e: impl std::fmt::Display) -> HashError {
    HashError::Internal(e.to_string())
}

fn hash_blocking(
    params: &Params,
    memory: &mut Vec<Block>,
    password: &[u8],
) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| HashError::Internal("rng failed".into()))?;
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    argon2(params)
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut out,
            memory_for(memory, params.block_count()),
        )
        .map_err(internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(internal)?,
        salt: Some(Salt::new(&salt).map_err(internal)?),
        hash: Some(Output::new(&out).map_err(internal)?),
    };
    Ok(phc.to_string())
}

/// Recomputes the hash of `password` with the parameters and salt stored in `stored` and compares
/// in constant time. `None` when `stored` is not an Argon2 PHC string.
fn verify_blocking(
    stored: &PasswordHash,
    memory: &mut Vec<Block>,
    password: &[u8],
) -> Option<bool> {
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).ok()?;
    let version = stored
        .version
        .map_or(Some(Version::V0x13), |v| Version::try_from(v).ok())?;
    let params = Params::try_from(stored).ok()?;
    let salt = stored.salt.as_ref()?;
    let expected = stored.hash.as_ref()?;
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password,
            salt.as_ref(),
            &mut out,
            memory_for(memory, blocks),
        )
        .ok()?;
    Some(aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected.as_bytes()).is_ok())
}

impl PasswordHasher {
    /// Starts the pool and computes the dummy hash used for unknown users (same parameters, so a
    /// login for an unknown email costs the same time as a wrong password).
    pub async fn new(params: HashParams, workers: usize, queue: usize) -> Result<Self, HashError> {
        let params = params.argon2()?;
        let workers = workers.max(1);
        let blocks = params.block_count();
        let mut pool = Self {
            params,
            admitted: Arc::new(Semaphore::new(workers + queue)),
            max_wait: MAX_QUEUE_WAIT,
            jobs: spawn_workers(workers, blocks)?,
            dummy_hash: Arc::from(""),
            queued: Arc::default(),
            metrics: Metrics::off(),
        };
        let p = pool.params.clone();
        let dummy = pool
            .run(move |memory| {
                hash_blocking(&p, memory, b"jwtgate dummy password for unknown users")
            })
            .await?;
        pool.dummy_hash = dummy.into();
        Ok(pool)
    }

    /// Records how long each hash waits for a thread in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Hashes waiting for a thread now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Runs `f` on a hashing thread, or refuses at once when every thread and queue place is taken.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| HashError::Busy)?;
        let (answer, answered) = oneshot::channel();
        let (enqueued, max_wait) = (Instant::now(), self.max_wait);
        let (queued, metrics) = (Arc::clone(&self.queued), self.metrics.clone());
        queued.fetch_add(1, Ordering::Relaxed);
        // The permit moves into the job: if the client disconnects, the hash still runs to
        // completion and keeps its place until then, so the bound holds.
        let job: Job = Box::new(move |memory| {
            queued.fetch_sub(1, Ordering::Relaxed);
            let waited = enqueued.elapsed();
            metrics.hash_waited(waited);
            let result = if waited > max_wait {
                Err(HashError::Busy)
            } else {
                f(memory)
            };
            // Free the place before answering, so a caller that saw its answer finds it free.
            drop(admitted);
            let _ = answer.send(result);
        });
        self.jobs.send(job).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            HashError::Internal("the hashing threads have stopped".into())
        })?;
        answered
            .await
            .map_err(|_| HashError::Internal("a hashing thread stopped mid-job".into()))?
    }

    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let params = self.params.clone();
        let password = password.0.clone();
        self.run(move |memory| hash_blocking(&params, memory, password.as_bytes()))
            .await
    }

    /// Verifies against `stored`, or against the dummy hash when the user is unknown (`None`),
    /// which always answers `No` after the same work.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<Verified, HashError> {
        let known = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let params = self.params.clone();
        let password = password.0.clone();
        let dummy = Arc::clone(&self.dummy_hash);
        self.run(move |memory| {
            // A stored value that is no hash (an unusable password) costs the same work as a
            // wrong password: the answer's timing tells nothing either way.
            let (parsed, usable) = match PasswordHash::new(&stored) {
                Ok(parsed) => (parsed, true),
                Err(_) => match PasswordHash::new(&dummy) {
                    Ok(parsed) => (parsed, false),
                    Err(_) => return Ok(Verified::No),
                },
            };
            let ok = verify_blocking(&parsed, memory, password.as_bytes()).unwrap_or(false);
            if !ok || !known || !usable {
                return Ok(Verified::No);
            }
            let current = Params::try_from(&parsed).ok();
            let same = current.is_some_and(|c| {
                c.m_cost() == params.m_cost()
                    && c.t_cost() == params.t_cost()
                    && c.p_cost() == params.p_cost()
            }) && parsed.algorithm.as_str() == "argon2id";
            if same {
                Ok(Verified::Yes)
            } else {
                // Upgrade on login: the only moment the plaintext is available.
                hash_blocking(&params, memory, password.as_bytes()).map(Verified::YesRehashed)
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEAK: HashParams = HashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn common_and_short_passwords_are_weak() {
        assert_eq!(
            check_strength(&Password::new("short".into()), &[]),
            Err(WeakPassword::TooShort)
        );
        assert!(matches!(
            check_strength(&Password::new("password123".into()), &[]),
            Err(WeakPassword::Guessable(_))
        ));
        assert!(
            check_strength(&Password::new("correct horse battery staple 9".into()), &[]).is_ok()
        );
    }

    #[tokio::test]
    async fn hash_verifies_and_rehashes_when_parameters_change() {
        let old = PasswordHasher::new(WEAK, 1, 1).await.expect("pool");
        let pw = Password::new("tr0ub4dor&3-horse".into());
        let stored = old.hash(&pw).await.expect("hash");
        assert_eq!(
            old.verify(&pw, Some(&stored)).await.expect("v"),
            Verified::Yes
        );
        assert_eq!(
            old.verify(&Password::new("nope".into()), Some(&stored))
                .await
                .expect("v"),
            Verified::No
        );
        assert_eq!(old.verify(&pw, None).await.expect("v"), Verified::No);
        let new = PasswordHasher::new(
            HashParams {
                memory_kib: 128,
                ..WEAK
            },
            1,
            1,
        )
        .await
        .expect("pool");
        assert!(matches!(
            new.verify(&pw, Some(&stored)).await.expect("v"),
            Verified::YesRehashed(_)
        ));
    }
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_below_the_async_workers_priority() {
        let pool = PasswordHasher::new(WEAK, 2, 1).await.expect("pool");
        let here = rustix::process::getpriority_process(None).expect("own priority");
        let there = pool
            .run(|_| {
                rustix::process::getpriority_process(Some(rustix::thread::gettid()))
                    .map_err(internal)
            })
            .await
            .expect("priority");
        assert_eq!(there, (here + HASH_NICE).min(19));
    }

    #[tokio::test]
    async fn a_job_that_waited_too_long_in_the_queue_is_refused_not_run() {
        let mut pool = PasswordHasher::new(WEAK, 1, 1).await.expect("pool");
        pool.max_wait = Duration::from_millis(50);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let running = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move |_| {
                    let _ = wait.recv();
                    Ok(())
                })
                .await
            }
        });
        while pool.admitted.available_permits() > 1 {
            tokio::task::yield_now().await;
        }
        let queued = tokio::spawn({
            let pool = pool.clone();
            async move { pool.hash(&Password::new("x".repeat(12))).await }
        });
        while pool.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        // Not a timing assertion: this only makes sure the queued job has waited past the limit.
        tokio::time::sleep(Duration::from_millis(100)).await;
        release.send(()).expect("release");
        running.await.expect("join").expect("ran");
        let refused = queued.await.expect("join");
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
        // A job that did not wait runs as usual.
        assert!(pool.hash(&Password::new("x".repeat(12))).await.is_ok());
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once_and_admits_again_after() {
        let mut pool = PasswordHasher::new(WEAK, 1, 1).await.expect("pool");
        pool.max_wait = Duration::from_secs(3600); // however slow the machine, nothing times out
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        let block = |wait: Arc<Mutex<std::sync::mpsc::Receiver<()>>>| {
            move |_: &mut Vec<Block>| {
                let _ = wait.lock().map(|w| w.recv());
                Ok(())
            }
        };
        // One job runs (blocked), one waits in the queue: the third is refused without waiting.
        let running = tokio::spawn({
            let (pool, w) = (pool.clone(), Arc::clone(&wait));
            async move { pool.run(block(w)).await }
        });
        let queued = tokio::spawn({
            let (pool, w) = (pool.clone(), Arc::clone(&wait));
            async move { pool.run(block(w)).await }
        });
        while pool.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        // A guard, not a measurement: an unbounded queue would wait here forever.
        let refused = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            pool.hash(&Password::new("x".repeat(12))),
        )
        .await
        .expect("refused at once, not queued");
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
        release.send(()).expect("release");
        release.send(()).expect("release");
        running.await.expect("join").expect("ran");
        queued.await.expect("join").expect("ran");
        assert!(pool.hash(&Password::new("x".repeat(12))).await.is_ok());
    }
}

#[cfg(test)]
mod interop {
    use super::*;
    use argon2::{PasswordHasher as _, PasswordVerifier as _};

    #[tokio::test]
    async fn our_phc_strings_match_the_reference_implementation_both_ways() {
        let params = HashParams {
            memory_kib: 256,
            iterations: 2,
            parallelism: 2,
        };
        let pool = PasswordHasher::new(params, 1, 1).await.expect("pool");
        let pw = Password::new("interop check password".into());
        let ours = pool.hash(&pw).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("phc");
        assert!(
            Argon2::default()
                .verify_password(pw.expose().as_bytes(), &parsed)
                .is_ok()
        );

        let reference_params = Params::new(256, 2, 2, None).expect("params");
        let theirs = argon2(&reference_params)
            .hash_password_with_salt(pw.expose().as_bytes(), b"0123456789abcdef")
            .expect("hash")
            .to_string();
        assert_eq!(
            pool.verify(&pw, Some(&theirs)).await.expect("v"),
            Verified::Yes
        );
        let wrong = Password::new("interop check passwore".into());
        assert_eq!(
            pool.verify(&wrong, Some(&theirs)).await.expect("v"),
            Verified::No
        );
    }
}

#[cfg(test)]
mod strength_cost {
    use super::*;

    #[test]
    fn the_longest_allowed_password_is_judged_quickly() {
        let start = std::time::Instant::now();
        for pw in [
            "a".repeat(128),
            "ab1!".repeat(32),
            "correct horse battery staple ".repeat(5)[..128].to_owned(),
        ] {
            let _ = check_strength(&Password::new(pw), &["ada@example.com"]);
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
