//! `dockerhub_exporter healthcheck`: exit 0 while the exporter answers `/healthz`, 1 when it
//! does not, over HTTP or HTTPS, with basic authentication and client certificates as the web
//! configuration file asks.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use simhub::{Repo, SimHub};

use crate::support::*;

/// Runs the health check with `args`; its exit code and what it printed.
async fn healthcheck(args: &[&str]) -> (Option<i32>, String) {
    let out = tokio::process::Command::new(BIN)
        .arg("healthcheck")
        .args(args)
        .env_clear()
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

async fn start(config: Option<&Path>) -> (SimHub, Process, String) {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(2));
    let hub_url = hub.start().await.unwrap().url();
    let extra: Vec<&str> = match config {
        Some(c) => vec!["--web.config.file", c.to_str().unwrap()],
        None => Vec::new(),
    };
    let process = Process::start(&hub_args(&hub_url, "acme", &extra), &[]).await;
    let address = process.url.trim_start_matches("http://").to_string();
    (hub, process, address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_while_the_exporter_answers_and_fails_once_it_is_gone() {
    let (_hub, process, address) = start(None).await;
    let (code, text) = healthcheck(&["--web.listen-address", &address]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("/healthz: 200"), "{text}");
    // Listening on every interface is checked on the loopback.
    let port = address.rsplit(':').next().unwrap();
    let (code, text) = healthcheck(&["--web.listen-address", &format!(":{port}")]).await;
    assert_eq!(code, Some(0), "{text}");

    assert!(process.terminate().await.success());
    let (code, text) = healthcheck(&["--web.listen-address", &address]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("/healthz"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_the_web_configuration_for_https_basic_auth_and_client_certificates() {
    let dir = temp_dir("health-tls");
    // One CA signs the server's certificate and is the CA for clients: the health check
    // presents the server's own certificate where one is required.
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["exporter.example".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    write(&dir, "server.crt", &server_cert.pem());
    write(&dir, "server.key", &server_key.serialize_pem());
    write(&dir, "ca.crt", &ca.pem());
    write(&dir, "password", "right horse\n");
    write(&dir, "wrong", "wrong horse\n");
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n";
    let users = format!(
        "basic_auth_users:\n  prometheus: {}\n",
        bcrypt::hash("right horse", 4).unwrap()
    );
    let config = write(&dir, "web.yml", &format!("{tls}{users}"));
    let (_hub, process, address) = start(Some(&config)).await;
    let config_arg = config.to_str().unwrap();
    let password = dir.join("password");
    let wrong = dir.join("wrong");
    let with = |file: &'static str| {
        [
            "--web.listen-address",
            &address,
            "--web.config.file",
            config_arg,
            "--healthcheck.username",
            "prometheus",
            "--healthcheck.password-file",
            if file == "right" {
                password.to_str().unwrap()
            } else {
                wrong.to_str().unwrap()
            },
        ]
        .map(str::to_string)
    };

    let (code, text) = healthcheck(&with("right").each_ref().map(String::as_str)).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.starts_with("https://"), "{text}");

    let (code, text) = healthcheck(&with("wrong").each_ref().map(String::as_str)).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("401"), "{text}");

    let (code, text) = healthcheck(&[
        "--web.listen-address",
        &address,
        "--web.config.file",
        config_arg,
    ])
    .await;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("--healthcheck.username"), "{text}");

    // Without the web configuration it speaks plain HTTP, which a TLS server refuses.
    let (code, text) = healthcheck(&["--web.listen-address", &address]).await;
    assert_eq!(code, Some(1), "{text}");

    // Health endpoints opened: no credentials needed, once the server has read the change.
    write(
        &dir,
        "web.yml",
        &format!("{tls}{users}open_health_endpoints: true\n"),
    );
    eventually(|| async {
        let (code, _) = healthcheck(&[
            "--web.listen-address",
            &address,
            "--web.config.file",
            config_arg,
        ])
        .await;
        (code == Some(0)).then_some(())
    })
    .await;

    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}
