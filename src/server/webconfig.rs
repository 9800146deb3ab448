//! The web configuration file (`--web.config.file`): TLS, client certificates, response
//! headers and basic authentication for our own endpoints, in the format of the Prometheus
//! exporter toolkit, so that a file written for node_exporter works unchanged.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # or cert: inline PEM; relative paths are relative to this file
//!   key_file: server.key           # or key: inline PEM
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: clients-ca.crt # or client_ca: inline PEM
//!   client_allowed_sans: [scraper.example.com]
//!   min_version: TLS12             # TLS10 and TLS11 mean TLS12 here
//!   max_version: TLS13
//!   cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]   # Go's names; TLS 1.2 only
//!   prefer_server_cipher_suites: true
//!   curve_preferences: [X25519, CurveP256]
//! http_server_config:
//!   http2: true                    # a warning: we serve HTTP/1.1
//!   headers: {X-Frame-Options: deny}
//! rate_limit: {interval: 1s, burst: 5}   # a warning: --web.max-requests bounds load here
//! basic_auth_users:
//!   prometheus: $2y$10$...         # bcrypt, as made by htpasswd -nBC 10
//! open_health_endpoints: true      # ours: /healthz and /readyz without authentication
//! ```
//!
//! This module parses and validates the file and everything it names, and builds what the
//! server needs: the rustls configuration (with a client certificate verifier for each
//! `client_auth_type` and for `client_allowed_sans`), the users and the response headers.
//! [`Watched`] re-reads it when it or a file it names changes, keeping the last good
//! configuration when the new one is broken. A setting of the toolkit that cannot apply here
//! is a logged warning, not an error; a key the toolkit does not have is an error. It does not
//! serve anything itself.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash as _, Hasher as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_rustls::rustls;
use tokio_rustls::rustls::crypto::{CryptoProvider, SupportedKxGroup, WebPkiSupportedAlgorithms};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme,
    SupportedCipherSuite, SupportedProtocolVersion,
};
use tracing::{info, warn};

mod client_certs;
mod tls;

use client_certs::*;
use tls::*;

/// How often the file and the files it names are checked for changes.
const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// The salt of the hash checked for unknown users: any fixed value does, the hash matches no
/// password anyone sends.
const DUMMY_SALT: [u8; 16] = *b"dockerhub_export";

/// The costs bcrypt defines (the logarithm of its rounds).
const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// How many successful logins are remembered at most; beyond, the memory starts afresh. A
/// handful of scrapers log in with a handful of credentials, so this is never reached in use.
const REMEMBERED_LOGINS: usize = 1024;

/// The headers the exporter toolkit lets `http_server_config.headers` set, and the values it
/// accepts for each (empty: any value). The toolkit keeps this list short on purpose.
const ALLOWED_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// What went wrong with the web configuration file or a file it names.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML of the expected shape.
    #[error("{} is not a valid web configuration: {reason}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// A user's hash is not a bcrypt hash.
    #[error("basic_auth_users: the hash of {user:?} is not bcrypt: {reason}")]
    Hash {
        /// The user.
        user: String,
        /// What bcrypt said.
        reason: String,
    },
    /// A file named in `tls_server_config` could not be used.
    #[error("tls_server_config.{field} {}: {reason}", path.display())]
    TlsFile {
        /// The setting naming the file (`cert_file`, `key_file`, `client_ca_file`).
        field: &'static str,
        /// The file, resolved against the configuration's directory.
        path: PathBuf,
        /// What is wrong with it; never a quote of a key.
        reason: String,
    },
    /// PEM given inline in `tls_server_config` could not be used.
    #[error("tls_server_config.{field}: {reason}")]
    TlsInline {
        /// The setting (`cert`, `key`, `client_ca`).
        field: &'static str,
        /// What is wrong with it; never a quote of a key.
        reason: String,
    },
    /// `min_version` or `max_version` names no TLS version, or one not offered here.
    #[error("tls_server_config.{field} {value:?}: {reason}")]
    TlsVersion {
        /// `min_version` or `max_version`.
        field: &'static str,
        /// What the file says.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// `cipher_suites` names a suite the exporter toolkit does not accept.
    #[error(
        "tls_server_config.cipher_suites: unknown cipher suite {name:?}; use Go's names, such as TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    )]
    CipherSuite {
        /// The name in the file.
        name: String,
    },
    /// `curve_preferences` names a curve the exporter toolkit does not know.
    #[error(
        "tls_server_config.curve_preferences: unknown curve {name:?}; use CurveP256, CurveP384, CurveP521, X25519 or X25519MLKEM768"
    )]
    Curve {
        /// The name in the file.
        name: String,
    },
    /// A header of `http_server_config.headers` cannot be sent.
    #[error("http_server_config.headers: {name:?} {reason}")]
    Header {
        /// The header's name as the file gives it.
        name: String,
        /// Why it cannot be sent.
        reason: String,
    },
    /// The TLS settings do not go together.
    #[error("tls_server_config: {0}")]
    Tls(String),
}

