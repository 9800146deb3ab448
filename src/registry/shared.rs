//! What clients of registries share beyond Docker Hub's pull quota: an HTTP client that
//! follows no redirect, a request read within a time limit, the answer of a token service
//! (distribution's token authentication, which Docker Hub, GHCR, Quay, Harbor and GitLab
//! speak) and the manifest types a `HEAD` accepts. The pull-limit check and the mirror checks
//! both take them from here; this file decides nothing about what is sent.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::hub::{Secret, quote, read_bounded};

/// An HTTP client for the registry at `url`: the exporter's `User-Agent`, and no redirect
/// followed, since one could carry the credentials or a token elsewhere.
pub(crate) fn http_client(url: &Url) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(crate::version::USER_AGENT)
        .build()
        .map_err(|e| Error::Transport {
            url: url.to_string(),
            reason: format!("cannot build the HTTP client: {e}"),
        })
}

/// Sends `request` within `timeout` and reads at most `max_body` bytes of the answer's body.
pub(crate) async fn timed(
    timeout: Duration,
    request: reqwest::RequestBuilder,
    url: &Url,
    max_body: usize,
) -> Result<(StatusCode, HeaderMap, Vec<u8>)> {
    tokio::time::timeout(timeout, read_bounded(request, url, max_body))
        .await
        .unwrap_or_else(|_| {
            Err(Error::Timeout {
                url: url.to_string(),
            })
        })
}

/// The error for an answer with an unexpected status.
pub(crate) fn status_error(url: &Url, status: StatusCode) -> Error {
    Error::Status {
        url: url.to_string(),
        status: status.as_u16(),
        said: None,
    }
}

/// The manifest types a `HEAD` accepts, as `docker pull` sends them, so that the registry
/// answers as it would a pull: an index or list stays itself and is not resolved to one
/// platform, and nothing is converted to schema 1.
pub(crate) const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// The lifetime of a token whose answer states none, and the shortest one believed: the
/// token specification's default and minimum (60 seconds).
const MIN_LIFETIME: Duration = Duration::from_secs(60);

/// A token and how long it may be used from its receipt.
#[derive(Debug)]
pub(crate) struct Token {
    /// The token itself.
    pub(crate) secret: Secret,
    /// From its receipt to its expiry.
    pub(crate) lifetime: Duration,
}

/// The token service's answer; Docker's has both fields, other registries one of them.
#[derive(Deserialize)]
struct WireToken {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// Reads a token service's answer; the error says what is wrong without the body.
/// The token in a token service's answer at `url`: `refused` makes the error of a 401 or 403,
/// another failing status is a status error, and a body that is no token answer a decode
/// error in which `secret` (the credentials sent) is masked.
pub(crate) fn token_from_answer(
    url: &Url,
    status: StatusCode,
    body: &[u8],
    secret: Option<&Secret>,
    refused: impl FnOnce() -> Error,
) -> Result<Token> {
    match status {
        s if s.is_success() => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(refused()),
        s => return Err(status_error(url, s)),
    }
    decode(body).map_err(|reason| Error::Decode {
        url: url.to_string(),
        reason: quote(&reason, secret),
    })
}

/// The token and its lifetime in a token service's answer; the reason when it holds none.
pub(crate) fn decode(body: &[u8]) -> Result<Token, String> {
    let wire: WireToken =
        serde_json::from_slice(body).map_err(|e| format!("not a token service's answer: {e}"))?;
    let lifetime = wire
        .expires_in
        .map_or(MIN_LIFETIME, |s| Duration::from_secs(s).max(MIN_LIFETIME));
    wire.access_token
        .filter(|t| !t.is_empty())
        .or(wire.token.filter(|t| !t.is_empty()))
        .map(|t| Token {
            secret: Secret::new(t),
            lifetime,
        })
        .ok_or_else(|| "the answer holds no token".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_field_holds_the_token_and_the_lifetime_is_at_least_a_minute() {
        let t = decode(br#"{"token": "a", "expires_in": 300}"#).unwrap();
        assert_eq!(
            (t.secret.expose(), t.lifetime),
            ("a", Duration::from_secs(300))
        );
        let t = decode(br#"{"access_token": "b", "expires_in": 5}"#).unwrap();
        assert_eq!((t.secret.expose(), t.lifetime), ("b", MIN_LIFETIME));
        let t = decode(br#"{"token": "", "access_token": "c"}"#).unwrap();
        assert_eq!((t.secret.expose(), t.lifetime), ("c", MIN_LIFETIME));
        for bad in [
            &br#"{}"#[..],
            br#"{"token": ""}"#,
            b"<html>",
            br#"{"token": 5}"#,
        ] {
            assert!(decode(bad).is_err());
        }
    }
}
