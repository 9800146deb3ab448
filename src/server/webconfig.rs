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

/// The cipher suites the exporter toolkit accepts: the names and IANA numbers of Go's
/// `tls.CipherSuites()` (Go leaves out the insecure ones, and so does the toolkit), and
/// whether the suite is a TLS 1.3 one. Go ignores `cipher_suites` for TLS 1.3, and so do we.
const GO_CIPHER_SUITES: [(&str, u16, bool); 17] = [
    ("TLS_RSA_WITH_AES_128_CBC_SHA", 0x002f, false),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", 0x0035, false),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009c, false),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009d, false),
    ("TLS_AES_128_GCM_SHA256", 0x1301, true),
    ("TLS_AES_256_GCM_SHA384", 0x1302, true),
    ("TLS_CHACHA20_POLY1305_SHA256", 0x1303, true),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xc009, false),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xc00a, false),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xc013, false),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xc014, false),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xc02b, false),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xc02c, false),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xc02f, false),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xc030, false),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca8, false),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xcca9,
        false,
    ),
];

/// The headers the exporter toolkit lets `http_server_config.headers` set, and the values it
/// accepts for each (empty: any value). The toolkit keeps this list short on purpose.
const ALLOWED_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// The OID of the subject alternative name extension (2.5.29.17), DER-encoded.
const SUBJECT_ALT_NAME_OID: [u8; 3] = [0x55, 0x1d, 0x11];

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

/// PEM text from a setting of the file or from a file it names, and which it was, for errors.
struct Pem {
    text: Vec<u8>,
    origin: Origin,
}

/// Where a PEM text came from.
enum Origin {
    /// Inline, under this setting.
    Inline(&'static str),
    /// From this file, named by this setting.
    File(&'static str, PathBuf),
}

impl Origin {
    /// An error about the PEM text from here.
    fn error(&self, reason: impl Into<String>) -> Error {
        match self {
            Origin::Inline(field) => Error::TlsInline {
                field,
                reason: reason.into(),
            },
            Origin::File(field, path) => Error::TlsFile {
                field,
                path: path.clone(),
                reason: reason.into(),
            },
        }
    }
}

/// The PEM text given inline (`cert`, `key`, `client_ca`) or in a file (`cert_file`, ...);
/// `None` when neither is set. Empty values count as unset, and a file wins over inline text,
/// as in the toolkit.
fn read_pem(
    inline: Option<&str>,
    inline_field: &'static str,
    file: Option<&Path>,
    file_field: &'static str,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<Pem>, Error> {
    let inline = inline.filter(|text| !text.is_empty());
    match (inline, file.filter(|p| !p.as_os_str().is_empty())) {
        (inline, Some(file)) => {
            if inline.is_some() {
                warnings.push(format!(
                    "tls_server_config: both {inline_field} and {file_field} are set; \
                     {file_field} is used"
                ));
            }
            let path = resolve(base, file);
            match std::fs::read(&path) {
                Ok(text) => Ok(Some(Pem {
                    text,
                    origin: Origin::File(file_field, path),
                })),
                Err(e) => Err(Origin::File(file_field, path).error(e.to_string())),
            }
        }
        (Some(text), None) => Ok(Some(Pem {
            text: text.as_bytes().to_vec(),
            origin: Origin::Inline(inline_field),
        })),
        (None, None) => Ok(None),
    }
}

/// The certificates of a PEM text, at least one.
fn certificates(pem: &Pem) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem.text)
        .collect::<Result<_, _>>()
        .map_err(|e| pem.origin.error(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem.origin.error("no certificate"));
    }
    Ok(certs)
}

/// Why a private key cannot be read, without quoting anything of its text.
fn key_reason(e: &pem::Error) -> String {
    match e {
        pem::Error::NoItemsFound => "no private key".to_string(),
        pem::Error::Io(e) => e.to_string(),
        _ => "not a readable PEM private key".to_string(),
    }
}