/// A value of the file that must not be printed (a private key, a password hash): `Debug`
/// shows `**redacted**`.
#[derive(Deserialize, Default)]
#[serde(transparent)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("**redacted**")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, Secret>,
    #[serde(default)]
    open_health_endpoints: bool,
    http_server_config: Option<RawHttp>,
    rate_limit: Option<RawRateLimit>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<Secret>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, Option<String>>>,
}

/// The toolkit's rate limiter; accepted, and a warning: `--web.max-requests` bounds the load.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawRateLimit {
    interval: Option<serde::de::IgnoredAny>,
    burst: Option<serde::de::IgnoredAny>,
}

/// A validated web configuration.
#[derive(Default)]
pub(crate) struct WebConfig {
    /// TLS, when configured: then plain HTTP is not served.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// User names and their bcrypt hashes; empty: no authentication.
    users: BTreeMap<String, String>,
    /// Whether `/healthz` and `/readyz` are served without authentication.
    pub(crate) open_health_endpoints: bool,
    /// The server's certificate chain and key (PEM), kept when clients must present a
    /// certificate, so that the health check can present the server's own.
    own_identity: Option<Vec<u8>>,
    /// The headers of `http_server_config.headers`, set on every response.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// A hash of the highest cost among the users', checked for unknown users.
    dummy: String,
    /// Users and SHA-256 digests of passwords that bcrypt accepted under this configuration,
    /// so that a scraper's every request does not cost tens of milliseconds of CPU. Only
    /// successes are kept: a wrong password is checked by bcrypt every time.
    remembered: Mutex<HashSet<(String, [u8; 32])>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("open_health_endpoints", &self.open_health_endpoints)
            .field("headers", &self.headers)
            .finish()
    }
}

impl WebConfig {
    /// Reads and validates the file at `path` and every file it names, and logs a warning
    /// for each setting that cannot apply here.
    pub(crate) fn load(path: &Path) -> Result<WebConfig, Error> {
        let (config, warnings) = WebConfig::load_with_warnings(path)?;
        for warning in &warnings {
            warn!(path = %path.display(), "web configuration: {warning}");
        }
        Ok(config)
    }

