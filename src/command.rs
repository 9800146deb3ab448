//! What the `dockerhub_exporter` command does with its parsed command line: print the version,
//! run the `healthcheck` or the `inventory` subcommand (see `inventory`), or validate the
//! configuration and run the exporter until SIGINT or SIGTERM. Failures map to exit codes: 2
//! for a configuration to fix, 1 for a failure while running (or a failed health check, or an
//! inventory that could not be read whole).

mod inventory;
mod progress;

use std::process::ExitCode;

use crate::config::{Args, Command, Config, PASSWORD_ENV};
use crate::{Exporter, healthcheck, logging, version};

/// Runs the command described by `args`; its exit code.
pub fn main(mut args: Args) -> ExitCode {
    if args.version {
        print!("{}", version::text());
        return ExitCode::SUCCESS;
    }
    match args.command.take() {
        Some(Command::Healthcheck(check)) => {
            return match healthcheck::run(&check) {
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
        Some(Command::Inventory(inventory)) => return inventory::main(*inventory),
        None => {}
    }
    logging::init(args.log_level, args.log_format);
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
    let served = runtime.block_on(async {
        let listeners = exporter.bind().await?;
        exporter.run(listeners, stop_signal()).await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "dockerhub_exporter failed");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn stop_signal() {
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
