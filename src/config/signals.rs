//! The flags of the change signals that re-read one repository between refreshes: Docker
//! Hub's webhooks (`--web.webhook-token-file`), its audit logs (`--hub.audit-log.interval`),
//! and how close together two re-reads of one repository may be
//! (`--refresh.repository-min-interval`). Like the rest of `config`, a leaf: it validates
//! values and reads the webhook's secret, and knows nothing of what uses them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, parse_interval, read_secret};

/// Tokens shorter than this are accepted with a warning: the token is the webhook's only
/// protection, so it should not be guessable.
const SHORT_TOKEN: usize = 16;

/// The change-signal flags as given.
#[derive(Debug, Clone, clap::Args)]
pub struct SignalArgs {
    /// File holding the secret token of the Docker Hub webhook endpoint (a trailing newline
    /// is ignored): with it, `POST /hooks/dockerhub/<token>` re-reads the repository a push
    /// names. Letters, digits, `-`, `_`, `.` and `~` only; for example the output of
    /// `openssl rand -hex 32`.
    #[arg(long = "web.webhook-token-file", value_name = "FILE")]
    pub webhook_token_file: Option<PathBuf>,

    /// Time between two reads of each namespace's audit log (Docker Team and Business
    /// plans), whose tag and repository events re-read the repository they name (for
    /// example 1m); 0 turns the audit log off.
    #[arg(long = "hub.audit-log.interval", default_value = "0", value_parser = parse_interval)]
    pub audit_log_interval: Duration,

    /// Re-reads of one repository asked for (by a webhook or the audit log) within this time
    /// of its last re-read are folded into one, done when the time is up.
    #[arg(long = "refresh.repository-min-interval", default_value = "30s", value_parser = parse_interval)]
    pub repository_min_interval: Duration,
}

/// The secret path segment of the webhook endpoint; `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookToken(String);

impl WebhookToken {
    /// The token, for the endpoint's comparison and nowhere else.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookToken(**redacted**)")
    }
}

/// The validated change signals.
#[derive(Debug, Clone)]
pub struct Signals {
    /// The webhook endpoint's token; `None`: no webhook endpoint.
    pub webhook_token: Option<WebhookToken>,
    /// Time between two reads of each audit log; `None`: audit logs are not read.
    pub audit_log_interval: Option<Duration>,
    /// Re-reads of one repository at least this far apart.
    pub repository_min_interval: Duration,
}

impl SignalArgs {
    /// Reads the webhook token and turns an interval of 0 into "off".
    pub(super) fn validate(self) -> Result<Signals, ConfigError> {
        let webhook_token = self
            .webhook_token_file
            .as_deref()
            .map(read_webhook_token)
            .transpose()?;
        Ok(Signals {
            webhook_token,
            audit_log_interval: (!self.audit_log_interval.is_zero())
                .then_some(self.audit_log_interval),
            repository_min_interval: self.repository_min_interval,
        })
    }
}

/// The token in `path`: one path segment that needs no escaping.
fn read_webhook_token(path: &std::path::Path) -> Result<WebhookToken, ConfigError> {
    let flag = "--web.webhook-token-file";
    let token = read_secret(flag, path)?;
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
    {
        return Err(ConfigError::new(
            flag,
            format!(
                "{} holds characters other than letters, digits, '-', '_', '.' and '~' (a token can be made with: openssl rand -hex 32)",
                path.display()
            ),
        ));
    }
    if token.len() < SHORT_TOKEN {
        tracing::warn!(
            path = %path.display(),
            "the webhook token is shorter than {SHORT_TOKEN} characters; as the webhook's only protection it should be long and random (openssl rand -hex 32)"
        );
    }
    Ok(WebhookToken(token))
}
