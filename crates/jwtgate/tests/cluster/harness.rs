//! A cluster on one machine, per test: three `jwtgate serve` processes on free loopback ports,
//! a database of their own on the test PostgreSQL (cloned from a migrated template), a fault
//! proxy between each node and PostgreSQL that can pass, black-hole or reset that link, and
//! HAProxy (Debian's package) in front, checking `/readyz`. Everything it started is killed
//! when the cluster is dropped; it never touches anything but its own database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::database::{self, TestDatabase};

pub const PASSWORD: &str = "correct horse battery staple";
pub const ISSUER: &str = "http://cluster.test";

/// What the fault proxy does with a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Link {
    /// Bytes flow both ways.
    Pass = 0,
    /// Bytes vanish both ways: connections stay open and nothing arrives (a cut cable).
    BlackHole = 1,
    /// Every connection is closed, and new ones are closed at once.
    Reset = 2,
}

/// A TCP proxy to `upstream` whose behaviour a test switches.
pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    /// Bumped on `Reset`: every open connection ends.
    resets: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: String) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let mode = Arc::new(AtomicU8::new(Link::Pass as u8));
        let resets = watch::channel(0u64).0;
        let task = {
            let (mode, resets) = (Arc::clone(&mode), resets.clone());
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if mode.load(Ordering::Acquire) == Link::Reset as u8 {
                        drop(client);
                        continue;
                    }
                    let (mode, reset, upstream) =
                        (Arc::clone(&mode), resets.subscribe(), upstream.clone());
                    tokio::spawn(pipe(client, upstream, mode, reset));
                }
            })
        };
        FaultProxy {
            addr,
            mode,
            resets,
            task,
        }
    }

    pub fn set(&self, link: Link) {
        self.mode.store(link as u8, Ordering::Release);
        if link == Link::Reset {
            self.resets.send_modify(|n| *n += 1);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.resets.send_modify(|n| *n += 1);
    }
}

/// Copies bytes both ways while the link passes; drops them while it is black-holed.
async fn pipe(
    mut client: TcpStream,
    upstream: String,
    mode: Arc<AtomicU8>,
    mut reset: watch::Receiver<u64>,
) {
    // A black hole swallows the connection attempt too: the client waits, as behind a cut cable.
    while mode.load(Ordering::Acquire) == Link::BlackHole as u8 {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = reset.changed() => return,
        }
    }
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (mut a, mut b) = ([0u8; 16384], [0u8; 16384]);
    loop {
        let passing = || mode.load(Ordering::Acquire) == Link::Pass as u8;
        tokio::select! {
            read = client.read(&mut a) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) if passing() => if server.write_all(&a[..n]).await.is_err() { return },
                Ok(_) => {}
            },
            read = server.read(&mut b) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) if passing() => if client.write_all(&b[..n]).await.is_err() { return },
                Ok(_) => {}
            },
            _ = reset.changed() => return,
        }
    }
}

/// One `jwtgate serve` process.
pub struct Node {
    pub name: String,
    pub url: String,
    /// The node's link to PostgreSQL.
    pub database_link: FaultProxy,
    child: Child,
}

impl Node {
    /// `kill -9`.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The environment every node and CLI command of a cluster runs with.
fn node_env(master_key: &Path) -> Vec<(String, String)> {
    [
        ("JWTGATE_ALLOW_WEAK_PASSWORD_HASHING", "true"),
        ("JWTGATE_ARGON2_MEMORY_KIB", "64"),
        ("JWTGATE_ARGON2_ITERATIONS", "1"),
        ("JWTGATE_ISSUER", ISSUER),
        ("JWTGATE_REFUSAL_DELAY_MAX_MS", "0"),
        ("JWTGATE_LOGIN_SUCCESSES_PER_MINUTE", "1000"),
        ("JWTGATE_MAX_SESSIONS_PER_USER", "1000"),
        ("JWTGATE_LOGIN_FREE_ATTEMPTS_IP", "1000"),
        // The loads here are far above a plan's minute; limits have tests of their own.
        ("JWTGATE_RATE_LIMITS", "off"),
        ("RUST_LOG", "info,sqlx=warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([(
        "JWTGATE_MASTER_KEY_FILE".to_owned(),
        master_key.display().to_string(),
    )])
    .collect()
}

/// The PostgreSQL URL `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (user, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
    let (_, path) = rest.split_once('/').expect("a database");
    let user = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    format!("{scheme}://{user}{addr}/{path}")
}

/// The `host:port` of a PostgreSQL URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").expect("scheme").1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().expect("host").to_owned()
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    /// HAProxy's address, as `http://127.0.0.1:port`.
    pub lb: String,
    pub client: reqwest::Client,
    database: TestDatabase,
    haproxy: Child,
    dir: tempfile::TempDir,
    master_key: PathBuf,
    /// Settings every node of this cluster gets besides `node_env`'s.
    extra: Vec<(String, String)>,
}

impl Cluster {
    /// A cluster of `n` nodes behind HAProxy; `None` when the run has no PostgreSQL.
    pub async fn start(n: usize) -> Option<Cluster> {
        Self::start_with(n, &[]).await
    }

