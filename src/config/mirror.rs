//! The flags of the mirror checks (`--mirror*`): which Hub namespace is expected on which
//! registry and path, which registries may be read over plain HTTP, the credentials of the
//! auth file, and each mirror's pace. Like the rest of `config`, a leaf: it validates values
//! and reads the auth file (it holds secrets, which are read here and nowhere else), and
//! knows nothing of the checks themselves.
//!
//! The auth file is the Docker config format (`{"auths": {"ghcr.io": {"auth": "<base64
//! user:token>"}}}`) that `docker login`, `podman login` and `skopeo login` write. Keys are
//! matched the way those tools do: a bare `host[:port]`, a legacy key with a scheme and a
//! path stripped to its host, or a podman namespace key (`quay.io/org`), the longest match
//! winning. Credential helpers are not run: a mirror whose registry names one is read
//! anonymously, with a warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::{ConfigError, Credentials, parse_duration};

/// The mirror flags as given.
#[derive(Debug, Clone, clap::Args)]
pub struct MirrorArgs {
    /// HUB_NAMESPACE=REGISTRY[/PATH]: the inventoried repositories of HUB_NAMESPACE are
    /// expected at REGISTRY/PATH/REPOSITORY with the same tags and digests (for example
    /// acme=ghcr.io/acme-corp). Repeatable; the environment variable takes a comma-separated
    /// list.
    #[arg(
        long = "mirror",
        id = "mirrors",
        env = "DOCKERHUB_MIRRORS",
        value_delimiter = ',',
        value_name = "HUB_NAMESPACE=REGISTRY[/PATH]",
        hide_env_values = true
    )]
    pub mirrors: Vec<String>,

    /// A mirror registry, HOST or HOST:PORT, read over plain HTTP instead of HTTPS. Repeatable.
    #[arg(
        long = "mirror.insecure-registry",
        id = "mirror_insecure_registries",
        value_name = "HOST[:PORT]"
    )]
    pub insecure_registries: Vec<String>,

    /// Credentials for the mirror registries, in the Docker config format written by docker
    /// login, podman login --authfile or skopeo login; registries without an entry are read
    /// anonymously.
    #[arg(
        long = "mirror.auth-file",
        id = "mirror_auth_file",
        value_name = "FILE"
    )]
    pub auth_file: Option<PathBuf>,

    /// Requests per minute to each mirror registry at most.
    #[arg(long = "mirror.rate-limit", id = "mirror_rate_limit", default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: u32,

    /// Requests in flight to each mirror registry at most.
    #[arg(long = "mirror.concurrency", id = "mirror_concurrency", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,

    /// Time after which every tag's digest is asked for again on the mirror, even if nothing
    /// suggests it changed; a tag pushed again on the mirror alone is seen then.
    #[arg(long = "mirror.full-interval", id = "mirror_full_interval", default_value = "6h", value_parser = parse_duration)]
    pub full_interval: Duration,
}

/// One validated mirror.
#[derive(Debug, Clone)]
pub struct Mirror {
    /// The Hub namespace whose repositories are mirrored.
    pub hub_namespace: String,
    /// The registry, `host[:port]`.
    pub registry: String,
    /// The path under which the repositories are, without slashes around it; may be empty.
    pub path: String,
    /// Plain HTTP instead of HTTPS.
    pub insecure: bool,
    /// The auth file's credentials for it, if any.
    pub credentials: Option<Credentials>,
}

impl Mirror {
    /// `REGISTRY[/PATH]`, as the `mirror` label and the logs name it.
    pub fn label(&self) -> String {
        if self.path.is_empty() {
            self.registry.clone()
        } else {
            format!("{}/{}", self.registry, self.path)
        }
    }
}

/// The validated mirror checks.
#[derive(Debug, Clone, Default)]
pub struct Mirrors {
    /// The mirrors, in the order given, without duplicates.
    pub mirrors: Vec<Mirror>,
    /// Requests per minute to each mirror.
    pub rate_limit: u32,
    /// Requests in flight to each mirror.
    pub concurrency: usize,
    /// Every tag's digest asked for again at least this often.
    pub full_interval: Duration,
}