    /// [`WebConfig::load`], returning the warnings instead of logging them.
    fn load_with_warnings(path: &Path) -> Result<(WebConfig, Vec<String>), Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let raw = parse(&text).map_err(|reason| Error::Syntax {
            path: path.to_path_buf(),
            reason,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut warnings = Vec::new();
        let mut cost = None;
        for (user, Secret(hash)) in &raw.basic_auth_users {
            let parts: bcrypt::HashParts =
                hash.parse().map_err(|e: bcrypt::BcryptError| Error::Hash {
                    user: user.clone(),
                    reason: e.to_string(),
                })?;
            if !BCRYPT_COSTS.contains(&parts.get_cost()) {
                return Err(Error::Hash {
                    user: user.clone(),
                    reason: format!("cost {} is not a bcrypt cost", parts.get_cost()),
                });
            }
            cost = cost.max(Some(parts.get_cost()));
        }
        // Unknown users are checked against a hash of the highest cost configured, so that
        // they take as long to refuse as a wrong password of the slowest user.
        let dummy = match cost {
            Some(cost) => bcrypt::hash_with_salt("", cost, DUMMY_SALT)
                .map(|h| h.format_for_version(bcrypt::Version::TwoB))
                .map_err(|e| Error::Hash {
                    user: String::new(),
                    reason: e.to_string(),
                })?,
            None => String::new(),
        };
        let (tls, own_identity) = match &raw.tls_server_config {
            Some(t) => {
                let (config, identity) = tls_config(t, base, &mut warnings)?;
                (Some(Arc::new(config)), identity)
            }
            None => (None, None),
        };
        let headers = match &raw.http_server_config {
            Some(http) => {
                if http.http2 == Some(true) {
                    warnings.push(
                        "http_server_config.http2: HTTP/2 is not offered here; clients speak \
                         HTTP/1.1"
                            .to_string(),
                    );
                }
                response_headers(http.headers.as_ref().unwrap_or(&BTreeMap::new()))?
            }
            None => Vec::new(),
        };
        if raw.rate_limit.is_some() {
            warnings.push(
                "rate_limit does not apply here; --web.max-requests bounds the requests served \
                 at once"
                    .to_string(),
            );
        }
        let config = WebConfig {
            tls,
            own_identity,
            headers,
            users: raw
                .basic_auth_users
                .into_iter()
                .map(|(user, Secret(hash))| (user, hash))
                .collect(),
            open_health_endpoints: raw.open_health_endpoints,
            dummy,
            remembered: Mutex::default(),
        };
        Ok((config, warnings))
    }

    /// The server's own certificate chain and key (PEM) when clients must present a
    /// certificate; what the health check presents.
    pub(crate) fn own_identity_pem(&self) -> Option<&[u8]> {
        self.own_identity.as_deref()
    }

    /// The headers of `http_server_config.headers`, to set on every response.
    pub(crate) fn response_headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// Whether requests must authenticate.
    pub(crate) fn requires_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether bcrypt already accepted this `user:password` pair under this configuration;
    /// cheap, so it may run on the async runtime.
    pub(crate) fn is_remembered(&self, user: &str, password: &str) -> bool {
        let key = (user.to_string(), digest(password));
        self.remembered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
    }

    /// Checks a `user:password` pair against the configured users and remembers it when
    /// bcrypt accepts it. Runs bcrypt (tens of milliseconds): call it off the async runtime.
    /// Unknown users are checked against a dummy hash of the highest cost configured, so that
    /// they take as long to refuse as a wrong password (of the slowest user, where costs
    /// differ).
    pub(crate) fn check(&self, user: &str, password: &str) -> bool {
        let (hash, known) = match self.users.get(user) {
            Some(h) => (h.as_str(), true),
            None => (self.dummy.as_str(), false),
        };
        let accepted = bcrypt::verify(password, hash).unwrap_or(false) && known;
        if accepted {
            let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
            if remembered.len() >= REMEMBERED_LOGINS {
                remembered.clear();
            }
            remembered.insert((user.to_string(), digest(password)));
        }
        accepted
    }
}

/// The SHA-256 digest of a password: what is remembered of it, never the password itself.
fn digest(password: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, password.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The file's YAML, in the shape of the exporter toolkit's files. The error names the line
/// and column but quotes none of the file, which holds password hashes and keys and ends up
/// in logs.
fn parse(text: &str) -> Result<RawFile, String> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| e.to_string())
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The headers of `http_server_config.headers`, checked as the toolkit checks them: only the
/// names it lists (in any case), only the values it lists where it lists some. An empty value
/// leaves the header unset, as in the toolkit's documentation.
fn response_headers(
    configured: &BTreeMap<String, Option<String>>,
) -> Result<Vec<(HeaderName, HeaderValue)>, Error> {
    let mut headers = Vec::new();
    for (name, value) in configured {
        let error = |reason: String| Error::Header {
            name: name.clone(),
            reason,
        };
        let Some((canonical, accepted)) = ALLOWED_HEADERS
            .iter()
            .find(|(allowed, _)| allowed.eq_ignore_ascii_case(name))
        else {
            let names = ALLOWED_HEADERS.map(|(n, _)| n).join(", ");
            return Err(error(format!(
                "cannot be configured; the exporter toolkit allows {names}"
            )));
        };
        if configured
            .keys()
            .any(|other| other != name && other.eq_ignore_ascii_case(name))
        {
            return Err(error(
                "is given twice (header names ignore case)".to_string(),
            ));
        }
        let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
            continue;
        };
        if !accepted.is_empty() && !accepted.iter().any(|a| a.eq_ignore_ascii_case(value)) {
            return Err(error(format!(
                "{value:?} is not accepted; use {}",
                accepted.join(" or ")
            )));
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| error(format!("{value:?} is not a valid header value")))?;
        // The names above are all valid header names.
        let name = HeaderName::from_bytes(canonical.as_bytes())
            .map_err(|e| error(format!("is not a valid header name: {e}")))?;
        headers.push((name, value));
    }
    Ok(headers)
}

