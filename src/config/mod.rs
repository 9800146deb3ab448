//! Configuration: the command line and environment as users write them ([`Args`]), and the
//! validated [`Config`] the exporter is built from, or the [`InventoryCommand`] that
//! `dockerhub_exporter inventory` runs. The flags both read the Hub with (`--hub.*`,
//! `--filter.*`) are defined and checked once, in `hub`.
//!
//! This module is a leaf: it knows flags, environment variables and their rules, and
//! nothing of the parts it configures. [`Config`] holds plain validated values; the wiring in
//! the crate's root turns them into the options each part takes, so no part ever sees a flag.
//! Secrets are read here, from a file named on the command line or from the environment, never
//! from a flag's value, so they do not show in process listings; [`Credentials`] prints its
//! secret as `**redacted**`. Files other than the secret's (the web configuration, the state
//! file) are read by the parts that own them. This module does not start anything.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

mod hub;
mod inventory;
mod mirror;
mod pull_limit;
mod repositories;
mod signals;

use hub::Scope;
pub use hub::{Filters, Hub, HubArgs};
pub use inventory::{InventoryArgs, InventoryCommand, ListingFormat, Source};
pub use mirror::{Mirror, MirrorArgs, Mirrors};

pub use pull_limit::{
    DEFAULT_REGISTRY_AUTH_URL, DEFAULT_REGISTRY_URL, PullLimitArgs, PullLimitCheck,
};
pub use repositories::WatchedRepository;
pub use signals::{SignalArgs, Signals, WebhookToken};

/// The Hub's public API address.
pub const DEFAULT_HUB_URL: &str = "https://hub.docker.com";

/// Environment variable holding the secret when no password file is given.
pub const PASSWORD_ENV: &str = "DOCKERHUB_PASSWORD";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `key=value` pairs, one event a line.
    Logfmt,
    /// One JSON object a line.
    Json,
}

/// Which per-tag and per-image series are exported (`--metrics.tags`), as the flag names
/// them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SeriesLevel {
    /// Repository-level series only.
    None,
    /// Also one set of series per tag.
    Tags,
    /// Also one set of series per platform image of each tag.
    #[default]
    Images,
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    /// Everything, including each request.
    Trace,
    /// Pages, retries, token renewals.
    Debug,
    /// Refreshes and changes.
    Info,
    /// Problems that the exporter works around.
    Warn,
    /// Failures.
    Error,
}

/// The command line, with the environment variables that may stand in for flags.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "dockerhub_exporter",
    disable_version_flag = true,
    args_conflicts_with_subcommands = true,
    about = "Prometheus exporter for a Docker Hub inventory: every repository, tag and platform image of the given namespaces, read within the Hub's rate limits and served from memory.",
    after_help = "The secret (password, personal access token or organization access token) is read from --hub.password-file or from the environment variable DOCKERHUB_PASSWORD; it is never taken on the command line."
)]
pub struct Args {
    /// Print the version, the commit, the compiler and the target, and exit.
    #[arg(long = "version", short = 'V')]
    pub version: bool,

    /// Instead of running the exporter: a subcommand.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Which Hub to read, what of it, as whom and how fast (`--hub.*`).
    #[command(flatten)]
    pub hub: HubArgs,

    /// Time from the start of one refresh of the inventory to the start of the next.
    #[arg(long = "refresh.interval", default_value = "15m", value_parser = parse_duration)]
    pub refresh_interval: Duration,

    /// File where the exporter keeps what it has seen, read at start and rewritten after each
    /// refresh, so that a restart neither forgets the inventory nor misses changes made while
    /// it was down. Without it the exporter starts empty.
    #[arg(long = "state.file")]
    pub state_file: Option<PathBuf>,

    /// Between full walks, a repository whose last_updated has not changed since its last
    /// successful tag listing keeps that listing without new requests (for example 6h).
    /// Deletions that leave last_updated alone are seen at the next full walk. Without it,
    /// every refresh is a full walk.
    #[arg(long = "refresh.full-interval", value_parser = parse_duration)]
    pub full_interval: Option<Duration>,

    /// Which repositories and tags are inventoried (`--filter.*`).
    #[command(flatten)]
    pub filters: Filters,

    /// Which per-tag series to export: none (repository-level series only), tags (also
    /// per-tag series) or images (also per-platform-image series).
    #[arg(long = "metrics.tags", value_enum, default_value_t = SeriesLevel::Images)]
    pub series_level: SeriesLevel,

    /// Export per-tag and per-image series for the N most recently pushed tags of each
    /// repository only; counts still cover every tag.
    #[arg(long = "metrics.max-tags-per-repository", value_name = "N")]
    pub max_tags_per_repository: Option<usize>,

    /// The registry's pull-limit check (`--registry.*`, `--pull-limit.interval`).
    #[command(flatten)]
    pub pull_limit: PullLimitArgs,

