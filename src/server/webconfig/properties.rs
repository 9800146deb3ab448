//! The web configuration file: any text and any values in its shape load or fail with an
//! error, never a panic, a stack overflow or a stall.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use serde_json::Map;

use proptest::prelude::*;
use serde_json::Value;

use super::WebConfig;
use crate::testing::*;

/// A folder of files a web configuration can name, removed when dropped.
struct WebFiles {
    dir: PathBuf,
}

impl WebFiles {
    fn new(name: &str) -> WebFiles {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dhx-properties-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("subdir")).unwrap();
        let server = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        let cert = server.cert.pem();
        let files = [
            ("cert.pem", cert.clone()),
            ("key.pem", server.signing_key.serialize_pem()),
            ("ca.pem", ca.pem()),
            ("empty.pem", String::new()),
            ("half.pem", cert[..cert.len() / 2].to_string()),
            ("random.pem", String::new()),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        WebFiles { dir }
    }
}

impl Drop for WebFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A bcrypt hash of "secret" at the lowest cost, so that checking it is quick.
fn cheap_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| bcrypt::hash("secret", 4).unwrap())
}

/// A password hash: valid and cheap, or broken in one of many ways (never valid and costly,
/// which would only make the test slow).
fn hash_text() -> impl Strategy<Value = (String, bool)> {
    let valid = cheap_hash().to_string();
    let salt_and_hash = valid[7..].to_string();
    prop_oneof![
        3 => Just((valid.clone(), true)),
        1 => (prop::sample::select(vec!["$2a$", "$2b$", "$2x$", "$2y$", "$2$", "$3$", "2b$", ""]),
              prop::sample::select(vec!["04", "4", "00", "03", "32", "99", "ab", "", "-1", "040"]),
              "[./A-Za-z0-9$]{0,60}")
            .prop_map(|(prefix, cost, rest)| (format!("{prefix}{cost}${rest}"), false)),
        1 => (0usize..60).prop_map(move |n| (valid[..n.min(valid.len())].to_string(), false)),
        1 => any::<String>().prop_map(|s| (s, false)),
        1 => "[./A-Za-z0-9]{53}".prop_map(move |rest| {
            let valid_shape = format!("$2b$04${rest}");
            // Valid in shape and cheap; it may or may not decode.
            (valid_shape, false)
        }),
        1 => Just((format!("$2y$05${salt_and_hash}"), false)),
    ]
}

/// A file name as a web configuration could give it.
fn path_text() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "cert.pem",
            "key.pem",
            "ca.pem",
            "empty.pem",
            "half.pem",
            "random.pem",
            "missing.pem",
            "subdir",
            ".",
            "",
            "./cert.pem",
            "subdir/../key.pem",
        ])
        .prop_map(Value::from),
        "[a-z.]{1,8}".prop_map(Value::String),
    ]
}

/// Text for `random.pem`.
fn pem_text() -> impl Strategy<Value = String> {
    let blocks = prop::sample::select(vec![
        "CERTIFICATE",
        "PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "X509 CRL",
    ]);
    prop_oneof![
        any::<String>(),
        (
            blocks,
            prop::collection::vec(any::<u8>(), 0..200),
            any::<bool>()
        )
            .prop_map(|(label, bytes, end)| {
                let body = base64::engine::general_purpose::STANDARD.encode(bytes);
                let end = if end {
                    format!("-----END {label}-----\n")
                } else {
                    String::new()
                };
                format!("-----BEGIN {label}-----\n{body}\n{end}")
            }),
    ]
}

/// A generated web configuration: its YAML and, when it is valid, whether it has TLS and
/// which users.
#[derive(Debug, Clone)]
struct GeneratedWeb {
    yaml: String,
    valid: Option<(bool, Vec<String>)>,
}

/// `v` as block-style YAML: mappings and sequences one entry a line, indented, scalars as
/// JSON (which YAML reads the same), empty collections in flow style.
fn to_yaml(v: &Value) -> String {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::Object(m) if !m.is_empty() => None,
            Value::Array(a) if !a.is_empty() => None,
            v => Some(serde_json::to_string(v).unwrap()),
        }
    }
    fn block(v: &Value, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        let mut entry = |lead: String, value: &Value| match scalar(value) {
            Some(text) => out.push_str(&format!("{pad}{lead} {text}\n")),
            None => {
                out.push_str(&format!("{pad}{lead}\n"));
                block(value, indent + 2, out);
            }
        };
        match v {
            Value::Object(m) => {
                for (k, value) in m {
                    entry(format!("{}:", serde_json::to_string(k).unwrap()), value);
                }
            }
            Value::Array(a) => {
                for value in a {
                    entry("-".to_string(), value);
                }
            }
            _ => unreachable!("only collections are written as blocks"),
        }
    }
    match scalar(v) {
        Some(text) => format!("{text}\n"),
        None => {
            let mut out = String::new();
            block(v, 0, &mut out);
            out
        }
    }
}

