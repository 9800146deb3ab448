//! The `dockerhub_exporter` binary: parse the command line, start logging, validate the
//! configuration, run the library until SIGINT or SIGTERM, map failures to exit codes (2 for
//! a configuration to fix, 1 for a failure while running). Also `--version` and the
//! `healthcheck` subcommand.

use std::process::ExitCode;

use clap::Parser;
use dockerhub_exporter::Exporter;
use dockerhub_exporter::config::{Args, Command, Config, PASSWORD_ENV};

fn main() -> ExitCode {
    let args = Args::parse();
    if args.version {
        print!("{}", dockerhub_exporter::version::text());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Healthcheck(check)) = &args.command {
        return match dockerhub_exporter::healthcheck::run(check) {
            Ok(answer) => {
                println!("{answer}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("dockerhub_exporter healthcheck: {e}");
                ExitCode::FAILURE
            }
        };
    }
    dockerhub_exporter::logging::init(args.log_level, args.log_format);
    let exporter =
        match Config::from_args(args, std::env::var(PASSWORD_ENV).ok()).and_then(Exporter::new) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("dockerhub_exporter: {e}");
                return ExitCode::from(2);
            }
        };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dockerhub_exporter: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(exporter)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "dockerhub_exporter failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(exporter: Exporter) -> anyhow::Result<()> {
    let listener = exporter.bind().await?;
    exporter.run(listener, shutdown_signal()).await?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