    /// The mirror checks (`--mirror*`).
    #[command(flatten)]
    pub mirrors: MirrorArgs,

    /// Webhooks and audit logs, which re-read one repository between refreshes.
    #[command(flatten)]
    pub signals: SignalArgs,

    /// Address to listen on for the web interface and telemetry (`:9721` means every
    /// interface); repeat it to listen on several addresses at once.
    #[arg(long = "web.listen-address", default_value = ":9721")]
    pub listen_address: Vec<String>,

    /// Listen on the sockets systemd passes (socket activation) instead of
    /// --web.listen-address.
    #[arg(long = "web.systemd-socket")]
    pub systemd_socket: bool,

    /// Web configuration file (exporter-toolkit format): TLS, client certificates and basic
    /// authentication for this exporter's endpoints; re-read when it changes.
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<PathBuf>,

    /// Requests served at once at most; beyond it the server answers 503.
    #[arg(long = "web.max-requests", default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_requests: u32,

    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", default_value = "/metrics", value_parser = parse_telemetry_path)]
    pub telemetry_path: String,

    /// Only log messages at this level or above.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt)]
    pub log_format: LogFormat,
}

/// The subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Exit 0 when the exporter at --web.listen-address answers /healthz with 200, 1 when it
    /// does not (for a container's HEALTHCHECK: no shell or curl needed). Honours the web
    /// configuration file: HTTPS when it sets up TLS (the certificate is not verified: this is
    /// the exporter's own; with client_auth_type RequireAndVerifyClientCert the server's own
    /// certificate and key are presented), basic authentication with --healthcheck.username
    /// and --healthcheck.password-file unless open_health_endpoints is true.
    Healthcheck(HealthcheckArgs),
    /// Read the Hub once, exactly as a refresh of the exporter does (same rate limit,
    /// retries and filters), print every repository, tag and platform image, and exit: 0
    /// when everything was read, 1 when something failed (named on standard error), 2 for a
    /// bad flag. With --offline, print what the exporter's state file holds instead, without
    /// a request to the Hub. With --mirror, each tag's state on the mirrors too.
    // Boxed: its flags (the Hub's, the filters', the mirrors') make it far larger than the
    // other variant.
    Inventory(Box<InventoryArgs>),
}

/// The arguments of `dockerhub_exporter healthcheck`.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthcheckArgs {
    /// Address the exporter listens on (the first, when it listens on several); an address
    /// on every interface (`:9721`, `0.0.0.0`, `[::]`) is checked on the loopback.
    #[arg(long = "web.listen-address", default_value = ":9721")]
    pub listen_address: String,

    /// The exporter's web configuration file.
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<PathBuf>,

    /// User for basic authentication.
    #[arg(long = "healthcheck.username", requires = "password_file")]
    pub username: Option<String>,

    /// File holding that user's password.
    #[arg(long = "healthcheck.password-file", requires = "username")]
    pub password_file: Option<PathBuf>,

    /// How long to wait for the answer.
    #[arg(long = "healthcheck.timeout", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Credentials for logging in to the Hub; `Debug` prints the secret as `**redacted**`.
#[derive(Clone)]
pub struct Credentials {
    /// Account or organization name.
    pub username: String,
    /// Password, PAT or OAT.
    secret: String,
}

impl Credentials {
    /// The secret, for handing it to the Hub client and nowhere else.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &format_args!("**redacted**"))
            .finish()
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Which Hub to read, what of it, as whom and how fast.
    pub hub: Hub,
    /// From the start of one refresh to the start of the next.
    pub refresh_interval: Duration,
    /// Full walks at most this far apart; `None`: every refresh is a full walk.
    pub full_interval: Option<Duration>,
    /// Which repositories and tags are inventoried.
    pub filters: Filters,
    /// Which per-tag series are exported.
    pub series_level: SeriesLevel,
    /// Per-tag series only for this many most recently pushed tags per repository.
    pub max_tags_per_repository: Option<usize>,
    /// Where the inventory is kept across restarts, if anywhere.
    pub state_file: Option<PathBuf>,
    /// Where to listen: each address as given (`:9721`, `127.0.0.1:9721`, `[::1]:9721`) with
    /// the socket addresses it stands for, of which the first the system allows is bound.
    pub listen: Vec<(String, Vec<SocketAddr>)>,
    /// Listen on the sockets systemd passes instead.
    pub systemd_socket: bool,
    /// Path of the metrics endpoint.
    pub telemetry_path: String,
    /// Requests served at once at most.
    pub max_requests: usize,
    /// TLS and authentication of the endpoints, if configured.
    pub web_config_file: Option<PathBuf>,
    /// The registry's pull-limit check.
    pub pull_limit: PullLimitCheck,
    /// Webhooks and audit logs.
    pub signals: Signals,
    /// The mirror checks; none when no mirror is named.
    pub mirrors: Mirrors,
}

