//! The web configuration: parsing, validation, TLS settings and client certificates, with
//! handshakes run in memory.

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

// The toolkit's whole format: TLS settings checked by real handshakes in memory, headers,
// warnings and errors.

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, NamedGroup, ProtocolVersion, ServerConnection};

/// A folder with a server certificate and key for `localhost`, and a CA that signs client
/// certificates; removed when dropped.
struct Fixture {
    dir: PathBuf,
    cert: String,
    key: String,
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// A client's certificate and key.
struct Client {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = temp_dir(name);
        let server = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert, key) = (server.cert.pem(), server.signing_key.serialize_pem());
        write(&dir, "server.crt", &cert);
        write(&dir, "server.key", &key);
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        write(&dir, "ca.crt", &ca.pem());
        Fixture { dir, cert, key, ca }
    }

    /// Loads `yaml` as the web configuration, with its warnings.
    fn load(&self, yaml: &str) -> Result<(WebConfig, Vec<String>), Error> {
        let path = write(&self.dir, "web.yml", yaml);
        WebConfig::load_with_warnings(&path)
    }

    /// Loads `yaml`, which must load, and its TLS configuration.
    fn tls(&self, yaml: &str) -> (Arc<rustls::ServerConfig>, Vec<String>) {
        let (config, warnings) = self.load(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        (config.tls.expect("TLS is configured"), warnings)
    }

    /// A client certificate with these subject alternative names, signed by the CA or
    /// self-signed.
    fn client(&self, sans: Vec<rcgen::SanType>, signed_by_ca: bool) -> Client {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        let cert = if signed_by_ca {
            params.signed_by(&key, &self.ca).unwrap()
        } else {
            params.self_signed(&key).unwrap()
        };
        Client {
            cert: cert.der().clone(),
            key: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `pem` as the lines of a YAML block scalar indented by four spaces.
fn block(pem: &str) -> String {
    let lines: Vec<String> = pem.lines().map(|l| format!("    {l}")).collect();
    format!("|\n{}\n", lines.join("\n"))
}

/// A client that trusts the fixture's server certificate, offers these versions and
/// (when given) only these cipher suites and groups, and presents `identity`.
fn client_config(
    f: &Fixture,
    versions: &[&'static SupportedProtocolVersion],
    suites: Option<Vec<SupportedCipherSuite>>,
    groups: Option<Vec<&'static dyn SupportedKxGroup>>,
    identity: Option<&Client>,
) -> ClientConfig {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(suites) = suites {
        provider.cipher_suites = suites;
    }
    if let Some(groups) = groups {
        provider.kx_groups = groups;
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(f.cert.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    match identity {
        Some(c) => builder
            .with_client_auth_cert(vec![c.cert.clone()], c.key.clone_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}

/// A client of both TLS versions and every suite and group, presenting `identity`.
fn any_client(f: &Fixture, identity: Option<&Client>) -> ClientConfig {
    client_config(
        f,
        rustls::ALL_VERSIONS,
        Some(rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES.to_vec()),
        Some(rustls::crypto::aws_lc_rs::ALL_KX_GROUPS.to_vec()),
        identity,
    )
}

/// Runs a TLS handshake in memory; the client's connection when both sides finished.
fn handshake(
    server: &Arc<rustls::ServerConfig>,
    client: ClientConfig,
) -> Result<ClientConnection, rustls::Error> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut c = ClientConnection::new(Arc::new(client), name)?;
    let mut s = ServerConnection::new(Arc::clone(server))?;
    fn pass(from: &mut dyn FnMut(&mut Vec<u8>), to: &mut dyn FnMut(&mut &[u8])) {
        let mut buffer = Vec::new();
        from(&mut buffer);
        let mut rest = &buffer[..];
        while !rest.is_empty() {
            to(&mut rest);
        }
    }
    // A handshake takes at most a few flights each way.
    for _ in 0..8 {
        pass(
            &mut |b| while c.wants_write() && c.write_tls(b).is_ok() {},
            &mut |r| {
                s.read_tls(r).unwrap();
            },
        );
        s.process_new_packets()?;
        pass(
            &mut |b| while s.wants_write() && s.write_tls(b).is_ok() {},
            &mut |r| {
                c.read_tls(r).unwrap();
            },
        );
        c.process_new_packets()?;
        if !c.is_handshaking() && !s.is_handshaking() && !c.wants_write() {
            return Ok(c);
        }
    }
    Err(rustls::Error::General(
        "the handshake did not finish".into(),
    ))
}

fn suite(name: rustls::CipherSuite) -> SupportedCipherSuite {
    *rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES
        .iter()
        .find(|s| s.suite() == name)
        .unwrap()
}

#[test]
fn a_node_exporter_file_with_every_key_of_the_toolkit_loads() {
    let f = Fixture::new("everything");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let yaml = format!(
        "tls_server_config:\n  cert: {}  key: {}  client_auth_type: RequireAndVerifyClientCert\n  \
         client_ca: {}  client_allowed_sans: [scraper.example.com, 10.0.0.1]\n  \
         min_version: TLS12\n  max_version: TLS13\n  \
         cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n  \
         prefer_server_cipher_suites: false\n  curve_preferences: [X25519, CurveP256]\n\
         http_server_config:\n  http2: false\n  headers:\n    Strict-Transport-Security: max-age=31536000\n    \
         X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    X-XSS-Protection: 0\n    \
         Content-Security-Policy: default-src 'self'\n\
         rate_limit:\n  interval: 1s\n  burst: 10\n\
         basic_auth_users:\n  prometheus: {hash}\n",
        block(&f.cert),
        block(&f.key),
        block(&f.ca.pem()),
    );
    let (config, warnings) = f.load(&yaml).unwrap();
    let tls = config.tls.as_ref().expect("TLS");
    assert!(
        !tls.ignore_client_order,
        "prefer_server_cipher_suites: false"
    );
    assert!(config.requires_auth());
    assert!(
        config.own_identity_pem().is_some(),
        "clients must present one"
    );
    let headers: Vec<(&str, &str)> = config
        .response_headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
        .collect();
    assert_eq!(
        headers,
        [
            ("content-security-policy", "default-src 'self'"),
            ("strict-transport-security", "max-age=31536000"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "deny"),
            ("x-xss-protection", "0"),
        ]
    );
    assert_eq!(warnings.len(), 1, "only rate_limit: {warnings:?}");
    assert!(warnings[0].contains("rate_limit"), "{warnings:?}");
}

#[test]
fn settings_of_the_toolkit_that_cannot_apply_are_warnings_not_errors() {
    let f = Fixture::new("warnings");
    let (config, warnings) = f
        .load(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             min_version: TLS10\n  curve_preferences: [CurveP521, CurveP384]\n  \
             cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n\
             http_server_config:\n  http2: true\n\
             rate_limit: {interval: 0s}\n",
        )
        .unwrap();
    assert!(config.tls.is_some());
    for says in [
        "http2",
        "rate_limit",
        "min_version TLS10: TLS 1.2 is the lowest",
        "CurveP521 is not available",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA is not available",
    ] {
        assert!(
            warnings.iter().any(|w| w.contains(says)),
            "{says}: {warnings:?}"
        );
    }
    assert_eq!(warnings.len(), 5, "{warnings:?}");
    // TLS10 as the minimum means TLS 1.2: a TLS 1.2 client is served.
    let tls = config.tls.unwrap();
    let c = handshake(
        &tls,
        client_config(&f, &[&rustls::version::TLS12], None, None, None),
    )
    .unwrap();
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    // A file without any of them has no warning.
    let (_, none) = f
        .load("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
}

#[test]
fn inline_cert_and_key_serve_like_files() {
    let f = Fixture::new("inline");
    let (from_files, _) =
        f.tls("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
    let (inline, _) = f.tls(&format!(
        "tls_server_config:\n  cert: {}  key: {}",
        block(&f.cert),
        block(&f.key)
    ));
    let served = CertificateDer::from_pem_slice(f.cert.as_bytes()).unwrap();
    for tls in [&from_files, &inline] {
        let c = handshake(tls, any_client(&f, None)).unwrap();
        assert_eq!(c.peer_certificates().unwrap()[0], served);
    }
    // The health check presents the inline certificate and key where clients need one.
    let (config, _) = f
        .load(&format!(
            "tls_server_config:\n  cert: {}  key: {}  client_auth_type: RequireAnyClientCert\n",
            block(&f.cert),
            block(&f.key)
        ))
        .unwrap();
    let identity = String::from_utf8(config.own_identity_pem().unwrap().to_vec()).unwrap();
    assert!(identity.contains(f.cert.trim()) && identity.contains(f.key.trim()));
}

#[test]
fn a_file_wins_over_inline_text_with_a_warning() {
    let f = Fixture::new("both");
    let (tls, warnings) = f.tls(&format!(
        "tls_server_config:\n  cert: \"not a certificate\"\n  cert_file: server.crt\n  key: {}",
        block(&f.key)
    ));
    assert!(handshake(&tls, any_client(&f, None)).is_ok());
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("cert and cert_file") && w.contains("cert_file is used")),
        "{warnings:?}"
    );
}

#[test]
fn errors_and_debug_output_never_show_a_key_or_a_hash() {
    let f = Fixture::new("secrets");
    let body: String = f.key.lines().nth(1).unwrap().to_string();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    // A key cut short, inline and in a file; then one that is not a key at all.
    let cut = &f.key[..f.key.len() / 2];
    write(&f.dir, "cut.key", cut);
    for yaml in [
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key: {}",
            block(cut)
        ),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: cut.key\n".to_string(),
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key: \"{}\"\n",
            &body[..20]
        ),
    ] {
        let e = f.load(&yaml).unwrap_err().to_string();
        assert!(e.contains("key"), "{e}");
        assert!(!e.contains(&body[..20]), "the key is quoted: {e}");
    }
    let raw = parse(&format!(
        "tls_server_config:\n  key: {}basic_auth_users:\n  prom: {hash}\n",
        block(&f.key)
    ))
    .unwrap();
    let printed = format!("{raw:?}");
    assert!(
        !printed.contains(&body[..20]) && !printed.contains(&hash),
        "{printed}"
    );
    assert!(printed.contains("**redacted**"));
    let (config, _) = f
        .load(&format!("basic_auth_users:\n  prom: {hash}\n"))
        .unwrap();
    assert!(!format!("{config:?}").contains(&hash));
}

#[test]
fn tls_versions_follow_min_version_and_max_version_from_tls12_up() {
    let f = Fixture::new("versions");
    let tls12 = || client_config(&f, &[&rustls::version::TLS12], None, None, None);
    let tls13 = || client_config(&f, &[&rustls::version::TLS13], None, None, None);
    let files = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let (both, _) = f.tls(files);
    assert!(handshake(&both, tls12()).is_ok() && handshake(&both, tls13()).is_ok());
    let (only12, warnings) = f.tls(&format!("{files}  max_version: TLS12\n"));
    assert!(warnings.is_empty(), "{warnings:?}");
    let c = handshake(&only12, tls12()).unwrap();
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    assert!(handshake(&only12, tls13()).is_err(), "a TLS 1.3 client");
    let (only13, _) = f.tls(&format!("{files}  min_version: TLS13\n"));
    assert!(handshake(&only13, tls12()).is_err(), "a TLS 1.2 client");
    assert!(handshake(&only13, tls13()).is_ok());
    for (setting, says) in [
        (
            "max_version: TLS11",
            "max_version \"TLS11\": TLS 1.2 is the lowest",
        ),
        ("max_version: TLS10", "TLS 1.2 is the lowest"),
        (
            "min_version: TLS13\n  max_version: TLS12",
            "above max_version",
        ),
        ("min_version: TLS14", "use TLS10, TLS11, TLS12 or TLS13"),
        ("max_version: tls13", "max_version \"tls13\""),
    ] {
        let e = f.load(&format!("{files}  {setting}\n")).unwrap_err();
        assert!(matches!(e, Error::TlsVersion { .. }), "{setting}: {e}");
        assert!(e.to_string().contains(says), "{setting}: {e}");
    }
}

#[test]
fn cipher_suites_restrict_and_order_tls12_and_leave_tls13_alone() {
    let f = Fixture::new("suites");
    let (tls, warnings) = f.tls(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         cipher_suites: [TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n",
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    use rustls::CipherSuite::*;
    let tls12 = |suites: Vec<SupportedCipherSuite>| {
        client_config(&f, &[&rustls::version::TLS12], Some(suites), None, None)
    };
    // The server's order (prefer_server_cipher_suites defaults to true), whatever the
    // client prefers.
    let c = handshake(
        &tls,
        tls12(vec![
            suite(TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
            suite(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
            suite(TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.negotiated_cipher_suite().unwrap().suite(),
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
    );
    // A suite left out is not offered.
    assert!(
        handshake(
            &tls,
            tls12(vec![suite(TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)])
        )
        .is_err()
    );
    // TLS 1.3 keeps all its suites.
    let c = handshake(
        &tls,
        client_config(
            &f,
            &[&rustls::version::TLS13],
            Some(vec![suite(TLS13_AES_256_GCM_SHA384)]),
            None,
            None,
        ),
    )
    .unwrap();
    assert_eq!(
        c.negotiated_cipher_suite().unwrap().suite(),
        TLS13_AES_256_GCM_SHA384
    );
}

#[test]
fn cipher_suites_of_no_tls12_suite_available_here_offer_tls13_only_or_fail() {
    let f = Fixture::new("suites13");
    let files = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    // Go's names of TLS 1.3 suites are accepted and, as in Go, restrict nothing.
    for list in [
        "[TLS_AES_128_GCM_SHA256]",
        "[TLS_RSA_WITH_AES_128_CBC_SHA, TLS_AES_256_GCM_SHA384]",
    ] {
        let (tls, warnings) = f.tls(&format!("{files}  cipher_suites: {list}\n"));
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("only TLS 1.3 is offered")),
            "{list}: {warnings:?}"
        );
        let tls12 = client_config(&f, &[&rustls::version::TLS12], None, None, None);
        assert!(handshake(&tls, tls12).is_err(), "{list}");
        assert!(handshake(&tls, any_client(&f, None)).is_ok(), "{list}");
    }
    let e = f
        .load(&format!(
            "{files}  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n"
        ))
        .unwrap_err();
    assert!(e.to_string().contains("no TLS 1.2 cipher suite"), "{e}");
}

#[test]
fn an_unknown_cipher_suite_is_an_error_naming_it() {
    let f = Fixture::new("badsuite");
    for name in [
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA257",
        "tls_ecdhe_ecdsa_with_aes_128_gcm_sha256",
        // Go's insecure suites: the toolkit refuses them too.
        "TLS_RSA_WITH_RC4_128_SHA",
        "TLS13_AES_128_GCM_SHA256",
    ] {
        let e = f
            .load(&format!(
                "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
                 cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, {name}]\n"
            ))
            .unwrap_err();
        assert!(
            matches!(&e, Error::CipherSuite { name: n } if n == name),
            "{e}"
        );
        assert!(e.to_string().contains(name), "{e}");
    }
}

#[test]
fn curve_preferences_restrict_the_key_exchange_groups() {
    let f = Fixture::new("curves");
    let files = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let (tls, _) = f.tls(&format!("{files}  curve_preferences: [CurveP384]\n"));
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let c = handshake(&tls, client_config(&f, &[version], None, None, None)).unwrap();
        assert_eq!(
            c.negotiated_key_exchange_group().unwrap().name(),
            NamedGroup::secp384r1,
            "{version:?}"
        );
        let x25519_only = client_config(
            &f,
            &[version],
            None,
            Some(vec![rustls::crypto::aws_lc_rs::kx_group::X25519]),
            None,
        );
        assert!(handshake(&tls, x25519_only).is_err(), "{version:?}");
    }
    // The hybrid post-quantum group is TLS 1.3 only.
    let (tls, warnings) = f.tls(&format!("{files}  curve_preferences: [X25519MLKEM768]\n"));
    assert!(
        warnings.iter().any(|w| w.contains("only TLS 1.3")),
        "{warnings:?}"
    );
    let c = handshake(&tls, any_client(&f, None)).unwrap();
    assert_eq!(
        c.negotiated_key_exchange_group().unwrap().name(),
        NamedGroup::X25519MLKEM768
    );
    for (list, says) in [
        ("[CurveP521]", "names no curve available here"),
        ("[X25519, Curve25519]", "unknown curve \"Curve25519\""),
        ("[x25519]", "unknown curve"),
    ] {
        let e = f
            .load(&format!("{files}  curve_preferences: {list}\n"))
            .unwrap_err();
        assert!(e.to_string().contains(says), "{list}: {e}");
    }
}

#[test]
fn require_any_client_cert_admits_any_certificate_the_client_holds_and_no_client_without() {
    let f = Fixture::new("requireany");
    let (tls, _) = f.tls(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAnyClientCert\n",
    );
    let self_signed = f.client(vec![], false);
    assert!(handshake(&tls, any_client(&f, Some(&self_signed))).is_ok());
    assert!(handshake(&tls, any_client(&f, None)).is_err());
    // A client presenting a certificate whose key it does not hold cannot sign the
    // handshake with it: refused.
    #[derive(Debug)]
    struct Thief(Arc<rustls::sign::CertifiedKey>);
    impl rustls::client::ResolvesClientCert for Thief {
        fn resolve(
            &self,
            _: &[&[u8]],
            _: &[SignatureScheme],
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(Arc::clone(&self.0))
        }
        fn has_certs(&self) -> bool {
            true
        }
    }
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let own_key = f.client(vec![], false).key;
    // `CertifiedKey::new` does not check that the two belong together, unlike the
    // builders.
    let stolen = rustls::sign::CertifiedKey::new(
        vec![self_signed.cert.clone()],
        provider.key_provider.load_private_key(own_key).unwrap(),
    );
    let mut thief = any_client(&f, None);
    thief.client_auth_cert_resolver = Arc::new(Thief(Arc::new(stolen)));
    assert!(handshake(&tls, thief).is_err());
}

#[test]
fn request_client_cert_admits_clients_with_or_without_a_certificate() {
    let f = Fixture::new("request");
    let (tls, _) = f.tls(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequestClientCert\n",
    );
    assert!(handshake(&tls, any_client(&f, None)).is_ok());
    let self_signed = f.client(vec![], false);
    assert!(handshake(&tls, any_client(&f, Some(&self_signed))).is_ok());
}

#[test]
fn verified_client_certificates_must_chain_to_the_client_ca_inline_or_in_a_file() {
    let f = Fixture::new("verify");
    let signed = f.client(vec![], true);
    let self_signed = f.client(vec![], false);
    for ca in [
        "client_ca_file: ca.crt\n".to_string(),
        format!("client_ca: {}", block(&f.ca.pem())),
    ] {
        let (tls, _) = f.tls(&format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             client_auth_type: VerifyClientCertIfGiven\n  {ca}"
        ));
        assert!(
            handshake(&tls, any_client(&f, Some(&signed))).is_ok(),
            "{ca}"
        );
        assert!(handshake(&tls, any_client(&f, None)).is_ok(), "{ca}");
        assert!(
            handshake(&tls, any_client(&f, Some(&self_signed))).is_err(),
            "{ca}"
        );
    }
}

#[test]
fn client_allowed_sans_admit_only_certificates_naming_one_of_them() {
    use rcgen::SanType;
    let f = Fixture::new("sans");
    let ia5 = |s: &str| s.try_into().unwrap();
    let (tls, _) = f.tls(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
         client_allowed_sans: [scraper.example.com, prom@example.com, \
         \"spiffe://example.com/prometheus\", \"::1\", 10.0.0.7]\n",
    );
    for (sans, admitted) in [
        (vec![SanType::DnsName(ia5("scraper.example.com"))], true),
        (vec![SanType::Rfc822Name(ia5("prom@example.com"))], true),
        (
            vec![SanType::URI(ia5("spiffe://example.com/prometheus"))],
            true,
        ),
        (
            vec![SanType::IpAddress("0:0:0:0:0:0:0:1".parse().unwrap())],
            true,
        ),
        (vec![SanType::IpAddress("10.0.0.7".parse().unwrap())], true),
        (
            vec![
                SanType::DnsName(ia5("other.example.com")),
                SanType::DnsName(ia5("scraper.example.com")),
            ],
            true,
        ),
        (vec![SanType::DnsName(ia5("intruder.example.com"))], false),
        // Exact names, as the toolkit compares: no wildcards, no case folding.
        (vec![SanType::DnsName(ia5("*.example.com"))], false),
        (vec![SanType::DnsName(ia5("Scraper.example.com"))], false),
        (vec![SanType::Rfc822Name(ia5("scraper.example.com"))], true),
        (vec![SanType::IpAddress("10.0.0.8".parse().unwrap())], false),
        (vec![], false),
    ] {
        let client = f.client(sans.clone(), true);
        let result = handshake(&tls, any_client(&f, Some(&client)));
        assert_eq!(result.is_ok(), admitted, "{sans:?}: {result:?}");
    }
    // The names are checked after the chain: an allowed name on a certificate the CA did
    // not sign does not pass.
    let forged = f.client(vec![SanType::DnsName(ia5("scraper.example.com"))], false);
    assert!(handshake(&tls, any_client(&f, Some(&forged))).is_err());
    // And with RequireAnyClientCert, on any certificate.
    let (any, _) = f.tls(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [scraper.example.com]\n",
    );
    assert!(handshake(&any, any_client(&f, Some(&forged))).is_ok());
    let other = f.client(vec![SanType::DnsName(ia5("intruder.example.com"))], false);
    assert!(handshake(&any, any_client(&f, Some(&other))).is_err());
}

#[test]
fn client_auth_settings_that_do_not_go_together_are_refused() {
    let f = Fixture::new("authmix");
    let files = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    for (settings, says) in [
        (
            "client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n  client_allowed_sans: [a]",
            "client_allowed_sans needs client_auth_type",
        ),
        (
            "client_auth_type: RequestClientCert\n  client_allowed_sans: [a]",
            "client_allowed_sans needs",
        ),
        ("client_allowed_sans: [a]", "client_allowed_sans needs"),
        (
            "client_auth_type: RequireAnyClientCert\n  client_allowed_sans: []",
            "would admit no client",
        ),
        (
            "client_auth_type: RequireAndVerifyClientCert",
            "needs client_ca_file or client_ca",
        ),
        (
            "client_auth_type: RequireSomeClientCert",
            "client_auth_type \"RequireSomeClientCert\"",
        ),
        (
            "client_auth_type: RequireAnyClientCert\n  client_ca_file: missing.crt",
            "client_ca_file",
        ),
        (
            "client_auth_type: RequireAndVerifyClientCert\n  client_ca: \"junk\"",
            "client_ca: no certificate",
        ),
    ] {
        let e = f.load(&format!("{files}  {settings}\n")).unwrap_err();
        assert!(e.to_string().contains(says), "{settings}: {e}");
    }
    for settings in [
        "cert_file: server.crt",
        "key_file: server.key",
        "min_version: TLS13",
    ] {
        let e = f
            .load(&format!("tls_server_config:\n  {settings}\n"))
            .unwrap_err();
        assert!(e.to_string().contains("missing one of"), "{settings}: {e}");
    }
    // The old name of RequireAnyClientCert still works; a client CA without client
    // authentication is a warning, not an error (the toolkit refuses it).
    let (_, warnings) = f.tls(&format!(
        "{files}  client_auth_type: RequireClientCert\n  client_allowed_sans: [a]\n"
    ));
    assert!(warnings.is_empty(), "{warnings:?}");
    let (_, warnings) = f.tls(&format!("{files}  client_ca_file: ca.crt\n"));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("client_ca_file is not used"))
    );
}

#[test]
fn headers_are_those_the_toolkit_allows_with_values_it_accepts() {
    let f = Fixture::new("headers");
    let load = |headers: &str| f.load(&format!("http_server_config:\n  headers:\n{headers}"));
    let (config, _) = load(
        "    x-frame-options: SAMEORIGIN\n    X-XSS-Protection: \"1; mode=block\"\n    \
         Content-Security-Policy: \"\"\n",
    )
    .unwrap();
    let mut headers: Vec<(&str, &str)> = config
        .response_headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
        .collect();
    headers.sort();
    assert_eq!(
        headers,
        [
            ("x-frame-options", "SAMEORIGIN"),
            ("x-xss-protection", "1; mode=block")
        ],
        "any case of name and listed value; an empty value sets nothing"
    );
    for (headers, says) in [
        ("    Server: dockerhub\n", "\"Server\" cannot be configured"),
        ("    Set-Cookie: a=b\n", "cannot be configured"),
        (
            "    X-Frame-Options: deny\n    x-frame-options: sameorigin\n",
            "is given twice",
        ),
        (
            "    X-Frame-Options: allow-from x\n",
            "use deny or sameorigin",
        ),
        ("    X-Content-Type-Options: sniff\n", "use nosniff"),
        (
            "    Strict-Transport-Security: \"a\\nb\"\n",
            "not a valid header value",
        ),
        (
            "    Content-Security-Policy: \"a\\u0000b\"\n",
            "not a valid header value",
        ),
    ] {
        let e = load(headers).unwrap_err();
        assert!(matches!(e, Error::Header { .. }), "{headers}: {e}");
        assert!(e.to_string().contains(says), "{headers}: {e}");
    }
    // No headers without the section.
    let (config, _) = f.load("open_health_endpoints: true\n").unwrap();
    assert!(config.response_headers().is_empty());
}

#[test]
fn keys_the_toolkit_does_not_have_are_still_errors() {
    let f = Fixture::new("unknown");
    for yaml in [
        "http_server_config:\n  http3: true\n",
        "http_server_config:\n  headers: {}\n  cors: true\n",
        "rate_limit:\n  interval: 1s\n  rate: 3\n",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  ciphers: []\n",
    ] {
        let e = f.load(yaml).unwrap_err().to_string();
        assert!(e.contains("unknown field"), "{yaml}: {e}");
    }
}

#[test]
fn subject_alt_names_are_read_of_every_kind_the_toolkit_compares() {
    use rcgen::SanType;
    let f = Fixture::new("sanparse");
    let ia5 = |s: &str| s.try_into().unwrap();
    let client = f.client(
        vec![
            SanType::DnsName(ia5("a.example.com")),
            SanType::Rfc822Name(ia5("a@example.com")),
            SanType::URI(ia5("https://example.com/a")),
            SanType::IpAddress("192.0.2.1".parse().unwrap()),
            SanType::IpAddress("2001:db8::1".parse().unwrap()),
            SanType::OtherName((vec![1, 3, 6, 1, 4, 1, 1], "x".into())),
        ],
        true,
    );
    assert_eq!(
        subject_alt_names(client.cert.as_ref()).unwrap(),
        [
            San::Dns("a.example.com".into()),
            San::Email("a@example.com".into()),
            San::Uri("https://example.com/a".into()),
            San::Ip("192.0.2.1".parse().unwrap()),
            San::Ip("2001:db8::1".parse().unwrap()),
        ]
    );
    let none = f.client(vec![], true);
    assert_eq!(subject_alt_names(none.cert.as_ref()).unwrap(), []);
    // Cut short or with any byte changed, it is refused or read, never out of bounds.
    let der = client.cert.as_ref();
    assert!(subject_alt_names(&der[..der.len() - 1]).is_none());
    for at in 0..der.len() {
        let _ = subject_alt_names(&der[..at]);
        for flip in [0x01, 0x80, 0xff] {
            let mut changed = der.to_vec();
            changed[at] ^= flip;
            let _ = subject_alt_names(&changed);
        }
    }
}
