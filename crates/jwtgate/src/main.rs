//! The `jwtgate` binary: hands over to `jwtgate::cli`, which sets up logging once it knows the
//! settings (everything else lives in the library so tests boot exactly what production boots).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match jwtgate::cli::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