/// `client_auth_type`: whether clients are asked for a certificate, must send one, and
/// whether it must chain to the client CA (Go's `tls.ClientAuthType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn parse(text: Option<&str>) -> Result<ClientAuth, Error> {
        Ok(match text.unwrap_or_default() {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            // The toolkit still takes the old name.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            other => {
                return Err(Error::Tls(format!(
                    "client_auth_type {other:?}: use NoClientCert, RequestClientCert, \
                     RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                )));
            }
        })
    }

    /// Whether a client without a certificate is refused.
    fn mandatory(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }

    /// Whether a certificate must chain to the client CA.
    fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// A TLS version as the toolkit names it, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TlsVersion {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    fn parse(field: &'static str, text: Option<&str>, default: TlsVersion) -> Result<Self, Error> {
        Ok(match text {
            None => default,
            Some("TLS10") => TlsVersion::Tls10,
            Some("TLS11") => TlsVersion::Tls11,
            Some("TLS12") => TlsVersion::Tls12,
            Some("TLS13") => TlsVersion::Tls13,
            Some(other) => {
                return Err(Error::TlsVersion {
                    field,
                    value: other.to_string(),
                    reason: "use TLS10, TLS11, TLS12 or TLS13".to_string(),
                });
            }
        })
    }
}

/// The rustls configuration of `tls_server_config`, and the server's own certificate and key
/// (PEM) when clients must present a certificate.
fn tls_config(
    t: &RawTls,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<(rustls::ServerConfig, Option<Vec<u8>>), Error> {
    let cert = read_pem(
        t.cert.as_deref(),
        "cert",
        t.cert_file.as_deref(),
        "cert_file",
        base,
        warnings,
    )?
    .ok_or_else(|| Error::Tls("missing one of cert or cert_file".to_string()))?;
    let key = read_pem(
        t.key.as_ref().map(|Secret(key)| key.as_str()),
        "key",
        t.key_file.as_deref(),
        "key_file",
        base,
        warnings,
    )?
    .ok_or_else(|| Error::Tls("missing one of key or key_file".to_string()))?;
    let certs = certificates(&cert)?;
    let private_key =
        PrivateKeyDer::from_pem_slice(&key.text).map_err(|e| key.origin.error(key_reason(&e)))?;

    let (tls12, tls13) = versions(t, warnings)?;
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    let (suites, tls12) = cipher_suites(t, &provider, tls12, tls13, warnings)?;
    provider.cipher_suites = suites;
    let (groups, tls12) = key_exchange_groups(t, tls12, tls13, warnings)?;
    if let Some(groups) = groups {
        provider.kx_groups = groups;
    }
    let versions: Vec<&'static SupportedProtocolVersion> = [
        tls13.then_some(&rustls::version::TLS13),
        tls12.then_some(&rustls::version::TLS12),
    ]
    .into_iter()
    .flatten()
    .collect();
    let provider = Arc::new(provider);
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| Error::Tls(e.to_string()))?;

    let auth = ClientAuth::parse(t.client_auth_type.as_deref())?;
    let allowed_sans = t.client_allowed_sans.clone();
    if allowed_sans.is_some() && !auth.mandatory() {
        // As the toolkit: with the other types a client may send no certificate at all,
        // leaving no name to check.
        return Err(Error::Tls(
            "client_allowed_sans needs client_auth_type RequireAnyClientCert or \
             RequireAndVerifyClientCert"
                .to_string(),
        ));
    }
    if allowed_sans.as_ref().is_some_and(Vec::is_empty) {
        return Err(Error::Tls(
            "client_allowed_sans is empty and would admit no client".to_string(),
        ));
    }
    let builder = if auth == ClientAuth::NoClientCert {
        // The toolkit refuses a client CA here; earlier versions of this exporter ignored
        // it, so it stays accepted, unread, with a warning.
        for (field, set) in [
            (
                "client_ca",
                t.client_ca.as_ref().is_some_and(|c| !c.is_empty()),
            ),
            (
                "client_ca_file",
                t.client_ca_file
                    .as_ref()
                    .is_some_and(|p| !p.as_os_str().is_empty()),
            ),
        ] {
            if set {
                warnings.push(format!(
                    "tls_server_config.{field} is not used: client_auth_type is NoClientCert"
                ));
            }
        }
        builder.with_no_client_auth()
    } else {
        let ca = read_pem(
            t.client_ca.as_deref(),
            "client_ca",
            t.client_ca_file.as_deref(),
            "client_ca_file",
            base,
            warnings,
        )?;
        let roots = match &ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in certificates(ca)? {
                    roots
                        .add(cert)
                        .map_err(|e| ca.origin.error(e.to_string()))?;
                }
                Some((roots, &ca.origin))
            }
            None => None,
        };
        let chain = if auth.verifies() {
            let Some((roots, origin)) = &roots else {
                return Err(Error::Tls(format!(
                    "client_auth_type {auth:?} needs client_ca_file or client_ca"
                )));
            };
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots.clone()),
                Arc::clone(&provider),
            );
            let verifier = if auth.mandatory() {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            Some(verifier.build().map_err(|e| origin.error(e.to_string()))?)
        } else {
            None
        };
        builder.with_client_cert_verifier(Arc::new(ClientCertificates {
            chain,
            mandatory: auth.mandatory(),
            hints: roots.map(|(r, _)| r.subjects()).unwrap_or_default(),
            allowed_sans: allowed_sans.unwrap_or_default(),
            algorithms: provider.signature_verification_algorithms,
        }))
    };
    let mut config = builder
        .with_single_cert(certs, private_key)
        .map_err(|e| Error::Tls(format!("the certificate and key do not go together: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // The toolkit's default is the server's order, that of `cipher_suites`.
    config.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    let own_identity = auth.mandatory().then(|| {
        let mut pem = cert.text;
        pem.push(b'\n');
        pem.extend(key.text);
        pem
    });
    Ok((config, own_identity))
}

/// Whether TLS 1.2 and TLS 1.3 are offered, from `min_version` and `max_version`. rustls
/// offers nothing older than TLS 1.2, so an older minimum means TLS 1.2 (with a warning) and
/// an older maximum is an error.
fn versions(t: &RawTls, warnings: &mut Vec<String>) -> Result<(bool, bool), Error> {
    let min = TlsVersion::parse("min_version", t.min_version.as_deref(), TlsVersion::Tls12)?;
    let max = TlsVersion::parse("max_version", t.max_version.as_deref(), TlsVersion::Tls13)?;
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    if max < TlsVersion::Tls12 {
        return Err(Error::TlsVersion {
            field: "max_version",
            value: value(&t.max_version),
            reason: "TLS 1.2 is the lowest version offered here".to_string(),
        });
    }
    if min > max {
        return Err(Error::TlsVersion {
            field: "min_version",
            value: value(&t.min_version),
            reason: "is above max_version".to_string(),
        });
    }
    if min < TlsVersion::Tls12 {
        warnings.push(format!(
            "tls_server_config.min_version {}: TLS 1.2 is the lowest version offered here",
            value(&t.min_version)
        ));
    }
    Ok((min <= TlsVersion::Tls12, max >= TlsVersion::Tls13))
}

/// The cipher suites to offer, and whether TLS 1.2 is still offered. `cipher_suites`
/// restricts and orders the TLS 1.2 suites only (as in Go); a name the toolkit accepts but
/// rustls lacks (CBC, RSA key exchange) is a warning and skipped. When no TLS 1.2 suite
/// remains, TLS 1.2 is not offered (a warning), unless it is the only version (an error).
fn cipher_suites(
    t: &RawTls,
    provider: &CryptoProvider,
    tls12: bool,
    tls13: bool,
    warnings: &mut Vec<String>,
) -> Result<(Vec<SupportedCipherSuite>, bool), Error> {
    let names = t.cipher_suites.as_deref().unwrap_or_default();
    if names.is_empty() {
        return Ok((provider.cipher_suites.clone(), tls12));
    }
    let mut suites: Vec<SupportedCipherSuite> = provider
        .cipher_suites
        .iter()
        .filter(|s| s.version() == &rustls::version::TLS13)
        .copied()
        .collect();
    let mut any12 = false;
    for name in names {
        let Some(&(_, id, is13)) = GO_CIPHER_SUITES.iter().find(|(n, _, _)| n == name) else {
            return Err(Error::CipherSuite { name: name.clone() });
        };
        if is13 {
            continue;
        }
        match provider
            .cipher_suites
            .iter()
            .find(|s| u16::from(s.suite()) == id)
        {
            Some(suite) => {
                if !suites.iter().any(|s| s.suite() == suite.suite()) {
                    suites.push(*suite);
                }
                any12 = true;
            }
            None => warnings.push(format!(
                "tls_server_config.cipher_suites: {name} is not available here and is skipped"
            )),
        }
    }
    if tls12 && !any12 {
        if !tls13 {
            return Err(Error::Tls(
                "cipher_suites leaves no TLS 1.2 cipher suite available here, and max_version \
                 allows no other version"
                    .to_string(),
            ));
        }
        warnings.push(
            "tls_server_config.cipher_suites leaves no TLS 1.2 cipher suite available here; \
             only TLS 1.3 is offered"
                .to_string(),
        );
        return Ok((suites, false));
    }
    Ok((suites, tls12))
}

/// Key exchange groups, in the order offered.
type KxGroups = Vec<&'static dyn SupportedKxGroup>;

/// The key exchange groups of `curve_preferences`, in its order (`None`: the provider's
/// defaults), and whether TLS 1.2 is still offered. A curve the toolkit knows but rustls lacks
/// (CurveP521) is a warning and skipped; none left is an error. When no group usable with
/// TLS 1.2 remains (X25519MLKEM768 is TLS 1.3 only), TLS 1.2 is not offered (a warning),
/// unless it is the only version (an error).
fn key_exchange_groups(
    t: &RawTls,
    tls12: bool,
    tls13: bool,
    warnings: &mut Vec<String>,
) -> Result<(Option<KxGroups>, bool), Error> {
    use rustls::crypto::aws_lc_rs::kx_group;
    let names = t.curve_preferences.as_deref().unwrap_or_default();
    if names.is_empty() {
        return Ok((None, tls12));
    }
    let mut groups: KxGroups = Vec::new();
    for name in names {
        let group = match name.as_str() {
            "CurveP256" => Some(kx_group::SECP256R1),
            "CurveP384" => Some(kx_group::SECP384R1),
            "CurveP521" => None,
            "X25519" => Some(kx_group::X25519),
            "X25519MLKEM768" => Some(kx_group::X25519MLKEM768),
            _ => return Err(Error::Curve { name: name.clone() }),
        };
        match group {
            Some(group) => {
                if !groups.iter().any(|g| g.name() == group.name()) {
                    groups.push(group);
                }
            }
            None => warnings.push(format!(
                "tls_server_config.curve_preferences: {name} is not available here and is \
                 skipped"
            )),
        }
    }
    if groups.is_empty() {
        return Err(Error::Tls(
            "curve_preferences names no curve available here; use CurveP256, CurveP384, \
             X25519 or X25519MLKEM768"
                .to_string(),
        ));
    }
    let usable12 = groups
        .iter()
        .any(|g| g.usable_for_version(rustls::ProtocolVersion::TLSv1_2));
    if tls12 && !usable12 {
        if !tls13 {
            return Err(Error::Tls(
                "curve_preferences leaves no curve usable with TLS 1.2, and max_version allows \
                 no other version"
                    .to_string(),
            ));
        }
        warnings.push(
            "tls_server_config.curve_preferences leaves no curve usable with TLS 1.2; only \
             TLS 1.3 is offered"
                .to_string(),
        );
        return Ok((Some(groups), false));
    }
    Ok((Some(groups), tls12))
}

/// Checks client certificates as `client_auth_type`, the client CA and `client_allowed_sans`
/// ask, for every type but `NoClientCert`.
///
/// With `VerifyClientCertIfGiven` and `RequireAndVerifyClientCert`, rustls' own WebPKI
/// verifier checks the chain to the client CA, the dates and the key usage. With
/// `RequestClientCert` and `RequireAnyClientCert` nothing is checked against a CA, as in Go's
/// crypto/tls: the certificate only has to parse, so any self-signed certificate passes. That
/// is safe only because rustls still checks, after this, that the client signed the handshake
/// with the certificate's key (`verify_tls1x_signature` below), so a client cannot present a
/// certificate it does not hold; it proves possession of a key, not an identity, which is why
/// the toolkit calls these types insecure. `client_allowed_sans` then requires one of the
/// listed names in the certificate, whatever the type (only the two types that require a
/// certificate allow it).
#[derive(Debug)]
struct ClientCertificates {
    /// The chain check; `None` for the types that do not verify.
    chain: Option<Arc<dyn ClientCertVerifier>>,
    /// Whether a client without a certificate is refused.
    mandatory: bool,
    /// The client CA's subjects, sent as hints when there is no chain check.
    hints: Vec<DistinguishedName>,
    /// The subject alternative names of which a certificate must have one; empty: any.
    allowed_sans: Vec<String>,
    /// The signature algorithms for the handshake signature.
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for ClientCertificates {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        match &self.chain {
            Some(chain) => chain.root_hint_subjects(),
            None => &self.hints,
        }
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match &self.chain {
            Some(chain) => {
                chain.verify_client_cert(end_entity, intermediates, now)?;
            }
            None => {
                rustls::server::ParsedCertificate::try_from(end_entity)?;
            }
        }
        if !self.allowed_sans.is_empty() {
            let sans = subject_alt_names(end_entity.as_ref()).ok_or(
                rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
            )?;
            if !sans
                .iter()
                .any(|san| self.allowed_sans.iter().any(|allowed| san.is(allowed)))
            {
                return Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ));
            }
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        match &self.chain {
            Some(chain) => chain.verify_tls12_signature(message, cert, dss),
            None => rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        match &self.chain {
            Some(chain) => chain.verify_tls13_signature(message, cert, dss),
            None => rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match &self.chain {
            Some(chain) => chain.supported_verify_schemes(),
            None => self.algorithms.supported_schemes(),
        }
    }
}

/// A subject alternative name of a certificate, of the kinds the toolkit compares.
#[derive(Debug, PartialEq, Eq)]
enum San {
    Dns(String),
    Email(String),
    Uri(String),
    Ip(IpAddr),
}

impl San {
    /// Whether `allowed`, an entry of `client_allowed_sans`, names this: the same text (as
    /// the toolkit compares), or for an address the same address in any notation.
    fn is(&self, allowed: &str) -> bool {
        match self {
            San::Dns(name) | San::Email(name) | San::Uri(name) => name == allowed,
            San::Ip(ip) => allowed
                .parse::<IpAddr>()
                .is_ok_and(|a| a.to_canonical() == ip.to_canonical()),
        }
    }
}

/// A reader of DER elements (tag, contents) that refuses anything out of bounds.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// The next element's tag and contents; `None` when there is none or it is malformed.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        // Multi-byte tags appear nowhere in the structures read here.
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            // At most 4 length bytes, which fit a usize; 0x80 (indefinite) is not DER.
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return None;
            }
            let (bytes, after) = rest.split_at_checked(count)?;
            rest = after;
            bytes
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b))
        };
        let (contents, after) = rest.split_at_checked(len)?;
        self.0 = after;
        Some((tag, contents))
    }

    /// The next element's contents when it has this tag.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        self.next().filter(|(t, _)| *t == tag).map(|(_, c)| c)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The DNS, e-mail, URI and IP subject alternative names of a DER certificate (RFC 5280
