//! `dockerhub_exporter healthcheck`: asks a running exporter for `/healthz`, as a container's
//! HEALTHCHECK does, without a shell or curl in the image. It reads the exporter's web
//! configuration file to know whether to speak HTTPS and whether to authenticate.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::config::{HealthcheckArgs, parse_listen_address};
use crate::server::webconfig::WebConfig;

/// Asks for `/healthz`; `Ok` with what it answered when that is 200, `Err` with why not.
pub fn run(args: &HealthcheckArgs) -> Result<String, String> {
    let address = target(&args.listen_address)?;
    let web = match &args.web_config_file {
        Some(path) => WebConfig::load(path).map_err(|e| e.to_string())?,
        None => WebConfig::default(),
    };
    let scheme = if web.tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{address}/healthz");
    let mut client = reqwest::Client::builder()
        .timeout(args.timeout)
        .redirect(reqwest::redirect::Policy::none())
        // The certificate is the exporter's own, reached on an address it may not name.
        .tls_danger_accept_invalid_certs(true);
    if let Some(pem) = web.own_identity_pem() {
        let identity = reqwest::Identity::from_pem(pem)
            .map_err(|e| format!("the server's certificate cannot be a client's: {e}"))?;
        client = client.identity(identity);
    }
    let client = client
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let mut request = client.get(&url);
    if let (Some(user), Some(file)) = (&args.username, &args.password_file) {
        let password = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        request = request.basic_auth(user, Some(password.trim_end_matches(['\n', '\r'])));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let answer = request
            .send()
            .await
            .map_err(|e| format!("{url}: {}", causes(&e.without_url())))?;
        let status = answer.status();
        match status.as_u16() {
            200 => Ok(format!("{url}: {status}")),
            401 if web.requires_auth() && args.username.is_none() => Err(format!(
                "{url}: {status}; the web configuration asks for basic authentication: give \
                 --healthcheck.username and --healthcheck.password-file, or set \
                 open_health_endpoints: true"
            )),
            _ => Err(format!("{url}: {status}")),
        }
    })
}

/// An error and its causes, as one line.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Where to reach an exporter listening on `listen_address`: its first address, with an
/// address on every interface replaced by the loopback of its family.
fn target(listen_address: &str) -> Result<SocketAddr, String> {
    let first = parse_listen_address(listen_address)
        .map_err(|e| format!("--web.listen-address: {e}"))?
        .into_iter()
        // `:PORT` gives both families; IPv4's loopback is the one every host has.
        .min_by_key(SocketAddr::is_ipv6)
        .ok_or_else(|| format!("--web.listen-address: {listen_address:?} gives no address"))?;
    let ip = match first.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(SocketAddr::new(ip, first.port()))
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn every_interface_is_checked_on_the_loopback() {
        assert_eq!(target(":9721").unwrap().to_string(), "127.0.0.1:9721");
        assert_eq!(target("0.0.0.0:1").unwrap().to_string(), "127.0.0.1:1");
        assert_eq!(target("[::]:2").unwrap().to_string(), "[::1]:2");
        assert_eq!(target("10.1.2.3:3").unwrap().to_string(), "10.1.2.3:3");
        assert!(target("nowhere").is_err());
    }
}
