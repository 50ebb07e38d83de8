//! TLS on the listener: HTTP/2 and HTTP/1.1 by ALPN, HSTS, an https issuer, the certificate
//! reloaded on SIGHUP without dropping a connection, and a pair that cannot be used refused
//! at start. Certificates are made here with `openssl`; clients are curl and rustls.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use jwtgate::config::Settings;
use jwtgate::startup::Application;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::Resumption;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto::aws_lc_rs};
use tokio_rustls::{TlsConnector, client::TlsStream};

use crate::helpers::{spawn_app_with, test_settings};

/// A self-signed P-256 certificate for localhost and 127.0.0.1 in `dir`: (cert, key).
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", &format!("/CN={name}")])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // A server's certificate, not a CA's (rustls refuses a CA as an end entity).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl made the certificate");
    (cert, key)
}

fn with_tls(settings: &mut Settings, (cert, key): &(PathBuf, PathBuf)) {
    settings.tls_cert_file = Some(cert.clone());
    settings.tls_key_file = Some(key.clone());
}

/// curl against the app, trusting `ca`: (HTTP version, headers and body).
async fn curl(ca: &Path, args: &[&str]) -> (String, String) {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-i", "--cacert"])
        .arg(ca)
        .args(args)
        .args(["-w", "\n%{http_version}"])
        .output()
        .await
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (answer, version) = text.rsplit_once('\n').expect("the version line");
    (version.to_owned(), answer.to_owned())
}

#[tokio::test]
async fn over_tls_the_server_speaks_http2_and_http11_with_hsts_and_an_https_issuer() {
    let certs = tempfile::tempdir().expect("tempdir");
    let pair = certificate(certs.path(), "a");
    let app = spawn_app_with(|s| with_tls(s, &pair)).await;
    assert!(
        app.address.starts_with("https://127.0.0.1:"),
        "{}",
        app.address
    );

    let url = format!("{}/healthz", app.address);
    let (version, answer) = curl(&pair.0, &["--http2", &url]).await;
    assert_eq!(version, "2");
    assert!(
        answer.contains("strict-transport-security: max-age=31536000"),
        "{answer}"
    );
    let discovery = format!("{}/.well-known/openid-configuration", app.address);
    let (version, answer) = curl(&pair.0, &["--http1.1", &discovery]).await;
    assert_eq!(version, "1.1");
    let body: Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).expect("body")).expect("json");
    assert_eq!(body["issuer"], app.address.as_str());
    assert!(
        body["jwks_uri"]
            .as_str()
            .expect("jwks_uri")
            .starts_with("https://")
    );

    // Plain HTTP to the TLS port gets no answer, and a client that does not trust the
    // certificate gets no connection.
    let plain = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(app.address.replacen("https", "http", 1))
        .output()
        .await
        .expect("curl");
    assert!(!plain.status.success());
    let untrusted = tokio::process::Command::new("curl")
        .args(["-sS", &url])
        .output()
        .await
        .expect("curl");
    assert_eq!(
        untrusted.status.code(),
        Some(60),
        "curl: peer certificate not trusted"
    );
}