/// The `tls_server_config` of a generated web configuration.
#[derive(Debug, Clone)]
enum TlsShape {
    Absent,
    Null,
    Wrong(Value),
    /// cert_file, key_file, client_auth_type, client_ca_file, min_version, an unknown key.
    Map(Box<[Field; 5]>, Option<(String, Value)>),
}

/// Whether `field` is one of `options`, `""` standing for missing or null.
fn is_one_of(field: &Field, options: &[&str]) -> bool {
    match field {
        Field::Missing | Field::Null => options.contains(&""),
        Field::Right(v) | Field::Wrong(v) => v.as_str().is_some_and(|v| options.contains(&v)),
    }
}

/// A web configuration of any values; when `sane`, only of values the exporter accepts.
fn web_config(sane: bool) -> impl Strategy<Value = GeneratedWeb> {
    let wrong = !sane;
    let (tls, users, user_hashes) = if sane {
        let path = |names: &[&'static str]| {
            prop::sample::select(names.to_vec()).prop_map(|n| Field::Right(Value::from(n)))
        };
        let tls_map = (
            [
                path(&["cert.pem", "./cert.pem"]).boxed(),
                path(&["key.pem", "subdir/../key.pem"]).boxed(),
                prop_oneof![Just(Field::Missing), path(&["NoClientCert"])].boxed(),
                optional(path_text(), false),
                prop_oneof![Just(Field::Missing), path(&["TLS12", "TLS13"])].boxed(),
            ],
            Just(None),
        );
        let tls = prop_oneof![
            Just(TlsShape::Absent),
            Just(TlsShape::Null),
            tls_map.prop_map(|(fields, unknown)| TlsShape::Map(Box::new(fields), unknown)),
        ];
        let users = prop_oneof![Just(Field::Missing), Just(Field::Right(Value::Null))];
        let hash = Just((cheap_hash().to_string(), true));
        (tls.boxed(), users.boxed(), hash.boxed())
    } else {
        let auth = prop_oneof![
            prop::sample::select(vec![
                "NoClientCert",
                "RequireAndVerifyClientCert",
                "VerifyClientCertIfGiven",
                "RequireAnyClientCert",
            ])
            .prop_map(Value::from),
            string(),
        ];
        let min_version = prop_oneof![
            prop::sample::select(vec!["TLS12", "TLS13", "TLS11", "tls12"]).prop_map(Value::from),
            string(),
        ];
        let tls_map = (
            [
                optional(path_text(), true),
                optional(path_text(), true),
                optional(auth, true),
                optional(path_text(), true),
                optional(min_version, true),
            ],
            proptest::option::weighted(0.1, ("[a-z_]{1,10}", any_json())),
        )
            .prop_map(|(fields, unknown)| TlsShape::Map(Box::new(fields), unknown));
        let tls = prop_oneof![
            2 => Just(TlsShape::Absent),
            1 => Just(TlsShape::Null),
            1 => any_json().prop_map(TlsShape::Wrong),
            6 => tls_map,
        ];
        let users = prop_oneof![
            1 => Just(Field::Missing),
            1 => Just(Field::Null),
            1 => any_json().prop_map(Field::Wrong),
            6 => Just(Field::Right(Value::Null)),
        ];
        (tls.boxed(), users.boxed(), hash_text().boxed())
    };
    let user_hashes = prop::collection::btree_map(
        prop_oneof![any::<String>(), "[a-z]{1,8}"],
        user_hashes,
        0..3,
    );
    let unknown = if sane {
        Just(None).boxed()
    } else {
        proptest::option::weighted(0.1, ("[a-z_]{1,10}", any_json())).boxed()
    };
    (
        tls,
        users,
        user_hashes,
        optional(any::<bool>().prop_map(Value::Bool), wrong),
        optional(any_json(), wrong),
        unknown,
    )
        .prop_map(|(tls, users_shape, users, open, http, unknown)| {
            let mut root = Map::new();
            let mut valid = true;
            let mut has_tls = false;
            match tls {
                TlsShape::Absent => {}
                TlsShape::Null => {
                    root.insert("tls_server_config".into(), Value::Null);
                }
                TlsShape::Wrong(v) => {
                    root.insert("tls_server_config".into(), v);
                    valid = false;
                }
                TlsShape::Map(fields, unknown) => {
                    let [cert, key, auth, ca, min_version] = *fields;
                    let mut map = Map::new();
                    if let Some((k, v)) = unknown {
                        map.insert(k, v);
                        valid = false;
                    }
                    for (name, field) in [
                        ("cert_file", &cert),
                        ("key_file", &key),
                        ("client_auth_type", &auth),
                        ("client_ca_file", &ca),
                        ("min_version", &min_version),
                    ] {
                        field.put(&mut map, name);
                    }
                    root.insert("tls_server_config".into(), Value::Object(map));
                    // Valid only in the simplest case: the real certificate and key, no
                    // client certificates, a known minimum version.
                    valid &= is_one_of(&cert, &["cert.pem", "./cert.pem"])
                        && is_one_of(&key, &["key.pem", "subdir/../key.pem"])
                        && is_one_of(&auth, &["NoClientCert", ""])
                        && is_one_of(&min_version, &["TLS12", "TLS13", ""])
                        && !ca.is_wrong();
                    has_tls = true;
                }
            }
            match users_shape {
                Field::Wrong(v) => {
                    root.insert("basic_auth_users".into(), v);
                    valid = false;
                }
                Field::Null => {
                    root.insert("basic_auth_users".into(), Value::Null);
                    valid = false;
                }
                Field::Missing if users.is_empty() => {}
                Field::Missing | Field::Right(_) => {
                    let mut map = Map::new();
                    for (user, (hash, ok)) in &users {
                        map.insert(user.as_str().into(), hash.as_str().into());
                        valid &= ok;
                    }
                    root.insert("basic_auth_users".into(), Value::Object(map));
                }
            }
            open.put(&mut root, "open_health_endpoints");
            // A `null` bool is not a bool.
            valid &= matches!(open, Field::Missing | Field::Right(_));
            http.put(&mut root, "http_server_config");
            if let Some((k, v)) = unknown
                && !root.contains_key(k.as_str())
            {
                root.insert(k, v);
                valid = false;
            }
            GeneratedWeb {
                yaml: to_yaml(&Value::Object(root)),
                valid: valid.then(|| (has_tls, users.keys().cloned().collect())),
            }
        })
}