/// A configuration problem, naming the flag (or variable) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct ConfigError {
    /// The flag or environment variable.
    pub flag: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// A problem with `flag`.
    pub fn new(flag: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            flag,
            message: message.into(),
        }
    }
}

fn config_error(flag: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(flag, message)
}

impl Config {
    /// Validates the arguments, reading the secret from `password_env` (the value of
    /// `DOCKERHUB_PASSWORD`) when no password file is named.
    pub fn from_args(args: Args, password_env: Option<String>) -> Result<Config, ConfigError> {
        let hub = args.hub.validate(password_env, Scope::Required)?;
        if args.full_interval.is_some_and(|d| d.is_zero()) {
            return Err(config_error(
                "--refresh.full-interval",
                "must be more than 0",
            ));
        }
        if args.refresh_interval.is_zero() {
            return Err(config_error("--refresh.interval", "must be more than 0"));
        }
        let listen = args
            .listen_address
            .iter()
            .map(|a| Ok((a.clone(), parse_listen_address(a)?)))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|m| config_error("--web.listen-address", m))?;
        let signals = args.signals.validate()?;
        if signals.webhook_token.is_some() && args.telemetry_path.starts_with("/hooks/") {
            return Err(config_error(
                "--web.telemetry-path",
                "paths under /hooks/ belong to the webhook endpoint (--web.webhook-token-file)",
            ));
        }
        Ok(Config {
            hub,
            refresh_interval: args.refresh_interval,
            state_file: args.state_file,
            full_interval: args.full_interval,
            filters: args.filters,
            series_level: args.series_level,
            max_tags_per_repository: args.max_tags_per_repository,
            listen,
            systemd_socket: args.systemd_socket,
            telemetry_path: args.telemetry_path,
            max_requests: args.max_requests as usize,
            web_config_file: args.web_config_file,
            pull_limit: args.pull_limit.validate()?,
            signals,
            mirrors: args.mirrors.validate()?,
        })
    }
}

/// A regular expression that must match the whole name.
fn parse_anchored_regex(raw: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&format!("^(?:{raw})$")).map_err(|e| format!("not a regular expression: {e}"))
}

/// The secret in the file at `path` for `flag`, a trailing newline removed; warns when other
/// users may read the file.
fn read_secret(flag: &'static str, path: &std::path::Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| config_error(flag, format!("cannot read {}: {e}", path.display())))?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(config_error(flag, format!("{} is empty", path.display())));
    }
    if readable_by_others(path) {
        tracing::warn!(
            path = %path.display(),
            flag,
            "the file is readable by other users; restrict it, for example with chmod 600"
        );
    }
    Ok(secret.to_string())
}

/// Whether users other than this process's may read the file (Unix permissions): any user,
/// or a group that is not the process's own. A file readable by the process's own group, as
/// Kubernetes mounts a Secret for the pod's `fsGroup`, is not.
#[cfg(unix)]
fn readable_by_others(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // SAFETY: getegid has no preconditions and cannot fail.
    let own_group = unsafe { libc::getegid() };
    std::fs::metadata(path)
        .is_ok_and(|m| m.mode() & 0o004 != 0 || (m.mode() & 0o040 != 0 && m.gid() != own_group))
}

#[cfg(not(unix))]
fn readable_by_others(_: &std::path::Path) -> bool {
    false
}

/// Parses a listen address; a missing host (`:9721`) means every interface.
pub fn parse_listen_address(raw: &str) -> Result<Vec<SocketAddr>, String> {
    if let Some(port) = raw.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{raw:?} has no valid port"))?;
        return Ok(vec![
            SocketAddr::from(([0u16; 8], port)),
            SocketAddr::from(([0u8; 4], port)),
        ]);
    }
    raw.parse::<SocketAddr>()
        .map(|a| vec![a])
        .map_err(|_| format!("{raw:?} is not HOST:PORT (for example :9721 or 127.0.0.1:9721)"))
}

fn parse_telemetry_path(raw: &str) -> Result<String, String> {
    if !raw.starts_with('/') || raw == "/" {
        return Err("must start with / and not be / itself".into());
    }
    Ok(raw.to_string())
}

/// A duration as [`parse_duration`] reads it, or a bare `0`.
pub(crate) fn parse_interval(raw: &str) -> Result<Duration, String> {
    if raw.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_duration(raw)
}

/// Parses a duration such as `500ms`, `30s`, `15m`, `1h` or `1h30m`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let invalid = || format!("{raw:?} is not a duration (use for example 500ms, 30s, 15m, 1h)");
    let mut rest = raw.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        if digits == 0 {
            return Err(invalid());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(invalid)?),
            "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(invalid)?),
            _ => return Err(invalid()),
        };
        total = total.checked_add(unit).ok_or_else(invalid)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod properties;