/// The web configuration in force, re-read when its file or a file it names changes.
#[derive(Debug, Clone)]
pub(crate) struct Watched {
    path: PathBuf,
    current: Arc<RwLock<Arc<WebConfig>>>,
    /// Passwords checked by bcrypt at once at most: half the processors, so that a flood of
    /// wrong passwords leaves the others to serve scrapes.
    checks: Arc<Semaphore>,
}

/// Passwords checked by bcrypt at once at most, see [`Watched::admits`].
fn bcrypt_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(2))
}

impl Watched {
    /// Loads the file; an error here is a configuration error.
    pub(crate) fn load(path: &Path) -> Result<Watched, Error> {
        let config = WebConfig::load(path)?;
        Ok(Watched {
            path: path.to_path_buf(),
            current: Arc::new(RwLock::new(Arc::new(config))),
            checks: Arc::new(Semaphore::new(bcrypt_threads())),
        })
    }

    /// A configuration without TLS or authentication, for no file.
    pub(crate) fn open() -> Watched {
        Watched {
            path: PathBuf::new(),
            current: Arc::new(RwLock::new(Arc::new(WebConfig::default()))),
            checks: Arc::new(Semaphore::new(bcrypt_threads())),
        }
    }

    /// Whether `config` (the configuration in force when the request came) admits the user
    /// and password. A password remembered as accepted answers at once; any other waits its
    /// turn for one of the few bcrypt threads, first come first served, and never holds
    /// anything else while it waits.
    pub(crate) async fn admits(&self, config: &Arc<WebConfig>, user: &str, password: &str) -> bool {
        if config.is_remembered(user, password) {
            return true;
        }
        let Ok(_turn) = self.checks.acquire().await else {
            return false;
        };
        let (config, user, password) = (Arc::clone(config), user.to_string(), password.to_string());
        // bcrypt takes tens of milliseconds by design: keep it off the runtime's threads.
        tokio::task::spawn_blocking(move || config.check(&user, &password))
            .await
            .unwrap_or(false)
    }

    /// The configuration in force now.
    pub(crate) fn current(&self) -> Arc<WebConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Re-reads the configuration whenever the file or a file it names changes, until the
    /// task is dropped. A broken new version is logged once and the last good one stays.
    pub async fn watch(self) {
        if self.path.as_os_str().is_empty() {
            return;
        }
        let mut seen = fingerprint(&self.path);
        let mut ticker = tokio::time::interval(RELOAD_EVERY);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let now = fingerprint(&self.path);
            if now == seen {
                continue;
            }
            seen = now;
            let path = self.path.clone();
            let loaded = tokio::task::spawn_blocking(move || WebConfig::load(&path)).await;
            match loaded {
                Ok(Ok(config)) => {
                    *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
                    info!(path = %self.path.display(), "web configuration reloaded");
                }
                Ok(Err(e)) => warn!(
                    path = %self.path.display(),
                    error = %e,
                    "the changed web configuration is broken; keeping the last good one"
                ),
                Err(e) => warn!(error = %e, "reloading the web configuration failed"),
            }
        }
    }
}

/// A hash of the file and of every file it names, to notice certificate rotation too.
fn fingerprint(path: &Path) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let text = std::fs::read(path).unwrap_or_default();
    text.hash(&mut hasher);
    if let Ok(raw) = std::str::from_utf8(&text)
        .map_err(|e| e.to_string())
        .and_then(parse)
        && let Some(t) = raw.tls_server_config
    {
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&t.cert_file, &t.key_file, &t.client_ca_file]
            .into_iter()
            .flatten()
        {
            std::fs::read(resolve(base, p))
                .unwrap_or_default()
                .hash(&mut hasher);
        }
    }
    hasher.finish()
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
