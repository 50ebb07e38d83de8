//! `cargo run -p resource-api` with `JWTGATE_URL` and `FEED_CREDENTIAL` set (see the README):
//! serves the API on `LISTEN` (127.0.0.1:3000) until Ctrl-C.

use std::net::SocketAddr;

#[tokio::main]
async fn main() {
    let config = match resource_api::Config::from_env() {
        Ok(config) => config,
        Err(why) => {
            eprintln!("resource-api: {why}");
            std::process::exit(2);
        }
    };
    let listen: SocketAddr = std::env::var("LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()
        .unwrap_or_else(|_| {
            eprintln!("resource-api: LISTEN must be an address such as 127.0.0.1:3000");
            std::process::exit(2);
        });
    let service = match resource_api::service(&config).await {
        Ok(service) => service,
        Err(e) => {
            eprintln!(
                "resource-api: cannot reach jwtgate at {}: {e}",
                config.issuer
            );
            std::process::exit(1);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("resource-api: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().map_or(listen, |a| a);
    println!("listening on http://{addr}");
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, service.router)
        .with_graceful_shutdown(stop)
        .await
    {
        eprintln!("resource-api: {e}");
        std::process::exit(1);
    }
}
