//! `--web.config.file`: TLS, client certificates and basic authentication on our endpoints,
//! reloaded when the file changes, refused at start when broken.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use simhub::{Repo, SimHub};
use tokio_rustls::rustls;

use crate::support::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dhx-it-web-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn hub() -> (SimHub, String) {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(2));
    let url = hub.start().await.unwrap().url();
    (hub, url)
}

async fn status(client: &reqwest::Client, url: &str, auth: Option<(&str, &str)>) -> Option<u16> {
    let mut request = client.get(url);
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    Some(request.send().await.ok()?.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_guards_every_endpoint_and_follows_the_file_when_it_changes() {
    let (_hub, hub_url) = hub().await;
    let dir = temp_dir("auth");
    let hash = |p: &str| bcrypt::hash(p, 4).unwrap();
    let config = write(
        &dir,
        "web.yml",
        &format!("basic_auth_users:\n  prometheus: {}\n", hash("right horse")),
    );
    let process = Process::start(
        &hub_args(
            &hub_url,
            "acme",
            &["--web.config.file", config.to_str().unwrap()],
        ),
        &[],
    )
    .await;
    let client = reqwest::Client::new();
    let metrics = format!("{}/metrics", process.url);
    for path in [
        "/metrics",
        "/",
        "/healthz",
        "/readyz",
        "/api/v1/changes",
        "/repositories/acme/api",
    ] {
        let url = format!("{}{path}", process.url);
        assert_eq!(status(&client, &url, None).await, Some(401), "{path}");
    }
    let refused = client.get(&metrics).send().await.unwrap();
    assert!(refused.headers().contains_key("www-authenticate"));
    assert_eq!(
        status(&client, &metrics, Some(("prometheus", "wrong"))).await,
        Some(401)
    );
    assert_eq!(
        status(&client, &metrics, Some(("nobody", "right horse"))).await,
        Some(401)
    );
    assert_eq!(
        status(&client, &metrics, Some(("prometheus", "right horse"))).await,
        Some(200)
    );

    // A new user and open health endpoints take effect without a restart.
    write(
        &dir,
        "web.yml",
        &format!(
            "basic_auth_users:\n  grafana: {}\nopen_health_endpoints: true\n",
            hash("battery staple")
        ),
    );
    eventually(|| async {
        (status(&client, &metrics, Some(("grafana", "battery staple"))).await == Some(200))
            .then_some(())
    })
    .await;
    assert_eq!(
        status(&client, &metrics, Some(("prometheus", "right horse"))).await,
        Some(401)
    );
    assert_eq!(
        status(&client, &format!("{}/healthz", process.url), None).await,
        Some(200)
    );
    assert_eq!(status(&client, &metrics, None).await, Some(401));

    // A broken file later keeps the last good one, and says why.
    write(&dir, "web.yml", "basic_auth_users: [\n");
    eventually(|| async {
        process
            .log()
            .contains("keeping the last good one")
            .then_some(())
    })
    .await;
    assert_eq!(
        status(&client, &metrics, Some(("grafana", "battery staple"))).await,
        Some(200)
    );
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_sending_wrong_passwords_never_keep_prometheus_out() {
    let (_hub, hub_url) = hub().await;
    let dir = temp_dir("flood");
    // Cost 10, as `htpasswd -nBC 10` makes: each wrong password costs bcrypt tens of ms.
    let config = write(
        &dir,
        "web.yml",
        &format!(
            "basic_auth_users:\n  prometheus: {}\n",
            bcrypt::hash("right horse", 10).unwrap()
        ),
    );
    let process = Process::start(
        &hub_args(
            &hub_url,
            "acme",
            &[
                "--web.config.file",
                config.to_str().unwrap(),
                "--web.max-requests",
                "5",
            ],
        ),
        &[],
    )
    .await;
    let metrics = format!("{}/metrics", process.url);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut flood = tokio::task::JoinSet::new();
    for attacker in 0..10 {
        let (stop, refused, metrics) = (stop.clone(), refused.clone(), metrics.clone());
        flood.spawn(async move {
            let client = reqwest::Client::new();
            let wrong = format!("guess {attacker}");
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let answer = status(&client, &metrics, Some(("prometheus", &wrong))).await;
                assert_ne!(answer, Some(200), "a wrong password is never admitted");
                refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    // The flood is under way: every attacker has been refused at least twice over.
    eventually(|| async {
        (refused.load(std::sync::atomic::Ordering::Relaxed) >= 20).then_some(())
    })
    .await;
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for _ in 0..30 {
        answers.push(status(&client, &metrics, Some(("prometheus", "right horse"))).await);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    while let Some(attacker) = flood.join_next().await {
        attacker.unwrap();
    }
    assert!(
        answers.iter().all(|a| *a == Some(200)),
        "every scrape with the right password is served during the flood: {answers:?}"
    );
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_only_https_is_served_and_client_certificates_can_be_required() {
    let (_hub, hub_url) = hub().await;
    let dir = temp_dir("tls");
    // A CA for clients, a client certificate it signed, and the server's own certificate.
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client_cert = CertificateParams::new(vec!["scraper".to_string()])
        .unwrap()
        .signed_by(&client_key, &ca)
        .unwrap();
    let server = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    write(&dir, "server.crt", &server.cert.pem());
    write(&dir, "server.key", &server.signing_key.serialize_pem());
    write(&dir, "clients-ca.crt", &ca.pem());
    let config = write(
        &dir,
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    );
    let process = Process::start(
        &hub_args(
            &hub_url,
            "acme",
            &["--web.config.file", config.to_str().unwrap()],
        ),
        &[],
    )
    .await;
    let https = process.url.replace("http://127.0.0.1", "https://localhost") + "/metrics";
    let root = reqwest::Certificate::from_pem(server.cert.pem().as_bytes()).unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(root.clone())
        .resolve(
            "localhost",
            process.url.trim_start_matches("http://").parse().unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(status(&trusting, &https, None).await, Some(200));
    let plain = format!("{}/metrics", process.url);
    assert_eq!(
        status(&reqwest::Client::new(), &plain, None).await,
        None,
        "no plain HTTP"
    );

    // Now require client certificates signed by the CA.
    write(
        &dir,
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients-ca.crt\n  min_version: TLS13\n",
    );
    eventually(|| async {
        let fresh = reqwest::Client::builder()
            .add_root_certificate(root.clone())
            .resolve(
                "localhost",
                process.url.trim_start_matches("http://").parse().unwrap(),
            )
            .build()
            .unwrap();
        (status(&fresh, &https, None).await.is_none()).then_some(())
    })
    .await;
    let identity = reqwest::Identity::from_pem(
        format!("{}{}", client_cert.pem(), client_key.serialize_pem()).as_bytes(),
    )
    .unwrap();
    let with_certificate = reqwest::Client::builder()
        .add_root_certificate(root)
        .identity(identity)
        .resolve(
            "localhost",
            process.url.trim_start_matches("http://").parse().unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(status(&with_certificate, &https, None).await, Some(200));
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_broken_web_configuration_at_start_exits_2_naming_the_flag() {
    let dir = temp_dir("start");
    let config = write(
        &dir,
        "web.yml",
        "tls_server_config:\n  cert_file: nowhere.crt\n  key_file: nowhere.key\n",
    );
    let out = std::process::Command::new(BIN)
        .args([
            "--hub.namespace",
            "acme",
            "--web.config.file",
            config.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--web.config.file") && said.contains("nowhere.crt"),
        "{said}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A server certificate and key for `localhost`, and a CA for client certificates.
struct Certificates {
    server: rcgen::CertifiedKey<KeyPair>,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Certificates {
    fn new() -> Certificates {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Certificates {
            server: rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap(),
            ca: CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// A client identity with this DNS name, signed by the CA or self-signed.
    fn client(&self, dns_name: &str, signed_by_ca: bool) -> reqwest::Identity {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![SanType::DnsName(dns_name.try_into().unwrap())];
        let cert = if signed_by_ca {
            params.signed_by(&key, &self.ca).unwrap()
        } else {
            params.self_signed(&key).unwrap()
        };
        reqwest::Identity::from_pem(format!("{}{}", cert.pem(), key.serialize_pem()).as_bytes())
            .unwrap()
    }
}

/// `pem` as a YAML block scalar under a key indented by two spaces.
fn block(pem: &str) -> String {
    let lines: Vec<String> = pem.lines().map(|l| format!("    {l}")).collect();
    format!("|\n{}\n", lines.join("\n"))
}

/// The exporter's HTTPS address for `path`, as `https://localhost:PORT/path`.
fn https(process: &Process, path: &str) -> String {
    process.url.replace("http://127.0.0.1", "https://localhost") + path
}

/// An HTTPS client of the exporter that trusts its certificate, presents `identity` and is
/// set up further by `tweak`.
fn https_client(
    process: &Process,
    certificates: &Certificates,
    identity: Option<reqwest::Identity>,
    tweak: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(certificates.server.cert.pem().as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(root)
        .resolve(
            "localhost",
            process.url.trim_start_matches("http://").parse().unwrap(),
        );
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    tweak(builder).build().unwrap()
}

/// What a TLS handshake with the exporter agreed on, by a rustls client of these versions
/// and cipher suites (every group), or why it failed.
async fn negotiated(
    process: &Process,
    certificates: &Certificates,
    versions: &[&'static rustls::SupportedProtocolVersion],
    suites: &[rustls::SupportedCipherSuite],
) -> std::io::Result<(rustls::CipherSuite, rustls::NamedGroup)> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites = suites.to_vec();
    provider.kx_groups = rustls::crypto::aws_lc_rs::ALL_KX_GROUPS.to_vec();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificates.server.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let address = process.url.trim_start_matches("http://");
    let tcp = tokio::net::TcpStream::connect(address).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio::time::timeout(
        WAIT_LIMIT,
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await??;
    let connection = tls.get_ref().1;
    Ok((
        connection.negotiated_cipher_suite().unwrap().suite(),
        connection.negotiated_key_exchange_group().unwrap().name(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_exporter_web_configuration_with_inline_tls_and_headers_serves_https() {
    let (_hub, hub_url) = hub().await;
    let dir = temp_dir("toolkit");
    let certificates = Certificates::new();
    // As written for node_exporter: inline certificate and key, versions, suites, curves,
    // HTTP/2 (which does not apply here) and headers.
    let config = write(
        &dir,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert: {}  key: {}  min_version: TLS12\n  max_version: TLS13\n  \
             cipher_suites:\n    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n    \
             - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n  \
             curve_preferences: [CurveP384, CurveP521]\n\
             http_server_config:\n  http2: true\n  headers:\n    \
             Strict-Transport-Security: max-age=31536000; includeSubDomains\n    \
             X-Frame-Options: deny\n\
             basic_auth_users:\n  prometheus: {}\n",
            block(&certificates.server.cert.pem()),
            block(&certificates.server.signing_key.serialize_pem()),
            bcrypt::hash("right horse", 4).unwrap(),
        ),
    );
    let process = Process::start(
        &hub_args(
            &hub_url,
            "acme",
            &["--web.config.file", config.to_str().unwrap()],
        ),
        &[],
    )
    .await;
    let log = process.log();
    assert!(
        log.contains("http2") && log.contains("CurveP521"),
        "the settings that do not apply are logged: {log}"
    );
    let client = https_client(&process, &certificates, None, |b| b);
    let guarded = [
        "/metrics",
        "/",
        "/healthz",
        "/readyz",
        "/api/v1/changes",
        "/nowhere",
    ];
    for (path, auth) in guarded
        .iter()
        .map(|p| (p, true))
        .chain(guarded.iter().map(|p| (p, false)))
    {
        let mut request = client.get(https(&process, path));
        if auth {
            request = request.basic_auth("prometheus", Some("right horse"));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        match (auth, *path) {
            (false, _) => assert_eq!(status, 401, "{path}"),
            (true, "/nowhere") => assert_eq!(status, 404),
            (true, "/readyz") => assert!(status == 200 || status == 503),
            (true, _) => assert_eq!(status, 200, "{path}"),
        }
        let headers = response.headers();
        assert_eq!(
            headers["strict-transport-security"], "max-age=31536000; includeSubDomains",
            "{path}, authenticated: {auth}"
        );
        assert_eq!(headers["x-frame-options"], "deny", "{path}, {auth}");
    }
    // The suites and curves are the file's: a TLS 1.2 client offering every suite gets the
    // first of the file's (the server's order) and P-384; one offering only a suite left out
    // gets nothing. TLS 1.3 keeps its suites, and the file's curves.
    use rustls::CipherSuite::*;
    let every = rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES;
    let only = |name: rustls::CipherSuite| vec![*every.iter().find(|s| s.suite() == name).unwrap()];
    let tls12 = [&rustls::version::TLS12];
    let tls13 = [&rustls::version::TLS13];
    assert_eq!(
        negotiated(&process, &certificates, &tls12, every)
            .await
            .unwrap(),
        (
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            rustls::NamedGroup::secp384r1
        )
    );
    assert!(
        negotiated(
            &process,
            &certificates,
            &tls12,
            &only(TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
        )
        .await
        .is_err()
    );
    assert_eq!(
        negotiated(
            &process,
            &certificates,
            &tls13,
            &only(TLS13_CHACHA20_POLY1305_SHA256)
        )
        .await
        .unwrap(),
        (
            TLS13_CHACHA20_POLY1305_SHA256,
            rustls::NamedGroup::secp384r1
        )
    );
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_allowed_sans_admit_a_certificate_with_an_allowed_name_and_refuse_others() {
    let (_hub, hub_url) = hub().await;
    let dir = temp_dir("sans");
    let certificates = Certificates::new();
    write(&dir, "server.crt", &certificates.server.cert.pem());
    write(
        &dir,
        "server.key",
        &certificates.server.signing_key.serialize_pem(),
    );
    write(&dir, "clients-ca.crt", &certificates.ca.pem());
    let config = write(
        &dir,
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients-ca.crt\n  \
         client_allowed_sans: [scraper.example.com, prometheus.example.com]\n",
    );
    let process = Process::start(
        &hub_args(
            &hub_url,
            "acme",
            &["--web.config.file", config.to_str().unwrap()],
        ),
        &[],
    )
    .await;
    let metrics = https(&process, "/metrics");
    for (name, signed_by_ca, admitted) in [
        ("scraper.example.com", true, true),
        ("prometheus.example.com", true, true),
        ("intruder.example.com", true, false),
        // An allowed name does not make up for a certificate the CA did not sign.
        ("scraper.example.com", false, false),
    ] {
        let identity = certificates.client(name, signed_by_ca);
        let client = https_client(&process, &certificates, Some(identity), |b| b);
        let expected = admitted.then_some(200);
        assert_eq!(
            status(&client, &metrics, None).await,
            expected,
            "{name}, signed by the CA: {signed_by_ca}"
        );
    }
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_any_client_cert_admits_a_self_signed_certificate_and_refuses_none() {
    let (_hub, hub_url) = hub().await;
    let dir = temp_dir("requireany");
    let certificates = Certificates::new();
    let config = write(
        &dir,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert: {}  key: {}  client_auth_type: RequireAnyClientCert\n",
            block(&certificates.server.cert.pem()),
            block(&certificates.server.signing_key.serialize_pem()),
        ),
    );
    let process = Process::start(
        &hub_args(
            &hub_url,
            "acme",
            &["--web.config.file", config.to_str().unwrap()],
        ),
        &[],
    )
    .await;
    let metrics = https(&process, "/metrics");
    let self_signed = certificates.client("anyone.example.com", false);
    let with = https_client(&process, &certificates, Some(self_signed), |b| b);
    assert_eq!(status(&with, &metrics, None).await, Some(200));
    let without = https_client(&process, &certificates, None, |b| b);
    assert_eq!(status(&without, &metrics, None).await, None);
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_version_tls12_refuses_a_client_that_speaks_only_tls13() {
    let (_hub, hub_url) = hub().await;
    let dir = temp_dir("maxversion");
    let certificates = Certificates::new();
    write(&dir, "server.crt", &certificates.server.cert.pem());
    write(
        &dir,
        "server.key",
        &certificates.server.signing_key.serialize_pem(),
    );
    let config = write(
        &dir,
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         max_version: TLS12\n",
    );
    let process = Process::start(
        &hub_args(
            &hub_url,
            "acme",
            &["--web.config.file", config.to_str().unwrap()],
        ),
        &[],
    )
    .await;
    let metrics = https(&process, "/metrics");
    let only13 = https_client(&process, &certificates, None, |b| {
        b.tls_version_min(reqwest::tls::Version::TLS_1_3)
    });
    assert_eq!(status(&only13, &metrics, None).await, None);
    let only12 = https_client(&process, &certificates, None, |b| {
        b.tls_version_max(reqwest::tls::Version::TLS_1_2)
    });
    assert_eq!(status(&only12, &metrics, None).await, Some(200));
    let any = https_client(&process, &certificates, None, |b| b);
    assert_eq!(status(&any, &metrics, None).await, Some(200));
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}
