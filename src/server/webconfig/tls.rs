//! The TLS side of the web configuration: PEM from the file or inline, client authentication
//! types, versions, cipher suites and key exchange groups, made into a rustls server config.

use super::*;

/// The cipher suites the exporter toolkit accepts: the names and IANA numbers of Go's
/// `tls.CipherSuites()` (Go leaves out the insecure ones, and so does the toolkit), and
/// whether the suite is a TLS 1.3 one. Go ignores `cipher_suites` for TLS 1.3, and so do we.
pub(super) const GO_CIPHER_SUITES: [(&str, u16, bool); 17] = [
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

/// PEM text from a setting of the file or from a file it names, and which it was, for errors.
pub(super) struct Pem {
    pub(super) text: Vec<u8>,
    pub(super) origin: Origin,
}

/// Where a PEM text came from.
pub(super) enum Origin {
    /// Inline, under this setting.
    Inline(&'static str),
    /// From this file, named by this setting.
    File(&'static str, PathBuf),
}

impl Origin {
    /// An error about the PEM text from here.
    pub(super) fn error(&self, reason: impl Into<String>) -> Error {
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
pub(super) fn read_pem(
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
pub(super) fn certificates(pem: &Pem) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem.text)
        .collect::<Result<_, _>>()
        .map_err(|e| pem.origin.error(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem.origin.error("no certificate"));
    }
    Ok(certs)
}

/// Why a private key cannot be read, without quoting anything of its text.
pub(super) fn key_reason(e: &pem::Error) -> String {
    match e {
        pem::Error::NoItemsFound => "no private key".to_string(),
        pem::Error::Io(e) => e.to_string(),
        _ => "not a readable PEM private key".to_string(),
    }
}

/// `client_auth_type`: whether clients are asked for a certificate, must send one, and
/// whether it must chain to the client CA (Go's `tls.ClientAuthType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    pub(super) fn parse(text: Option<&str>) -> Result<ClientAuth, Error> {
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
    pub(super) fn mandatory(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }

    /// Whether a certificate must chain to the client CA.
    pub(super) fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// A TLS version as the toolkit names it, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum TlsVersion {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    pub(super) fn parse(
        field: &'static str,
        text: Option<&str>,
        default: TlsVersion,
    ) -> Result<Self, Error> {
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
pub(super) fn tls_config(
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
pub(super) fn versions(t: &RawTls, warnings: &mut Vec<String>) -> Result<(bool, bool), Error> {
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
pub(super) fn cipher_suites(
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
pub(super) type KxGroups = Vec<&'static dyn SupportedKxGroup>;

/// The key exchange groups of `curve_preferences`, in its order (`None`: the provider's
/// defaults), and whether TLS 1.2 is still offered. A curve the toolkit knows but rustls lacks
/// (CurveP521) is a warning and skipped; none left is an error. When no group usable with
/// TLS 1.2 remains (X25519MLKEM768 is TLS 1.3 only), TLS 1.2 is not offered (a warning),
/// unless it is the only version (an error).
pub(super) fn key_exchange_groups(
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