impl MirrorArgs {
    /// Validates the mirrors and reads the auth file if one is named.
    pub(super) fn validate(self) -> Result<Mirrors, ConfigError> {
        let insecure = self
            .insecure_registries
            .iter()
            .map(|r| {
                parse_registry(r.trim())
                    .map_err(|m| ConfigError::new("--mirror.insecure-registry", m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let auths = match &self.auth_file {
            Some(path) => read_auth_file(path)?,
            None => AuthFile::default(),
        };
        if self.full_interval.is_zero() {
            return Err(ConfigError::new(
                "--mirror.full-interval",
                "must be more than 0",
            ));
        }
        let mut mirrors: Vec<Mirror> = Vec::new();
        for raw in self
            .mirrors
            .iter()
            .map(|m| m.trim())
            .filter(|m| !m.is_empty())
        {
            let (hub_namespace, registry, path) =
                parse_mirror(raw).map_err(|m| ConfigError::new("--mirror", m))?;
            let label = join(&registry, &path);
            if mirrors
                .iter()
                .any(|m| m.hub_namespace == hub_namespace && m.label() == label)
            {
                continue;
            }
            let credentials = auths.credentials_for(&registry, &path);
            mirrors.push(Mirror {
                insecure: insecure.contains(&registry),
                hub_namespace,
                registry,
                path,
                credentials,
            });
        }
        Ok(Mirrors {
            mirrors,
            rate_limit: self.rate_limit,
            concurrency: self.concurrency as usize,
            full_interval: self.full_interval,
        })
    }
}

fn join(registry: &str, path: &str) -> String {
    if path.is_empty() {
        registry.to_string()
    } else {
        format!("{registry}/{path}")
    }
}

/// `HUB_NAMESPACE=REGISTRY[/PATH]` as namespace, registry and path.
pub(crate) fn parse_mirror(raw: &str) -> Result<(String, String, String), String> {
    let (namespace, target) = raw
        .split_once('=')
        .ok_or_else(|| format!("{raw:?} is not HUB_NAMESPACE=REGISTRY[/PATH]"))?;
    let namespace = namespace.trim();
    if namespace.is_empty()
        || !namespace
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
    {
        return Err(format!("{namespace:?} is not a Hub namespace"));
    }
    let target = target.trim().trim_end_matches('/');
    if target.contains("://") {
        return Err(format!(
            "{target:?}: name the registry without a scheme (HTTPS unless --mirror.insecure-registry names it)"
        ));
    }
    let (registry, path) = target.split_once('/').unwrap_or((target, ""));
    let registry = parse_registry(registry)?;
    if !path.is_empty()
        && !path.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        })
    {
        return Err(format!(
            "{path:?} is not a repository path (lowercase letters, digits, -, _, . between slashes)"
        ));
    }
    Ok((namespace.to_string(), registry, path.to_string()))
}

/// A registry as `host[:port]`, lowercased.
fn parse_registry(raw: &str) -> Result<String, String> {
    let bad = || format!("{raw:?} is not a registry (HOST or HOST:PORT)");
    let (host, port) = match raw.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || raw.starts_with('[') => (h, Some(p)),
        _ => (raw, None),
    };
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(bad());
    }
    let ok_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c));
    if !ok_host {
        return Err(bad());
    }
    Ok(raw.to_ascii_lowercase())
}

/// The Docker config file's parts that matter here.
#[derive(Debug, Default, Deserialize)]
struct WireAuthFile {
    #[serde(default)]
    auths: BTreeMap<String, WireAuth>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

/// One entry of `auths`.
#[derive(Debug, Default, Deserialize)]
struct WireAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// The credentials of an auth file, by normalised key.
#[derive(Debug, Default)]
pub(crate) struct AuthFile {
    entries: BTreeMap<String, Credentials>,
    helpers: BTreeMap<String, String>,
}

impl AuthFile {
    /// Parses the file's text; a malformed `auth` value rejects the whole file, as the
    /// Docker CLI does. Error messages never hold a value of the file.
    pub(crate) fn parse(text: &str) -> Result<AuthFile, String> {
        let wire: WireAuthFile = serde_json::from_str(text).map_err(|e| {
            // serde_json's own message may quote the value it read (`invalid type: string
            // "dXNlcjpwYXNz"`), which may be a credential: only where and what kind.
            let kind = match e.classify() {
                serde_json::error::Category::Io => "unreadable",
                serde_json::error::Category::Syntax => "not JSON",
                serde_json::error::Category::Data => "a value of the wrong type",
                serde_json::error::Category::Eof => "cut short",
            };
            format!(
                "not a Docker config file: {kind} at line {} column {}",
                e.line(),
                e.column()
            )
        })?;
        let mut file = AuthFile::default();
        for (key, entry) in wire.auths {
            let key = normalise_key(&key);
            let credentials = match (entry.auth.as_deref(), entry.username, entry.password) {
                (Some(auth), _, _) if !auth.trim().is_empty() => {
                    decode_auth(auth).ok_or_else(|| {
                        format!("the auth entry of {key:?} is not base64 of user:password")
                    })?
                }
                (_, Some(username), Some(password)) if !username.is_empty() => Credentials {
                    username,
                    secret: password,
                },
                // An empty entry, as `docker login` leaves beside a credential helper.
                _ => {
                    if let Some(store) = &wire.creds_store {
                        file.helpers.insert(key, store.clone());
                    }
                    continue;
                }
            };
            file.entries.insert(key, credentials);
        }
        for (key, helper) in wire.cred_helpers {
            file.helpers.insert(normalise_key(&key), helper);
        }
        Ok(file)
    }