#[tokio::test]
async fn a_cookie_sign_in_over_http2_from_the_servers_own_host_is_allowed_and_another_is_not() {
    let certs = tempfile::tempdir().expect("tempdir");
    let pair = certificate(certs.path(), "a");
    let app = spawn_app_with(|s| with_tls(s, &pair)).await;
    let port = app.settings.listen.port();
    let body = r#"{"email":"ada@example.com","password":"correct horse battery staple"}"#;
    let (_, answer) = curl(
        &pair.0,
        &[
            "--http2",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
            &format!("{}/auth/register", app.address),
        ],
    )
    .await;
    assert!(answer.starts_with("HTTP/2 201"), "{answer}");
    // The browser's address is https://localhost:PORT (not the issuer's 127.0.0.1): over
    // HTTP/2 the host is only in `:authority`, and the origin check must still see it.
    let login = body.replace('}', r#","transport":"cookie"}"#);
    let sign_in = async |origin: &str| {
        let resolve = format!("localhost:{port}:127.0.0.1");
        let (version, answer) = curl(
            &pair.0,
            &[
                "--http2",
                "--resolve",
                &resolve,
                "-H",
                "Content-Type: application/json",
                "-H",
                &format!("Origin: {origin}"),
                "-d",
                &login,
                &format!("https://localhost:{port}/auth/login"),
            ],
        )
        .await;
        assert_eq!(version, "2");
        answer
    };
    let own = sign_in(&format!("https://localhost:{port}")).await;
    assert!(own.starts_with("HTTP/2 200"), "{own}");
    assert!(own.contains("set-cookie: __Host-jwtgate_at="), "{own}");
    let other = sign_in("https://evil.example").await;
    assert!(other.starts_with("HTTP/2 403"), "{other}");
    assert!(other.contains(r#""code":"origin_not_allowed""#), "{other}");
}

#[tokio::test]
async fn a_connection_that_never_starts_its_handshake_is_closed_after_the_head_timeout() {
    let certs = tempfile::tempdir().expect("tempdir");
    let pair = certificate(certs.path(), "a");
    let app = spawn_app_with(|s| {
        with_tls(s, &pair);
        s.header_read_timeout_secs = 1;
    })
    .await;
    let port = app.settings.listen.port();
    let mut silent = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    // The server closes it (a read returns 0) well before the test gives up.
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut byte))
        .await
        .expect("closed by the server within the handshake bound");
    assert_eq!(read.expect("read"), 0);
}

/// An HTTP/2 client connection that has said hello (the preface and its settings) and then
/// nothing.
async fn idle_http2(certificate: &Path, port: u16) -> TlsStream<TcpStream> {
    let mut stream = connect(&connector(&[certificate], b"h2"), port).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    // The client preface, then an empty SETTINGS frame (length 0, type 4, no flags, stream 0).
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .expect("preface");
    stream
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_head_timeout_as_http11_is() {
    let certs = tempfile::tempdir().expect("tempdir");
    let pair = certificate(certs.path(), "a");
    let app = spawn_app_with(|s| {
        with_tls(s, &pair);
        s.header_read_timeout_secs = 1;
    })
    .await;
    let mut idle = idle_http2(&pair.0, app.settings.listen.port()).await;
    // The server's SETTINGS and its acknowledgement arrive, then the connection ends (a GOAWAY
    // may come first): reading to the end finishes well before the test gives up.
    let mut received = Vec::new();
    // (A clean close or one without TLS's close_notify: either is the end.)
    let _ended = tokio::time::timeout(Duration::from_secs(10), idle.read_to_end(&mut received))
        .await
        .expect("closed by the server within the idle bound");
    assert!(
        !received.is_empty(),
        "the server spoke HTTP/2 before closing"
    );
}

#[tokio::test]
async fn a_revocation_stream_over_http2_outlives_the_idle_timeout() {
    let certs = tempfile::tempdir().expect("tempdir");
    let pair = certificate(certs.path(), "a");
    let app = spawn_app_with(|s| {
        with_tls(s, &pair);
        s.header_read_timeout_secs = 1;
        s.feed_heartbeat_secs = 1;
    })
    .await;
    let (_, secret) = app
        .handle
        .feed()
        .add_credential("tls")
        .await
        .expect("credential");
    // Four seconds of a stream that sends a heartbeat a second, on a connection whose only
    // stream it is: curl stops it (exit 28, its own time limit), the server never does.
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-N", "--http2", "--max-time", "4", "--cacert"])
        .arg(&pair.0)
        .args(["-H", &format!("Authorization: Bearer {secret}")])
        .arg(format!("{}/revocations/stream", app.address))
        .output()
        .await
        .expect("curl");
    assert_eq!(
        out.status.code(),
        Some(28),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("event: hello"), "{body}");
    assert!(
        body.matches(": heartbeat").count() >= 2,
        "heartbeats after the idle timeout: {body}"
    );
}

#[tokio::test]
async fn without_tls_answers_carry_no_hsts() {
    let app = crate::helpers::spawn_app().await;
    let r = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("healthz");
    assert!(r.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn a_certificate_that_cannot_be_used_stops_the_start_naming_the_file() {
    let certs = tempfile::tempdir().expect("tempdir");
    let a = certificate(certs.path(), "a");
    let b = certificate(certs.path(), "b");
    let missing = certs.path().join("missing.crt");
    let not_a_key = certs.path().join("not-a-key.pem");
    std::fs::write(
        &not_a_key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    for (pair, expected) in [
        (
            (missing.clone(), a.1.clone()),
            format!("cannot read the TLS certificate file {}", missing.display()),
        ),
        (
            (a.0.clone(), not_a_key.clone()),
            format!("the TLS key in {} does not belong", not_a_key.display()),
        ),
        (
            (a.0.clone(), b.1.clone()),
            format!("the TLS key in {} does not belong", b.1.display()),
        ),
        (
            (a.1.clone(), a.1.clone()),
            format!(
                "cannot read the TLS certificate file {}: no CERTIFICATE",
                a.1.display()
            ),
        ),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = test_settings(dir.path().to_owned());
        with_tls(&mut settings, &pair);
        let err = Application::build(settings).await.expect_err("refused");
        let message = format!("{err:#}");
        assert!(message.contains(&expected), "{message}");
        assert!(
            !message.contains("AAAA"),
            "never the key's contents: {message}"
        );
    }
}

/// A TLS client trusting `roots`, offering the one protocol `alpn`.
fn connector(roots: &[&Path], alpn: &[u8]) -> TlsConnector {
    let mut store = RootCertStore::empty();
    for root in roots {
        store
            .add(CertificateDer::from_pem_file(root).expect("pem"))
            .expect("root");
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    // A full handshake each time: a resumed session would show the first certificate again.
    config.resumption = Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

async fn connect(tls: &TlsConnector, port: u16) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    tls.connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake")
}

/// Whether the server presented the certificate in `path` on `stream`.
fn presents(stream: &TlsStream<TcpStream>, path: &Path) -> bool {
    let leaf = &stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("certificates")[0];
    *leaf == CertificateDer::from_pem_file(path).expect("pem")
}

/// One keep-alive `GET /healthz` on an open connection: the status line.
async fn healthz(stream: &mut TlsStream<TcpStream>) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.expect("read");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("utf-8");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("content-length")
        .parse()
        .expect("number");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.expect("body");
    head.lines().next().expect("status line").to_owned()
}

#[tokio::test]
async fn sighup_reloads_the_certificate_for_new_connections_and_keeps_open_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = certificate(dir.path(), "a");
    let b = certificate(dir.path(), "b");
    let live = (dir.path().join("live.crt"), dir.path().join("live.key"));
    std::fs::copy(&a.0, &live.0).expect("copy");
    std::fs::copy(&a.1, &live.1).expect("copy");
    let data = dir.path().join("data");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_jwtgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("JWT_SECRET")
        .env("JWTGATE_TLS_CERT_FILE", &live.0)
        .env("JWTGATE_TLS_KEY_FILE", &live.1)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn jwtgate serve");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let banner = stdout.next_line().await.expect("stdout").expect("a banner");
    let port: u16 = banner
        .strip_prefix("jwtgate listening on https://127.0.0.1:")
        .unwrap_or_else(|| panic!("banner: {banner}"))
        .parse()
        .expect("port");
    let mut log = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let pid = child.id().expect("pid").to_string();
    let hangup = async |log: &mut tokio::io::Lines<_>, waiting_for: &str| {
        let sent = Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = log.next_line().await.expect("stderr") {
                if line.contains(waiting_for) {
                    return line;
                }
            }
            panic!("the server ended before logging {waiting_for:?}");
        })
        .await
        .expect("the server logged the reload")
    };

    let tls = connector(&[&a.0, &b.0], b"http/1.1");
    let mut open = connect(&tls, port).await;
    assert!(presents(&open, &a.0));
    assert_eq!(healthz(&mut open).await, "HTTP/1.1 200 OK");

    // The new pair is written beside the old one and moved into place, as a certificate
    // manager does, then the server is told.
    let swap = |from: &(PathBuf, PathBuf)| {
        for (src, dst) in [(&from.0, &live.0), (&from.1, &live.1)] {
            let next = dst.with_extension("next");
            std::fs::copy(src, &next).expect("copy");
            std::fs::rename(&next, dst).expect("rename");
        }
    };
    swap(&b);
    hangup(&mut log, "reloaded the TLS certificate").await;
    let mut fresh = connect(&tls, port).await;
    assert!(
        presents(&fresh, &b.0),
        "new connections get the new certificate"
    );
    assert_eq!(healthz(&mut fresh).await, "HTTP/1.1 200 OK");
    assert_eq!(
        healthz(&mut open).await,
        "HTTP/1.1 200 OK",
        "the connection opened before the reload still answers"
    );

    // A broken pair on reload: logged, and the certificate in use stays.
    std::fs::write(&live.0, "not a certificate").expect("write");
    let line = hangup(&mut log, "the TLS certificate in use stays").await;
    assert!(line.contains(&live.0.display().to_string()), "{line}");
    let mut after = connect(&tls, port).await;
    assert!(presents(&after, &b.0));
    assert_eq!(healthz(&mut after).await, "HTTP/1.1 200 OK");
    let _ = child.kill().await;
}
