//! The flags of `dockerhub_exporter inventory`, and their validation into an
//! [`InventoryCommand`].
//!
//! The command reads the Hub as the exporter does, so it takes the exporter's `--hub.*` and
//! `--filter.*` flags (the same [`HubArgs`] and [`Filters`], validated by the same code); of
//! the rest it takes only what a single read printed to standard output needs, and the
//! exporter's `--mirror*` flags (the same [`MirrorArgs`], validated by the same code) for one
//! mirror check after the read. Its log goes to
//! standard error at `warn` by default, so that what failed shows there and the information a
//! running exporter logs does not. Like the rest of `config`, a leaf.

use std::path::PathBuf;

use super::{ConfigError, Filters, Hub, HubArgs, LogFormat, LogLevel, MirrorArgs, Mirrors, Scope};

/// How the inventory is printed (`--format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ListingFormat {
    /// Columns aligned for a terminal, one line per repository.
    #[default]
    Table,
    /// One JSON document with every repository, tag and platform image.
    Json,
    /// CSV (RFC 4180) with a header row, one row per tag.
    Csv,
}

/// The arguments of `dockerhub_exporter inventory`.
#[derive(Debug, Clone, clap::Args)]
pub struct InventoryArgs {
    /// Which Hub to read, what of it, as whom and how fast (`--hub.*`).
    #[command(flatten)]
    pub hub: HubArgs,

    /// Which repositories and tags are listed (`--filter.*`).
    #[command(flatten)]
    pub filters: Filters,

    /// The mirrors compared with what was read (`--mirror*`), as the exporter's.
    #[command(flatten)]
    pub mirrors: MirrorArgs,

    /// How to print the inventory: table (aligned for a terminal, a line per repository),
    /// json (one document with every repository, tag and platform image) or csv (a row per
    /// tag).
    #[arg(long = "format", value_enum, default_value_t = ListingFormat::Table)]
    pub format: ListingFormat,

    /// Print what the exporter's state file (--state.file) holds instead of reading the Hub:
    /// what the exporter saw last, without a request.
    #[arg(long = "offline", requires = "state_file")]
    pub offline: bool,

    /// The exporter's state file, read (never written) with --offline.
    #[arg(long = "state.file", requires = "offline")]
    pub state_file: Option<PathBuf>,

    /// Only log messages at this level or above, to standard error.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Warn)]
    pub log_level: LogLevel,

    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt)]
    pub log_format: LogFormat,
}

/// Where the inventory comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One read of the Hub.
    Hub,
    /// The exporter's state file, read only.
    StateFile(PathBuf),
}

/// The validated `inventory` command.
#[derive(Debug, Clone)]
pub struct InventoryCommand {
    /// Which Hub to read, and what of it. Offline, the namespaces and repositories named (if
    /// any) choose what of the state file is printed.
    pub hub: Hub,
    /// Which repositories and tags are listed.
    pub filters: Filters,
    /// How the inventory is printed.
    pub format: ListingFormat,
    /// Where the inventory comes from.
    pub source: Source,
    /// The mirrors checked once after the read; none when no mirror is named.
    pub mirrors: Mirrors,
}

impl InventoryCommand {
    /// Validates the arguments as [`Config::from_args`](super::Config::from_args) validates
    /// the exporter's, reading the secret from `password_env` (the value of
    /// `DOCKERHUB_PASSWORD`) when no password file is named. Offline, naming nothing to read
    /// is no error: the whole state file is printed.
    pub fn from_args(
        args: InventoryArgs,
        password_env: Option<String>,
    ) -> Result<InventoryCommand, ConfigError> {
        let source = match (args.offline, args.state_file) {
            (true, Some(path)) => Source::StateFile(path),
            // clap's `requires` refuses either flag without the other.
            (true, None) => {
                return Err(ConfigError::new("--offline", "needs --state.file"));
            }
            (false, Some(_)) => {
                return Err(ConfigError::new("--state.file", "needs --offline"));
            }
            (false, None) => Source::Hub,
        };
        let scope = match source {
            Source::Hub => Scope::Required,
            Source::StateFile(_) => Scope::Optional,
        };
        let hub = args.hub.validate(password_env, scope)?;
        let mirrors = args.mirrors.validate()?;
        if matches!(source, Source::StateFile(_)) && !mirrors.mirrors.is_empty() {
            return Err(ConfigError::new(
                "--mirror",
                "cannot be used with --offline, which sends no request",
            ));
        }
        Ok(InventoryCommand {
            hub,
            filters: args.filters,
            format: args.format,
            source,
            mirrors,
        })
    }
}