    /// As [`Cluster::start`], every node with these settings too.
    pub async fn start_with(n: usize, extra: &[(&str, &str)]) -> Option<Cluster> {
        let database = database::create().await?;
        let dir = tempfile::tempdir().expect("tempdir");
        let master_key = dir.path().join("master.key");
        let secret = std::process::Command::new(env!("CARGO_BIN_EXE_jwtgate"))
            .arg("secret")
            .output()
            .expect("jwtgate secret");
        std::fs::write(&master_key, &secret.stdout).expect("master key");
        let mut cluster = Cluster {
            nodes: Vec::new(),
            lb: String::new(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            database,
            haproxy: Command::new("true").spawn().expect("placeholder"),
            dir,
            master_key,
            extra: extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        for i in 0..n {
            cluster
                .add_node(&format!("node-{}", (b'a' + i as u8) as char))
                .await;
        }
        cluster.start_haproxy().await;
        Some(cluster)
    }

    /// Starts one more node; resolves once it has said where it listens.
    pub async fn add_node(&mut self, name: &str) -> &Node {
        let link = FaultProxy::start(host_port(&self.database.url())).await;
        let data_dir = self.dir.path().join(name);
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).expect("log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_jwtgate"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .arg("--database-url")
            .arg(through(&self.database.url(), link.addr))
            .env_remove("JWT_SECRET")
            .envs(node_env(&self.master_key))
            .envs(self.extra.iter().cloned())
            .env("JWTGATE_NODE_ID", name)
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn jwtgate serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let banner = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the node started within 30 s")
            .expect("stdout")
            .unwrap_or_else(|| panic!("{name} exited: {}", self.log(name)));
        let url = banner
            .strip_prefix("jwtgate listening on ")
            .unwrap_or_else(|| panic!("banner: {banner}"))
            .to_owned();
        // The rest of the banner is read and dropped, so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.nodes.push(Node {
            name: name.to_owned(),
            url,
            database_link: link,
            child,
        });
        self.nodes.last().expect("node")
    }

    /// A node's log (stderr), for a failure message.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    async fn start_haproxy(&mut self) {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            probe.local_addr().expect("addr").port()
        };
        let servers: String = self
            .nodes
            .iter()
            .map(|n| {
                let addr = n.url.trim_start_matches("http://");
                format!("    server {} {addr} check\n", n.name)
            })
            .collect();
        // Reads are retried on another node when one answers 503 (drained, or stale) or dies
        // mid-request; anything else is sent once (a refresh must not be replayed).
        let config = format!(
            "global\n    maxconn 2000\n\
             defaults\n    mode http\n    option forwardfor\n    timeout connect 1s\n    timeout client 10s\n    \
             timeout server 10s\n    retries 3\n    option redispatch 1\n    \
             retry-on conn-failure empty-response response-timeout 503\n\
             frontend web\n    bind 127.0.0.1:{port}\n    \
             http-request disable-l7-retry unless METH_GET\n    default_backend nodes\n\
             backend nodes\n    balance roundrobin\n    option httpchk GET /readyz\n    \
             http-check expect status 200\n    \
             default-server inter 200ms fastinter 100ms downinter 200ms fall 2 rise 1\n\
             {servers}"
        );
        let path = self.dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("haproxy.cfg");
        self.haproxy = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("haproxy (apt-get install haproxy; ./scripts/test does)");
        self.lb = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = self.client.get(format!("{}/healthz", self.lb)).send().await
                && r.status() == StatusCode::OK
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "HAProxy did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn node(&self, i: usize) -> &str {
        &self.nodes[i].url
    }

    pub async fn post(
        &self,
        base: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> reqwest::Response {
        let mut request = self.client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn me(&self, base: &str, token: &str) -> StatusCode {
        self.client
            .get(format!("{base}/api/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
            .status()
    }

    /// Registers `email` (through `base`) and signs in; the token response.
    pub async fn signed_in(&self, base: &str, email: &str) -> Value {
        let r = self
            .post(
                base,
                "/auth/register",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        self.login(base, email).await
    }

    pub async fn login(&self, base: &str, email: &str) -> Value {
        let r = self
            .post(
                base,
                "/auth/login",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("json")
    }

    /// An administrator made with the CLI, signed in through `base`.
    /// `jwtgate ARGS` against the cluster's database, as an operator runs it beside the nodes.
    pub fn cli(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jwtgate"));
        command
            .args(args)
            .arg("--data-dir")
            .arg(self.dir.path().join("cli"))
            .arg("--database-url")
            .arg(self.database.url())
            .env_remove("JWT_SECRET")
            .envs(node_env(&self.master_key));
        command
    }

    /// A new feed credential's secret (`jwtgate feed-credential add`).
    pub async fn feed_credential(&self, name: &str) -> String {
        let out = self
            .cli(&["feed-credential", "add", "--name", name, "--json"])
            .output()
            .await
            .expect("jwtgate feed-credential add");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let made: Value = serde_json::from_slice(&out.stdout).expect("json");
        made["secret"].as_str().expect("secret").to_owned()
    }

    pub async fn admin(&self, base: &str, email: &str) -> Value {
        let mut add = self
            .cli(&["user", "add", "--role", "admin", "--email", email])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("jwtgate user add");
        let mut stdin = add.stdin.take().expect("stdin");
        stdin
            .write_all(PASSWORD.as_bytes())
            .await
            .expect("password");
        drop(stdin);
        let out = add.wait_with_output().await.expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.login(base, email).await
    }
}

/// The `access_token` of a token response.
pub fn access(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

pub fn refresh(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}
