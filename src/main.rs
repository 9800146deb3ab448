//! The `dockerhub_exporter` binary: parses the command line and hands it to the library
//! (`dockerhub_exporter::command`), which does the rest and chooses the exit code.

use std::process::ExitCode;

use clap::Parser;
use dockerhub_exporter::config::Args;

fn main() -> ExitCode {
    dockerhub_exporter::command::main(Args::parse())
}
