//! `--web.config.file`: TLS, client certificates and basic authentication on our endpoints,
//! reloaded when the file changes, refused at start when broken.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use simhub::{Repo, SimHub};

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
    for path in ["/metrics", "/", "/healthz", "/readyz"] {
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
