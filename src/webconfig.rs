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

use std::collections::BTreeMap;
use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Deserialize;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tracing::{info, warn};

/// How often the file and the files it names are checked for changes.
const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// A bcrypt hash of nothing anyone sends, checked for unknown users so that their refusal
/// takes as long as a wrong password's.
const DUMMY_HASH: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";

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
    http_server_config: Option<serde_yaml::Value>,
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
#[derive(Clone, Default)]
pub struct WebConfig {
    /// TLS, when configured: then plain HTTP is not served.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// User names and their bcrypt hashes; empty: no authentication.
    users: BTreeMap<String, String>,
    /// Whether `/healthz` and `/readyz` are served without authentication.
    pub open_health_endpoints: bool,
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
    pub fn load(path: &Path) -> Result<WebConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let raw: RawFile = serde_yaml::from_str(&text)
            .map_err(|e| format!("{} is not a valid web configuration: {e}", path.display()))?;
        let _ = raw.http_server_config;
        let base = path.parent().unwrap_or(Path::new("."));
        for (user, hash) in &raw.basic_auth_users {
            // A malformed hash fails verification with an error rather than `false`.
            bcrypt::verify("", hash).map_err(|e| {
                format!("basic_auth_users: the hash of {user:?} is not bcrypt: {e}")
            })?;
        }
        let tls = raw
            .tls_server_config
            .map(|t| tls_config(&t, base).map(Arc::new))
            .transpose()?;
        Ok(WebConfig {
            tls,
            users: raw.basic_auth_users,
            open_health_endpoints: raw.open_health_endpoints,
        })
    }

    /// Whether requests must authenticate.
    pub fn requires_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Checks a `user:password` pair against the configured users. Runs bcrypt (tens of
    /// milliseconds): call it off the async runtime. Unknown users are checked against a
    /// dummy hash so that they take as long to refuse as a wrong password.
    pub fn check(&self, user: &str, password: &str) -> bool {
        let (hash, known) = match self.users.get(user) {
            Some(h) => (h.as_str(), true),
            None => (DUMMY_HASH, false),
        };
        bcrypt::verify(password, hash).unwrap_or(false) && known
    }
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn tls_config(t: &RawTls, base: &Path) -> Result<rustls::ServerConfig, String> {
    let cert_file = resolve(base, &t.cert_file);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|i| i.collect())
        .map_err(|e| format!("tls_server_config.cert_file {}: {e}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config.cert_file {}: no certificate",
            cert_file.display()
        ));
    }
    let key_file = resolve(base, &t.key_file);
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| format!("tls_server_config.key_file {}: {e}", key_file.display()))?;
    let versions: &[&'static rustls::SupportedProtocolVersion] =
        match t.min_version.as_deref().unwrap_or("TLS12") {
            "TLS12" => &[&rustls::version::TLS13, &rustls::version::TLS12],
            "TLS13" => &[&rustls::version::TLS13],
            other => {
                return Err(format!(
                    "tls_server_config.min_version {other:?}: use TLS12 or TLS13"
                ));
            }
        };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let Some(ca) = &t.client_ca_file else {
                return Err(format!(
                    "tls_server_config: client_auth_type {auth} needs client_ca_file"
                ));
            };
            let ca = resolve(base, ca);
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&ca)
                .map_err(|e| format!("tls_server_config.client_ca_file {}: {e}", ca.display()))?
            {
                let cert = cert.map_err(|e| {
                    format!("tls_server_config.client_ca_file {}: {e}", ca.display())
                })?;
                roots.add(cert).map_err(|e| {
                    format!("tls_server_config.client_ca_file {}: {e}", ca.display())
                })?;
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
            let verifier = verifier
                .build()
                .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type {other:?}: use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            ));
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        format!("tls_server_config: the certificate and key do not go together: {e}")
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The web configuration in force, re-read when its file or a file it names changes.
#[derive(Debug, Clone)]
pub struct Watched {
    path: PathBuf,
    current: Arc<RwLock<Arc<WebConfig>>>,
}

impl Watched {
    /// Loads the file; an error here is a configuration error.
    pub fn load(path: &Path) -> Result<Watched, String> {
        let config = WebConfig::load(path)?;
        Ok(Watched {
            path: path.to_path_buf(),
            current: Arc::new(RwLock::new(Arc::new(config))),
        })
    }

    /// A configuration without TLS or authentication, for no file.
    pub fn open() -> Watched {
        Watched {
            path: PathBuf::new(),
            current: Arc::new(RwLock::new(Arc::new(WebConfig::default()))),
        }
    }

    /// The configuration in force now.
    pub fn current(&self) -> Arc<WebConfig> {
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
    if let Ok(raw) = serde_yaml::from_slice::<RawFile>(&text)
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

    #[test]
    fn users_are_checked_against_their_bcrypt_hashes() {
        let dir = temp_dir("users");
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let path = write(
            &dir,
            "web.yml",
            &format!("basic_auth_users:\n  prom: {hash}\n"),
        );
        let c = WebConfig::load(&path).unwrap();
        assert!(c.requires_auth());
        assert!(c.check("prom", "s3cret"));
        assert!(!c.check("prom", "wrong"));
        assert!(!c.check("nobody", "s3cret"));
        assert!(c.tls.is_none());
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
            let e = WebConfig::load(&path).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