    /// The credentials for the repositories under `registry/path`: the entry with the
    /// longest key that is the registry or a namespace above the path; `None` when there is
    /// none or a credential helper holds them (with a warning: helpers are not run).
    pub(crate) fn credentials_for(&self, registry: &str, path: &str) -> Option<Credentials> {
        let registry = normalise_key(registry);
        let full = join(&registry, path);
        let covers = |key: &str| {
            key == full
                || key == registry
                || full.starts_with(&format!("{key}/")) && key.starts_with(&format!("{registry}/"))
        };
        if let Some((_, helper)) = self.helpers.iter().find(|(k, _)| covers(k)) {
            tracing::warn!(
                registry = %registry,
                helper = %helper,
                "the auth file leaves this registry's credentials to a credential helper, which the exporter does not run; reading it anonymously"
            );
            return None;
        }
        self.entries
            .iter()
            .filter(|(k, _)| covers(k))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, c)| c.clone())
    }
}

/// A key of `auths` as `host[:port][/namespace]`: scheme and legacy `/v1/`, `/v2/` paths
/// stripped, Docker Hub's names made one.
fn normalise_key(key: &str) -> String {
    let key = key.trim().to_ascii_lowercase();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(&key)
        .trim_end_matches('/');
    let (host, path) = key.split_once('/').unwrap_or((key, ""));
    let path = if matches!(path, "v1" | "v2") || path.starts_with("v1/") || path.starts_with("v2/")
    {
        ""
    } else {
        path
    };
    let host = match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "docker.io",
        h => h,
    };
    join(host, path)
}

