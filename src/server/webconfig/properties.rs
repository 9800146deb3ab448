//! The web configuration file: any text and any values in its shape load or fail with an
//! error, never a panic, a stack overflow or a stall.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use serde_json::Map;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;

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

impl WebFiles {
    /// `yaml` with each inline placeholder (see [`inline`]) replaced by the text of its file,
    /// as a YAML double-quoted string.
    fn inline(&self, yaml: &str) -> String {
        let mut yaml = yaml.to_string();
        for name in [
            "cert.pem",
            "key.pem",
            "ca.pem",
            "empty.pem",
            "half.pem",
            "random.pem",
        ] {
            let placeholder = serde_json::to_string(&format!("{INLINE}{name}")).unwrap();
            if yaml.contains(&placeholder) {
                let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
                yaml = yaml.replace(&placeholder, &serde_json::to_string(&text).unwrap());
            }
        }
        yaml
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

/// What a valid generated web configuration loads as.
#[derive(Debug, Clone)]
struct Expected {
    /// Whether it has TLS.
    tls: bool,
    /// Its users.
    users: Vec<String>,
    /// How many response headers it sets.
    headers: usize,
}

/// A generated web configuration: its YAML and, when it is valid, what it loads as.
#[derive(Debug, Clone)]
struct GeneratedWeb {
    yaml: String,
    valid: Option<Expected>,
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
    /// Its settings; whether they are valid; an unknown key.
    Map(Vec<(&'static str, Field)>, bool, Option<(String, Value)>),
}

/// Whether `field` is one of `options`, `""` standing for missing or null.
fn is_one_of(field: &Field, options: &[&str]) -> bool {
    match field {
        Field::Missing | Field::Null => options.contains(&""),
        Field::Right(v) | Field::Wrong(v) => v.as_str().is_some_and(|v| options.contains(&v)),
    }
}

/// Whether `field` is left out or null, which every optional setting takes.
fn is_unset(field: &Field) -> bool {
    matches!(field, Field::Missing | Field::Null)
}

/// A string setting: `""` leaves it out.
fn text_field(text: &str) -> Field {
    if text.is_empty() {
        Field::Missing
    } else {
        Field::Right(Value::from(text))
    }
}

/// Marks an inline PEM setting: [`WebFiles::inline`] puts the text of the named file there.
const INLINE: &str = "INLINE:";

/// The text of `file` inline, once [`WebFiles::inline`] has run.
fn inline(file: &str) -> Field {
    Field::Right(Value::from(format!("{INLINE}{file}")))
}

/// The TLS 1.2 cipher suites rustls has.
const AVAILABLE_SUITES: [&str; 6] = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// Suites the toolkit accepts that are not TLS 1.2 suites of rustls: CBC, RSA key exchange,
/// TLS 1.3 (which `cipher_suites` does not restrict).
const OTHER_SUITES: [&str; 5] = [
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_AES_128_GCM_SHA256",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Curves usable with TLS 1.2 and 1.3 here.
const AVAILABLE_CURVES: [&str; 3] = ["CurveP256", "CurveP384", "X25519"];

/// Curves the toolkit knows that are skipped here or are TLS 1.3 only.
const OTHER_CURVES: [&str; 2] = ["CurveP521", "X25519MLKEM768"];

/// A list of names in which one of `needed` appears, among any of `others`.
fn names_with(needed: &[&'static str], others: &[&'static str]) -> BoxedStrategy<Field> {
    let all: Vec<&str> = needed.iter().chain(others).copied().collect();
    (
        prop::collection::vec(prop::sample::select(all), 0..4),
        prop::sample::select(needed.to_vec()),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut names, needed, at)| {
            names.insert(at.index(names.len() + 1), needed);
            Field::Right(Value::from(names))
        })
        .boxed()
}

/// `cert` or `cert_file` (as `field`, `file_field`): a file, inline text, or both, when the
/// file wins.
fn sane_source(
    field: &'static str,
    file_field: &'static str,
    files: [&'static str; 2],
) -> BoxedStrategy<Vec<(&'static str, Field)>> {
    prop_oneof![
        prop::sample::select(files.to_vec()).prop_map(move |f| vec![(file_field, text_field(f))]),
        Just(vec![(field, inline(files[0]))]),
        Just(vec![(field, inline(files[0])), (file_field, Field::Null)]),
        any::<String>().prop_map(move |text| vec![
            (field, Field::Right(Value::from(text))),
            (file_field, text_field(files[1])),
        ]),
    ]
    .boxed()
}

/// A `tls_server_config` the exporter accepts, with every setting of the toolkit.
fn sane_tls() -> BoxedStrategy<Vec<(&'static str, Field)>> {
    let ca = || {
        prop_oneof![
            Just(vec![("client_ca_file", text_field("ca.pem"))]),
            Just(vec![("client_ca", inline("ca.pem"))]),
        ]
    };
    let sans = || {
        prop_oneof![
            Just(Field::Missing),
            Just(Field::Null),
            prop::collection::vec("[a-z0-9.@:/]{1,16}", 1..3)
                .prop_map(|names| Field::Right(Value::from(names))),
        ]
    };
    let auth = prop_oneof![
        // Without client certificates, a client CA is not read (a warning).
        (
            prop::sample::select(vec!["", "NoClientCert"]),
            optional(path_text(), false)
        )
            .prop_map(|(auth, ca)| vec![
                ("client_auth_type", text_field(auth)),
                ("client_ca_file", ca)
            ]),
        prop_oneof![Just(vec![]), ca()].prop_map(|mut settings| {
            settings.push(("client_auth_type", text_field("RequestClientCert")));
            settings
        }),
        (
            prop::sample::select(vec!["RequireAnyClientCert", "RequireClientCert"]),
            prop_oneof![Just(vec![]), ca()],
            sans()
        )
            .prop_map(|(auth, mut settings, sans)| {
                settings.push(("client_auth_type", text_field(auth)));
                settings.push(("client_allowed_sans", sans));
                settings
            }),
        (ca(), sans()).prop_map(|(mut settings, sans)| {
            settings.push(("client_auth_type", text_field("RequireAndVerifyClientCert")));
            settings.push(("client_allowed_sans", sans));
            settings
        }),
        ca().prop_map(|mut settings| {
            settings.push(("client_auth_type", text_field("VerifyClientCertIfGiven")));
            settings
        }),
    ];
    let versions = prop::sample::select(vec![
        ("", ""),
        ("TLS10", ""),
        ("TLS11", "TLS12"),
        ("TLS12", "TLS13"),
        ("TLS13", ""),
        ("TLS13", "TLS13"),
        ("", "TLS12"),
        ("TLS12", "TLS12"),
    ]);
    let unset_or = |right: BoxedStrategy<Field>| {
        prop_oneof![
            1 => Just(Field::Missing),
            1 => Just(Field::Null),
            1 => Just(Field::Right(Value::Array(vec![]))),
            4 => right,
        ]
    };
    (
        sane_source("cert", "cert_file", ["cert.pem", "./cert.pem"]),
        sane_source("key", "key_file", ["key.pem", "subdir/../key.pem"]),
        auth,
        versions,
        unset_or(names_with(&AVAILABLE_SUITES, &OTHER_SUITES)),
        unset_or(names_with(&AVAILABLE_CURVES, &OTHER_CURVES)),
        optional(any::<bool>().prop_map(Value::Bool), false),
    )
        .prop_map(|(cert, key, auth, (min, max), suites, curves, prefer)| {
            let mut settings = [cert, key, auth].concat();
            settings.extend([
                ("min_version", text_field(min)),
                ("max_version", text_field(max)),
                ("cipher_suites", suites),
                ("curve_preferences", curves),
                ("prefer_server_cipher_suites", prefer),
            ]);
            settings
        })
        .boxed()
}

/// A `tls_server_config` of any values, and whether it is valid, as far as that is simple to
/// tell: the certificate and key files, no client certificates, a known minimum version, and
/// none of the other settings.
fn any_tls() -> BoxedStrategy<(Vec<(&'static str, Field)>, bool)> {
    let auth = prop_oneof![
        prop::sample::select(vec![
            "NoClientCert",
            "RequestClientCert",
            "RequireAnyClientCert",
            "RequireClientCert",
            "VerifyClientCertIfGiven",
            "RequireAndVerifyClientCert",
        ])
        .prop_map(Value::from),
        string(),
    ];
    let version = || {
        prop_oneof![
            prop::sample::select(vec!["TLS10", "TLS11", "TLS12", "TLS13", "TLS14", "tls12"])
                .prop_map(Value::from),
            string(),
        ]
    };
    let pem = || {
        prop_oneof![
            prop::sample::select(vec![
                "cert.pem",
                "key.pem",
                "ca.pem",
                "empty.pem",
                "half.pem",
                "random.pem",
            ])
            .prop_map(|file| Value::from(format!("{INLINE}{file}"))),
            string(),
        ]
    };
    let list = |names: Vec<&'static str>| {
        prop::collection::vec(
            prop_oneof![prop::sample::select(names).prop_map(Value::from), string()],
            0..4,
        )
        .prop_map(Value::Array)
    };
    let suites: Vec<&str> = AVAILABLE_SUITES
        .iter()
        .chain(&OTHER_SUITES)
        .copied()
        .collect();
    let curves: Vec<&str> = AVAILABLE_CURVES
        .iter()
        .chain(&OTHER_CURVES)
        .copied()
        .collect();
    (
        [
            optional(path_text(), true),
            optional(path_text(), true),
            optional(auth, true),
            optional(path_text(), true),
            optional(version(), true),
        ],
        [
            optional(pem(), true),
            optional(pem(), true),
            optional(pem(), true),
            optional(list(vec!["localhost", "::1", "a@b.c"]), true),
            optional(version(), true),
            optional(list(suites), true),
            optional(any::<bool>().prop_map(Value::Bool), true),
            optional(list(curves), true),
        ],
    )
        .prop_map(|([cert_file, key_file, auth, ca_file, min], others)| {
            // Valid only in the simplest case: the real certificate and key, no client
            // certificates, a known minimum version, no other setting.
            let valid = is_one_of(&cert_file, &["cert.pem", "./cert.pem"])
                && is_one_of(&key_file, &["key.pem", "subdir/../key.pem"])
                && is_one_of(&auth, &["NoClientCert", ""])
                && is_one_of(&min, &["TLS12", "TLS13", ""])
                && !ca_file.is_wrong()
                && others.iter().all(is_unset);
            let [cert, key, ca, sans, max, suites, prefer, curves] = others;
            let settings = vec![
                ("cert_file", cert_file),
                ("key_file", key_file),
                ("client_auth_type", auth),
                ("client_ca_file", ca_file),
                ("min_version", min),
                ("cert", cert),
                ("key", key),
                ("client_ca", ca),
                ("client_allowed_sans", sans),
                ("max_version", max),
                ("cipher_suites", suites),
                ("prefer_server_cipher_suites", prefer),
                ("curve_preferences", curves),
            ];
            (settings, valid)
        })
        .boxed()
}

/// The headers the toolkit allows, as (name, values accepted; empty: any).
const HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// An `http_server_config` the exporter accepts, and how many headers it sets.
fn sane_http() -> BoxedStrategy<(Field, usize)> {
    let header = |(name, accepted): (&'static str, &'static [&'static str])| {
        let value = if accepted.is_empty() {
            "[ -~]{0,20}".prop_map(Value::String).boxed()
        } else {
            (prop::sample::select(accepted.to_vec()), any::<bool>())
                .prop_map(|(v, upper)| {
                    Value::from(if upper {
                        v.to_uppercase()
                    } else {
                        v.to_string()
                    })
                })
                .boxed()
        };
        (
            prop::sample::select(vec![
                name.to_string(),
                name.to_lowercase(),
                name.to_uppercase(),
            ]),
            optional(value, false),
        )
    };
    let headers = (
        header(HEADERS[0]),
        header(HEADERS[1]),
        header(HEADERS[2]),
        header(HEADERS[3]),
        header(HEADERS[4]),
    )
        .prop_map(|(a, b, c, d, e)| {
            let mut map = Map::new();
            let mut set = 0;
            for (name, value) in [a, b, c, d, e] {
                value.put(&mut map, &name);
                set += usize::from(
                    value
                        .right()
                        .and_then(Value::as_str)
                        .is_some_and(|v| !v.is_empty()),
                );
            }
            (Value::Object(map), set)
        });
    prop_oneof![
        Just((Field::Missing, 0)),
        Just((Field::Null, 0)),
        (
            optional(any::<bool>().prop_map(Value::Bool), false),
            headers,
            any::<bool>()
        )
            .prop_map(|(http2, (headers, set), with_headers)| {
                let mut map = Map::new();
                http2.put(&mut map, "http2");
                let set = if with_headers {
                    map.insert("headers".into(), headers);
                    set
                } else {
                    0
                };
                (Field::Right(Value::Object(map)), set)
            }),
    ]
    .boxed()
}

/// An `http_server_config` of any values, of its shape or not.
fn any_http() -> BoxedStrategy<Field> {
    let names: Vec<&str> = HEADERS
        .iter()
        .map(|(n, _)| *n)
        .chain(["Server", "x-frame-options", ""])
        .collect();
    let headers = prop::collection::btree_map(
        prop_oneof![
            prop::sample::select(names).prop_map(String::from),
            any::<String>()
        ],
        prop_oneof![
            prop::sample::select(vec!["deny", "nosniff", "a\nb", "", "max-age=1"])
                .prop_map(Value::from),
            any_json(),
        ],
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()));
    let shaped = (
        optional(any::<bool>().prop_map(Value::Bool), true),
        optional(headers, true),
    )
        .prop_map(|(http2, headers)| {
            let mut map = Map::new();
            http2.put(&mut map, "http2");
            headers.put(&mut map, "headers");
            Value::Object(map)
        });
    optional(prop_oneof![shaped, any_json()], true)
}

/// A `rate_limit`, which the exporter accepts with a warning.
fn rate_limit(wrong: bool) -> BoxedStrategy<Field> {
    let shaped = (
        optional(
            prop_oneof![
                prop::sample::select(vec!["1s", "0s", "500ms"]).prop_map(Value::from),
                any::<u32>().prop_map(Value::from),
            ],
            false,
        ),
        optional(any::<u32>().prop_map(Value::from), false),
    )
        .prop_map(|(interval, burst)| {
            let mut map = Map::new();
            interval.put(&mut map, "interval");
            burst.put(&mut map, "burst");
            Value::Object(map)
        });
    if wrong {
        optional(prop_oneof![shaped, any_json()], true)
    } else {
        optional(shaped, false)
    }
}

/// A web configuration of any values; when `sane`, only of values the exporter accepts.
fn web_config(sane: bool) -> impl Strategy<Value = GeneratedWeb> {
    let wrong = !sane;
    let (tls, users, user_hashes, http) = if sane {
        let tls = prop_oneof![
            Just(TlsShape::Absent),
            Just(TlsShape::Null),
            sane_tls().prop_map(|settings| TlsShape::Map(settings, true, None)),
        ];
        let users = prop_oneof![Just(Field::Missing), Just(Field::Right(Value::Null))];
        let hash = Just((cheap_hash().to_string(), true));
        (tls.boxed(), users.boxed(), hash.boxed(), sane_http())
    } else {
        let tls = prop_oneof![
            2 => Just(TlsShape::Absent),
            1 => Just(TlsShape::Null),
            1 => any_json().prop_map(TlsShape::Wrong),
            6 => (any_tls(), proptest::option::weighted(0.1, ("[a-z_]{1,10}", any_json())))
                .prop_map(|((settings, valid), unknown)| TlsShape::Map(settings, valid, unknown)),
        ];
        let users = prop_oneof![
            1 => Just(Field::Missing),
            1 => Just(Field::Null),
            1 => any_json().prop_map(Field::Wrong),
            6 => Just(Field::Right(Value::Null)),
        ];
        // Only a missing or null section is sure to be valid.
        let http = any_http().prop_map(|field| (field, 0)).boxed();
        (tls.boxed(), users.boxed(), hash_text().boxed(), http)
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
        http,
        rate_limit(wrong),
        unknown,
    )
        .prop_map(
            move |(tls, users_shape, users, open, (http, headers), rate_limit, unknown)| {
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
                    TlsShape::Map(settings, settings_valid, unknown) => {
                        let mut map = Map::new();
                        if let Some((k, v)) = unknown {
                            map.insert(k, v);
                            valid = false;
                        }
                        for (name, field) in &settings {
                            field.put(&mut map, name);
                        }
                        root.insert("tls_server_config".into(), Value::Object(map));
                        valid &= settings_valid;
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
                valid &= sane || is_unset(&http);
                rate_limit.put(&mut root, "rate_limit");
                valid &= sane || is_unset(&rate_limit);
                if let Some((k, v)) = unknown
                    && !root.contains_key(k.as_str())
                {
                    root.insert(k, v);
                    valid = false;
                }
                GeneratedWeb {
                    yaml: to_yaml(&Value::Object(root)),
                    valid: valid.then(|| Expected {
                        tls: has_tls,
                        users: users.keys().cloned().collect(),
                        headers,
                    }),
                }
            },
        )
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
        "(tls_server_config|basic_auth_users|open_health_endpoints|http_server_config|rate_limit): [a-z{}\\[\\]:\"' \n-]{0,40}",
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
            let yaml = files.inline(&web.yaml);
            std::fs::write(path, &yaml).unwrap();
            let loaded = WebConfig::load(path);
            if let Some(expected) = &web.valid {
                let config = loaded.map_err(|e| TestCaseError::fail(format!("{yaml}: {e}")))?;
                prop_assert_eq!(config.tls.is_some(), expected.tls, "{}", yaml);
                prop_assert_eq!(config.requires_auth(), !expected.users.is_empty());
                prop_assert_eq!(
                    config.response_headers().len(),
                    expected.headers,
                    "{}",
                    yaml
                );
                if let Some(user) = expected.users.first() {
                    prop_assert!(config.check(user, "secret"), "{}", yaml);
                    prop_assert!(!config.check(user, "wrong"));
                }
            }
            Ok(())
        },
    );
}

#[test]
fn subject_alt_names_are_read_from_any_bytes_without_panicking() {
    let files = WebFiles::new("sans");
    let cert = std::fs::read_to_string(files.dir.join("cert.pem")).unwrap();
    let der = tokio_rustls::rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes())
        .unwrap()
        .to_vec();
    let changed = (
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        any::<prop::sample::Index>(),
    )
        .prop_map(move |(changes, end)| {
            let mut der = der.clone();
            for (at, byte) in changes {
                let at = at.index(der.len());
                der[at] = byte;
            }
            der.truncate(end.index(der.len() + 1));
            der
        });
    let bytes = prop_oneof![prop::collection::vec(any::<u8>(), 0..300), changed];
    let mut runner = proptest::test_runner::TestRunner::new(cases(512));
    let result = runner.run(&bytes, |der| {
        let _ = super::subject_alt_names(&der);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
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
