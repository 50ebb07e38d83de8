//! The database a test app runs on. Unset `TEST_DATABASE_URL`: a SQLite file in the
//! app's temp data dir. Set (`scripts/test` does, for its second pass, to a private PostgreSQL
//! it started): each app gets a database of its own, cloned from a template migrated once per
//! run, and dropped when the test ends.

use std::sync::atomic::{AtomicU32, Ordering};

use jwtgate::store::{Location, Store};

/// The variable naming a PostgreSQL server whose user may create databases, as
/// `postgres://user@host:port/postgres`.
pub const ENV: &str = "TEST_DATABASE_URL";

const TEMPLATE: &str = "jwtgate_template";

/// One test's PostgreSQL database; dropped with it.
pub struct TestDatabase {
    admin_url: String,
    name: String,
}

/// A fresh database for one app, when the run uses PostgreSQL.
pub async fn create() -> Option<TestDatabase> {
    let admin_url = std::env::var(ENV).ok()?;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // CREATE DATABASE ... TEMPLATE needs the template to have no other session: one at a
    // time, and the template's own connection is closed before the first copy.
    static TEMPLATE_READY: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);
    let name = format!(
        "jwtgate_t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut ready = TEMPLATE_READY.lock().await;
    let admin = open(&admin_url).await;
    if !*ready {
        // A template left by an earlier run may be of an older schema: made again.
        sql(
            &admin,
            &format!("DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)"),
        )
        .await;
        sql(&admin, &format!("CREATE DATABASE {TEMPLATE}")).await;
        let template = open(&with_database(&admin_url, TEMPLATE)).await;
        template.migrate().await.expect("migrate the template");
        template.close().await;
        *ready = true;
    }
    sql(
        &admin,
        &format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}"),
    )
    .await;
    admin.close().await;
    Some(TestDatabase { admin_url, name })
}

impl TestDatabase {
    pub fn url(&self) -> String {
        with_database(&self.admin_url, &self.name)
    }

    /// Cuts every app off this database (`cut`: new connections refused, open ones ended), or
    /// lets them back in: what losing the database's network link looks like to a node.
    pub async fn cut_off(&self, cut: bool) {
        let admin = open(&self.admin_url).await;
        let name = &self.name;
        sql(
            &admin,
            &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {}", !cut),
        )
        .await;
        if cut {
            sql(
                &admin,
                &format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
                ),
            )
            .await;
        }
        admin.close().await;
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot block on itself: a thread of its
        // own ends the app's connections and drops the database.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = open(&admin_url).await;
                sql(
                    &admin,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                )
                .await;
                admin.close().await;
            });
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("cannot drop the test database {}", self.name);
        }
    }
}

async fn open(url: &str) -> Store {
    Store::open(&Location::Postgres(url.to_owned()), 1)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL ({ENV}): {e}"))
}

async fn sql(store: &Store, statement: &str) {
    store
        .test_sql(statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// `url` with its database (the last path segment) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (server, _) = url.rsplit_once('/').expect("a URL with a database");
    format!("{server}/{name}")
}