/// `base64(user:password)` as credentials; the password may contain colons.
fn decode_auth(auth: &str) -> Option<Credentials> {
    let bytes = STANDARD.decode(auth.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let text = text.trim_end_matches('\0');
    let (username, secret) = text.split_once(':')?;
    (!username.is_empty()).then(|| Credentials {
        username: username.to_string(),
        secret: secret.to_string(),
    })
}

/// Reads and parses the auth file.
fn read_auth_file(path: &Path) -> Result<AuthFile, ConfigError> {
    const FLAG: &str = "--mirror.auth-file";
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(FLAG, format!("cannot read {}: {e}", path.display())))?;
    if super::readable_by_others(path) {
        tracing::warn!(
            path = %path.display(),
            flag = FLAG,
            "the file is readable by other users; restrict it, for example with chmod 600"
        );
    }
    AuthFile::parse(&text).map_err(|m| ConfigError::new(FLAG, format!("{}: {m}", path.display())))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use proptest::prelude::*;

    use super::super::{Args, Config};
    use super::*;

    fn config(extra: &[&str]) -> Result<Config, ConfigError> {
        let mut argv = vec!["dockerhub_exporter", "--hub.namespace", "acme"];
        argv.extend_from_slice(extra);
        Config::from_args(Args::try_parse_from(argv).unwrap(), None)
    }

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn a_mirror_names_a_namespace_a_registry_and_a_path() {
        let c = config(&[
            "--mirror",
            "acme=ghcr.io/acme-corp",
            "--mirror",
            "acme=127.0.0.1:5000",
            "--mirror.insecure-registry",
            "127.0.0.1:5000",
        ])
        .unwrap()
        .mirrors;
        assert_eq!(c.mirrors.len(), 2);
        let ghcr = &c.mirrors[0];
        assert_eq!(
            (
                ghcr.hub_namespace.as_str(),
                ghcr.registry.as_str(),
                ghcr.path.as_str()
            ),
            ("acme", "ghcr.io", "acme-corp")
        );
        assert_eq!(ghcr.label(), "ghcr.io/acme-corp");
        assert!(!ghcr.insecure);
        assert_eq!(c.mirrors[1].label(), "127.0.0.1:5000");
        assert!(c.mirrors[1].insecure);
        assert_eq!(c.rate_limit, 600);
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.full_interval, Duration::from_secs(6 * 3600));
        assert!(config(&[]).unwrap().mirrors.mirrors.is_empty());
    }

    #[test]
    fn malformed_mirrors_are_refused_naming_the_flag() {
        for bad in [
            "acme",
            "=ghcr.io",
            "acme=",
            "acme=https://ghcr.io/acme",
            "acme=ghcr.io:99999",
            "acme=ghcr.io/Acme",
            "acme=ghcr.io//x",
            "ACME=ghcr.io",
        ] {
            let err = config(&["--mirror", bad]).unwrap_err();
            assert_eq!(err.flag, "--mirror", "{bad}");
        }
        let err = config(&["--mirror.full-interval", "0s"]).unwrap_err();
        assert_eq!(err.flag, "--mirror.full-interval");
    }

    #[test]
    fn the_auth_file_gives_each_registry_its_credentials_and_the_longest_key_wins() {
        let text = format!(
            r#"{{"auths": {{
                "ghcr.io": {{"auth": "{}"}},
                "https://quay.io/v1/": {{"auth": "{}"}},
                "quay.io/acme": {{"auth": "{}"}},
                "registry.example:5000": {{"username": "u", "password": "p"}},
                "helped.example": {{}}
            }}, "credsStore": "desktop", "credHelpers": {{"ecr.example": "ecr-login"}}}}"#,
            b64("bot:ghp_se:cret"),
            b64("quay-any:one"),
            b64("acme+robot:two"),
        );
        let file = AuthFile::parse(&text).unwrap();
        let who = |registry: &str, path: &str| {
            file.credentials_for(registry, path)
                .map(|c| (c.username.clone(), c.secret().to_string()))
        };
        assert_eq!(
            who("ghcr.io", "acme-corp"),
            Some(("bot".into(), "ghp_se:cret".into()))
        );
        assert_eq!(
            who("quay.io", "acme"),
            Some(("acme+robot".into(), "two".into()))
        );
        assert_eq!(
            who("quay.io", "acme/sub"),
            Some(("acme+robot".into(), "two".into()))
        );
        assert_eq!(
            who("quay.io", "other"),
            Some(("quay-any".into(), "one".into()))
        );
        assert_eq!(
            who("registry.example:5000", ""),
            Some(("u".into(), "p".into()))
        );
        assert_eq!(who("registry.example", ""), None);
        assert_eq!(who("helped.example", ""), None);
        assert_eq!(who("ecr.example", ""), None);
        assert_eq!(who("ghcr.io.evil", ""), None);
    }

    #[test]
    fn a_bad_auth_file_is_refused_without_showing_its_values() {
        for text in [
            r#"{"auths": {"ghcr.io": {"auth": "not base64 ### s3cr3t"}}}"#,
            r#"{"auths": {"ghcr.io": {"auth": "czNjcjN0"}}}"#,
            r#"{"auths": ["s3cr3t"]}"#,
            // Values of the wrong type, which serde_json's own messages quote.
            r#"{"auths": {"ghcr.io": "czNjcjN0"}}"#,
            r#"{"auths": {"ghcr.io": {"auth": "czNjcjN0", "username": ["s3cr3t"]}}}"#,
            r#"{"auths": {"ghcr.io": {"password": {"s3cr3t": 1}}}}"#,
            "s3cr3t",
        ] {
            let err = AuthFile::parse(text).unwrap_err();
            assert!(
                !err.contains("s3cr3t") && !err.contains("czNjcjN0"),
                "{err}"
            );
        }
        let dir = std::env::temp_dir().join(format!("dhx-authfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(&path, r#"{"auths": {"ghcr.io": {"auth": "x"}}}"#).unwrap();
        let err = config(&["--mirror.auth-file", path.to_str().unwrap()]).unwrap_err();
        assert_eq!(err.flag, "--mirror.auth-file");
        let err = config(&["--mirror.auth-file", dir.join("none").to_str().unwrap()]).unwrap_err();
        assert_eq!(err.flag, "--mirror.auth-file");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn credentials_print_redacted() {
        let file = AuthFile::parse(&format!(
            r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}}}"#,
            b64("bot:s3cr3t")
        ))
        .unwrap();
        let shown = format!("{file:?}");
        assert!(
            !shown.contains("s3cr3t") && shown.contains("redacted"),
            "{shown}"
        );
    }

    proptest! {
        #[test]
        fn any_user_and_password_survive_the_round_trip(user in "[a-z][a-z0-9+$._-]{0,20}", password in "[ -~]{0,40}") {
            let text = format!(r#"{{"auths": {{"r.example": {{"auth": "{}"}}}}}}"#, b64(&format!("{user}:{password}")));
            let c = AuthFile::parse(&text).unwrap().credentials_for("r.example", "x").unwrap();
            prop_assert_eq!(&c.username, &user);
            prop_assert_eq!(c.secret(), password.as_str());
        }

        #[test]
        fn any_text_as_auth_file_is_parsed_or_refused_without_panic(text in ".{0,200}") {
            let _ = AuthFile::parse(&text);
        }
    }
}