/// 4.2.1.6), what the toolkit compares `client_allowed_sans` with; `None` when the
/// certificate cannot be read that far. Neither rustls nor webpki exposes these (webpki
/// checks DNS names with wildcards, which the toolkit does not, and has no e-mail names), so
/// this reads the few structures on the way: Certificate, TBSCertificate, its `[3]`
/// extensions, the subjectAltName extension. The certificate has passed rustls' own parser
/// before this runs.
fn subject_alt_names(der: &[u8]) -> Option<Vec<San>> {
    const SEQUENCE: u8 = 0x30;
    let certificate = Der(der).expect(SEQUENCE)?;
    let mut tbs = Der(Der(certificate).expect(SEQUENCE)?);
    let mut sans = Vec::new();
    while !tbs.is_empty() {
        let (tag, contents) = tbs.next()?;
        // [3] EXPLICIT Extensions; the fields before it are skipped whole.
        if tag != 0xa3 {
            continue;
        }
        let mut extensions = Der(Der(contents).expect(SEQUENCE)?);
        while !extensions.is_empty() {
            let mut extension = Der(extensions.expect(SEQUENCE)?);
            let oid = extension.expect(0x06)?;
            let (mut tag, mut value) = extension.next()?;
            if tag == 0x01 {
                // The critical flag.
                (tag, value) = extension.next()?;
            }
            if tag != 0x04 || oid != SUBJECT_ALT_NAME_OID {
                continue;
            }
            let mut names = Der(Der(value).expect(SEQUENCE)?);
            while !names.is_empty() {
                let (tag, name) = names.next()?;
                let text = || std::str::from_utf8(name).ok().map(str::to_string);
                // GeneralName's IMPLICIT context tags; the other kinds are not compared.
                let san = match tag {
                    0x81 => text().map(San::Email),
                    0x82 => text().map(San::Dns),
                    0x86 => text().map(San::Uri),
                    0x87 => match name.len() {
                        4 => <[u8; 4]>::try_from(name).ok().map(|b| San::Ip(b.into())),
                        16 => <[u8; 16]>::try_from(name).ok().map(|b| San::Ip(b.into())),
                        _ => None,
                    },
                    _ => None,
                };
                sans.extend(san);
            }
        }
    }
    Some(sans)
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
