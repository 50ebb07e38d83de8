//! Connection handling below HTTP: a client that never finishes its request headers.
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