/// Runs `check` on `cases` generated values, each written to a file in a fresh folder.
fn run_web<S: Strategy>(
    name: &str,
    cases_count: u32,
    strategy: S,
    check: impl Fn(&WebFiles, &Path, S::Value) -> Result<(), TestCaseError>,
) {
    let files = WebFiles::new(name);
    let path = files.dir.join("web.yml");
    let mut runner = proptest::test_runner::TestRunner::new(cases(cases_count));
    let result = runner.run(&strategy, |value| check(&files, &path, value));
    drop(files);
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn the_web_configuration_takes_any_text() {
    let text = prop_oneof![
        any::<String>(),
        "[a-z_:{}\\[\\]\"' \n\t#&*!|>-]{0,60}",
        "(tls_server_config|basic_auth_users|open_health_endpoints|http_server_config): [a-z{}\\[\\]:\"' \n-]{0,40}",
    ];
    let bytes = prop::collection::vec(any::<u8>(), 0..64);
    run_web("text", 256, (text, bytes), |_, path, (text, bytes)| {
        std::fs::write(path, &text).unwrap();
        let _ = WebConfig::load(path);
        std::fs::write(path, &bytes).unwrap();
        let _ = WebConfig::load(path);
        Ok(())
    });
}

#[test]
fn the_web_configuration_takes_any_values_in_its_own_shape() {
    run_web(
        "shaped",
        256,
        (any::<bool>().prop_flat_map(web_config), pem_text()),
        |files, path, (web, pem)| {
            std::fs::write(files.dir.join("random.pem"), &pem).unwrap();
            std::fs::write(path, &web.yaml).unwrap();
            let loaded = WebConfig::load(path);
            if let Some((tls, users)) = &web.valid {
                let config =
                    loaded.map_err(|e| TestCaseError::fail(format!("{}: {e}", web.yaml)))?;
                prop_assert_eq!(config.tls.is_some(), *tls, "{}", web.yaml);
                prop_assert_eq!(config.requires_auth(), !users.is_empty());
                if let Some(user) = users.first() {
                    prop_assert!(config.check(user, "secret"), "{}", web.yaml);
                    prop_assert!(!config.check(user, "wrong"));
                }
            }
            Ok(())
        },
    );
}

#[test]
fn a_deeply_nested_web_configuration_is_refused_without_overflowing_the_stack() {
    // The YAML parser refuses deep nesting. (Parsing deep nesting is quadratic in a debug build:
    // 1,000 levels take milliseconds, 100,000 take minutes; the file is the operator's.)
    let files = WebFiles::new("deep");
    let path = files.dir.join("web.yml");
    let depth = 1_000;
    for nested in [
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth)),
    ] {
        std::fs::write(&path, format!("http_server_config: {nested}\n")).unwrap();
        assert!(WebConfig::load(&path).is_err());
    }
}

#[test]
fn a_web_configuration_of_many_aliases_is_refused_quickly() {
    let files = WebFiles::new("aliases");
    let path = files.dir.join("web.yml");
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        text.push_str(&format!(
            "l{i}: &l{i} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
            p = if prev == 0 {
                "a".to_string()
            } else {
                format!("l{prev}")
            },
        ));
    }
    text.push_str("http_server_config: *l11\n");
    std::fs::write(&path, text).unwrap();
    assert!(WebConfig::load(&path).is_err());
}
