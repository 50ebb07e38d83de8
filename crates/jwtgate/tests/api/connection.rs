//! Connection handling below HTTP: clients that never finish their request headers, that stall
//! or trickle their bodies, and more of them than the process has descriptors.
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = spawn_app_with(|s| s.header_read_timeout_secs = 1).await;
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    // Slowloris: a request line and half a header, then nothing more.
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .expect("write");
    let mut answer = Vec::new();
    // A guard, not a measurement: without the timeout this read would wait forever.
    let closed = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the server closed the connection");
    // Closed cleanly, without a word: the half-sent request was never served.
    assert_eq!(closed.expect("clean close"), 0);
    assert_eq!(String::from_utf8_lossy(&answer), "");
    // The server itself is unharmed.
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), reqwest::StatusCode::OK);
}

/// Reads what the server sends until it closes the connection (a 30 s guard, never a wait).
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the server closed the connection")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

fn assert_request_timeout(answer: &str) {
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(head.contains("application/problem+json"), "{head}");
    let problem: serde_json::Value = serde_json::from_str(body).expect("problem json");
    assert_eq!(problem["code"], "request_timeout");
}

#[tokio::test]
async fn a_client_that_stalls_its_body_gets_408_and_a_close() {
    let app = spawn_app_with(|s| s.request_timeout_secs = 1).await;
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    // Whole headers, then a third of the body, then nothing.
    stream
        .write_all(
            b"POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
              Content-Length: 60\r\n\r\n{\"email\": \"ada@ex",
        )
        .await
        .expect("write");
    assert_request_timeout(&read_until_closed(&mut stream).await);
    assert_eq!(app.get("/healthz").await.status(), reqwest::StatusCode::OK);
}

#[tokio::test]
async fn a_trickled_body_is_cut_off_at_the_whole_request_deadline() {
    let app = spawn_app_with(|s| s.request_timeout_secs = 1).await;
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream
        .write_all(
            b"POST /auth/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
              Content-Length: 400\r\n\r\n",
        )
        .await
        .expect("write");
    // One byte every 100 ms: always something arriving, never the whole body in time. (The
    // pauses are the attack itself, not a wait for the server.)
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..400 {
            if writer.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut answer))
        .await
        .expect("the server closed the connection")
        .expect("read");
    trickle.abort();
    assert_request_timeout(&String::from_utf8_lossy(&answer));
}

#[test]
fn under_a_flood_of_stalled_bodies_the_listener_keeps_its_descriptors_and_serves_again() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    // 256 descriptors: the server caps itself at 192 connections.
    let mut server = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 256 && exec '{}' serve --listen 127.0.0.1:{port} --data-dir '{}'",
            env!("CARGO_BIN_EXE_jwtgate"),
            tmp.path().display()
        ))
        .env("JWTGATE_REQUEST_TIMEOUT_SECS", "2")
        .env("JWTGATE_ALLOW_WEAK_PASSWORD_HASHING", "true")
        .env("JWTGATE_ARGON2_MEMORY_KIB", "64")
        .env("JWTGATE_ARGON2_ITERATIONS", "1")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Ready when it says it listens.
    let mut stdout = std::io::BufReader::new(server.stdout.take().expect("stdout"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).expect("read");
    assert!(first.contains("listening"), "{first}");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let outcome = runtime.block_on(async {
        let address = format!("127.0.0.1:{port}");
        // 300 clients send their headers and stall their bodies: more than the descriptors.
        let mut stalled = Vec::new();
        for _ in 0..300 {
            let mut stream = tokio::net::TcpStream::connect(&address)
                .await
                .expect("connect");
            stream
                .write_all(
                    b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                      Content-Length: 100\r\n\r\n{",
                )
                .await
                .expect("write");
            stalled.push(stream);
        }
        // Someone else still gets an answer once the stalled ones have timed out.
        let mut late = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect");
        late.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let late_answer = read_until_closed(&mut late).await;
        let mut timed_out = 0;
        for mut stream in stalled {
            if read_until_closed(&mut stream)
                .await
                .starts_with("HTTP/1.1 408")
            {
                timed_out += 1;
            }
        }
        (late_answer, timed_out)
    });
    let _ = server.kill();
    let output = server.wait_with_output().expect("wait");
    let log = String::from_utf8_lossy(&output.stderr);
    let (late_answer, timed_out) = outcome;
    assert!(late_answer.starts_with("HTTP/1.1 200"), "{late_answer}");
    assert_eq!(timed_out, 300);
    // The listener never ran out of descriptors, so it never had to report a failed accept.
    assert!(!log.contains("accept failed"), "{log}");
}
