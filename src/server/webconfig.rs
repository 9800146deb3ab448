//! The web configuration file (`--web.config.file`): TLS and basic authentication for our own
//! endpoints, in the format of the Prometheus exporter toolkit that operators already write
//! for node_exporter and friends.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # relative paths are relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
//!   client_ca_file: clients-ca.crt
//!   min_version: TLS12             # or TLS13
//! basic_auth_users:
//!   prometheus: $2y$10$...         # bcrypt, as made by htpasswd -nBC 10
//! open_health_endpoints: true      # ours: /healthz and /readyz without authentication
//! ```
//!
//! This module parses and validates the file and everything it names, and builds what the
//! server needs; [`Watched`] re-reads it when it or a file it names changes, keeping the last
//! good configuration when the new one is broken. It does not serve anything itself.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tracing::{info, warn};

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
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS settings do not go together.
    #[error("tls_server_config: {0}")]
    Tls(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    #[serde(default)]
    open_health_endpoints: bool,
    /// Accepted for compatibility with the toolkit's files; its settings do not apply here.
    #[serde(default)]
    #[allow(dead_code)]
    http_server_config: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    min_version: Option<String>,
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
            .finish()
    }
}

impl WebConfig {
    /// Reads and validates the file at `path` and every file it names.
    pub(crate) fn load(path: &Path) -> Result<WebConfig, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let raw = parse(&text).map_err(|reason| Error::Syntax {
            path: path.to_path_buf(),
            reason,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut cost = None;
        for (user, hash) in &raw.basic_auth_users {
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
        let tls = raw
            .tls_server_config
            .as_ref()
            .map(|t| tls_config(t, base).map(Arc::new))
            .transpose()?;
        let own_identity = raw
            .tls_server_config
            .as_ref()
            .filter(|t| t.client_auth_type.as_deref() == Some("RequireAndVerifyClientCert"))
            .map(|t| {
                let read = |field: &'static str, p: &Path| {
                    let path = resolve(base, p);
                    std::fs::read(&path).map_err(|e| Error::TlsFile {
                        field,
                        path,
                        reason: e.to_string(),
                    })
                };
                let mut pem = read("cert_file", &t.cert_file)?;
                pem.push(b'\n');
                pem.extend(read("key_file", &t.key_file)?);
                Ok::<_, Error>(pem)
            })
            .transpose()?;
        Ok(WebConfig {
            tls,
            own_identity,
            users: raw.basic_auth_users,
            open_health_endpoints: raw.open_health_endpoints,
            dummy,
            remembered: Mutex::default(),
        })
    }

    /// The server's own certificate chain and key (PEM) when clients must present a
    /// certificate; what the health check presents.
    pub(crate) fn own_identity_pem(&self) -> Option<&[u8]> {
        self.own_identity.as_deref()
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
/// and column but quotes none of the file, which holds password hashes and ends up in logs.
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

fn tls_config(t: &RawTls, base: &Path) -> Result<rustls::ServerConfig, Error> {
    let cert_file = resolve(base, &t.cert_file);
    let file_error = |field: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |reason: String| Error::TlsFile {
            field,
            path,
            reason,
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|i| i.collect())
        .map_err(|e| file_error("cert_file", &cert_file)(e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error("cert_file", &cert_file)("no certificate".into()));
    }
    let key_file = resolve(base, &t.key_file);
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| file_error("key_file", &key_file)(e.to_string()))?;
    let versions: &[&'static rustls::SupportedProtocolVersion] =
        match t.min_version.as_deref().unwrap_or("TLS12") {
            "TLS12" => &[&rustls::version::TLS13, &rustls::version::TLS12],
            "TLS13" => &[&rustls::version::TLS13],
            other => {
                return Err(Error::Tls(format!(
                    "min_version {other:?}: use TLS12 or TLS13"
                )));
            }
        };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| Error::Tls(e.to_string()))?;
    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let Some(ca) = &t.client_ca_file else {
                return Err(Error::Tls(format!(
                    "client_auth_type {auth} needs client_ca_file"
                )));
            };
            let ca = resolve(base, ca);
            let ca_error = |e: String| file_error("client_ca_file", &ca)(e);
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&ca).map_err(|e| ca_error(e.to_string()))? {
                let cert = cert.map_err(|e| ca_error(e.to_string()))?;
                roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = if auth == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|e| ca_error(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        other => {
            return Err(Error::Tls(format!(
                "client_auth_type {other:?}: use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            )));
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(format!("the certificate and key do not go together: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
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
        for p in [
            Some(&t.cert_file),
            Some(&t.key_file),
            t.client_ca_file.as_ref(),
        ]
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
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dhx-web-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A folder with a web configuration whose one user, `prom`, has the password `s3cret`.
    fn prom_with_password(name: &str) -> (PathBuf, PathBuf) {
        let dir = temp_dir(name);
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let path = write(
            &dir,
            "web.yml",
            &format!("basic_auth_users:\n  prom: {hash}\n"),
        );
        (dir, path)
    }

    #[test]
    fn users_are_checked_against_their_bcrypt_hashes() {
        let (dir, path) = prom_with_password("users");
        let c = WebConfig::load(&path).unwrap();
        assert!(c.requires_auth());
        assert!(c.check("prom", "s3cret"));
        assert!(!c.check("prom", "wrong"));
        assert!(!c.check("nobody", "s3cret"));
        assert!(c.tls.is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn accepted_credentials_are_remembered_and_refused_ones_are_not() {
        let (dir, path) = prom_with_password("remembered");
        let c = WebConfig::load(&path).unwrap();
        assert!(!c.is_remembered("prom", "s3cret"), "nothing before a check");
        assert!(!c.check("prom", "wrong"));
        assert!(!c.check("nobody", "s3cret"));
        assert!(!c.is_remembered("prom", "wrong"));
        assert!(!c.is_remembered("nobody", "s3cret"));
        assert!(c.check("prom", "s3cret"));
        assert!(c.is_remembered("prom", "s3cret"));
        assert!(
            !c.is_remembered("prom", "s3cret "),
            "only the exact password"
        );
        assert!(!c.is_remembered("prom2", "s3cret"), "only for its user");
        // A reloaded configuration (a new hash, perhaps) starts with nothing remembered.
        let reloaded = WebConfig::load(&path).unwrap();
        assert!(!reloaded.is_remembered("prom", "s3cret"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_users_are_checked_against_a_hash_of_the_highest_cost_configured() {
        let dir = temp_dir("dummy");
        let cheap = bcrypt::hash("a", 4).unwrap();
        let dearer = bcrypt::hash("b", 6).unwrap();
        let path = write(
            &dir,
            "web.yml",
            &format!("basic_auth_users:\n  cheap: {cheap}\n  dearer: {dearer}\n"),
        );
        let c = WebConfig::load(&path).unwrap();
        let dummy: bcrypt::HashParts = c.dummy.parse().unwrap();
        assert_eq!(dummy.get_cost(), 6);
        assert!(!c.check("nobody", ""), "the dummy hash admits no one");
        assert!(c.check("dearer", "b") && c.check("cheap", "a"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn broken_files_are_refused_with_a_reason() {
        let dir = temp_dir("broken");
        for (text, says) in [
            ("basic_auth_users: [", "not a valid web configuration"),
            ("basic_auth_users:\n  prom: plaintext\n", "not bcrypt"),
            (
                "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
                "cert_file",
            ),
            ("unknown_key: 1\n", "unknown field"),
        ] {
            let path = write(&dir, "web.yml", text);
            let e = WebConfig::load(&path).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[cfg(test)]
mod properties;
