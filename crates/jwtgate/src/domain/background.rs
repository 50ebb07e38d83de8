//! Owns the server's background work: tasks a request starts but does not wait for (mail
//! delivery, the mail-sending half of forgot-password). Must not import axum or sqlx.
//!
//! Every such task is counted, so shutdown can wait for them before it closes the database
//! (a spawned task left running would find the pool closed under it and lose its mail), and a
//! test can wait for "nothing left in flight" instead of polling for a file to appear.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Cheap to clone; clones count the same tasks.
#[derive(Clone, Debug, Default)]
pub struct Background {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    running: AtomicUsize,
    idle: Notify,
}

/// Counts one task from spawn to end, whether it finishes, fails or panics.
struct Running(Arc<Inner>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Background {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` on the runtime, counted until it ends.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.inner.running.fetch_add(1, Ordering::AcqRel);
        let running = Running(Arc::clone(&self.inner));
        tokio::spawn(async move {
            let _running = running;
            task.await;
        });
    }

    /// How many tasks are in flight.
    pub fn in_flight(&self) -> usize {
        self.inner.running.load(Ordering::Acquire)
    }

    /// Resolves once no task is in flight (at once if none is).
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the count is read, so an end between the two is not missed.
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// [`Background::idle`], giving up after `limit`; whether everything finished.
    pub async fn drain(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.idle()).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_every_task_and_counts_a_panic_as_an_end() {
        let background = Background::new();
        background.idle().await;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        background.spawn(async move {
            let _ = rx.await;
        });
        background.spawn(async { panic!("a failing task") });
        assert!(!background.drain(Duration::from_millis(20)).await);
        tx.send(()).expect("send");
        background.idle().await;
        assert_eq!(background.in_flight(), 0);
    }
}
