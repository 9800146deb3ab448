//! Client certificates: a verifier for every `client_auth_type`, and the subject alternative
//! names `client_allowed_sans` compares, read with a small DER reader.

use super::*;

/// The OID of the subject alternative name extension (2.5.29.17), DER-encoded.
pub(super) const SUBJECT_ALT_NAME_OID: [u8; 3] = [0x55, 0x1d, 0x11];

/// Checks client certificates as `client_auth_type`, the client CA and `client_allowed_sans`
/// ask, for every type but `NoClientCert`.
///
/// With `VerifyClientCertIfGiven` and `RequireAndVerifyClientCert`, rustls' own WebPKI
/// verifier checks the chain to the client CA, the dates and the key usage. With
/// `RequestClientCert` and `RequireAnyClientCert` nothing is checked against a CA, as in Go's
/// crypto/tls: the certificate only has to parse, so any self-signed certificate passes. That
/// is safe only because rustls still checks, after this, that the client signed the handshake
/// with the certificate's key (`verify_tls1x_signature` below), so a client cannot present a
/// certificate it does not hold; it proves possession of a key, not an identity, which is why
/// the toolkit calls these types insecure. `client_allowed_sans` then requires one of the
/// listed names in the certificate, whatever the type (only the two types that require a
/// certificate allow it).
#[derive(Debug)]
pub(super) struct ClientCertificates {
    /// The chain check; `None` for the types that do not verify.
    pub(super) chain: Option<Arc<dyn ClientCertVerifier>>,
    /// Whether a client without a certificate is refused.
    pub(super) mandatory: bool,
    /// The client CA's subjects, sent as hints when there is no chain check.
    pub(super) hints: Vec<DistinguishedName>,
    /// The subject alternative names of which a certificate must have one; empty: any.
    pub(super) allowed_sans: Vec<String>,
    /// The signature algorithms for the handshake signature.
    pub(super) algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for ClientCertificates {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        match &self.chain {
            Some(chain) => chain.root_hint_subjects(),
            None => &self.hints,
        }
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match &self.chain {
            Some(chain) => {
                chain.verify_client_cert(end_entity, intermediates, now)?;
            }
            None => {
                rustls::server::ParsedCertificate::try_from(end_entity)?;
            }
        }
        if !self.allowed_sans.is_empty() {
            let sans = subject_alt_names(end_entity.as_ref()).ok_or(
                rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
            )?;
            if !sans
                .iter()
                .any(|san| self.allowed_sans.iter().any(|allowed| san.is(allowed)))
            {
                return Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ));
            }
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        match &self.chain {
            Some(chain) => chain.verify_tls12_signature(message, cert, dss),
            None => rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        match &self.chain {
            Some(chain) => chain.verify_tls13_signature(message, cert, dss),
            None => rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match &self.chain {
            Some(chain) => chain.supported_verify_schemes(),
            None => self.algorithms.supported_schemes(),
        }
    }
}

/// A subject alternative name of a certificate, of the kinds the toolkit compares.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum San {
    Dns(String),
    Email(String),
    Uri(String),
    Ip(IpAddr),
}

impl San {
    /// Whether `allowed`, an entry of `client_allowed_sans`, names this: the same text (as
    /// the toolkit compares), or for an address the same address in any notation.
    pub(super) fn is(&self, allowed: &str) -> bool {
        match self {
            San::Dns(name) | San::Email(name) | San::Uri(name) => name == allowed,
            San::Ip(ip) => allowed
                .parse::<IpAddr>()
                .is_ok_and(|a| a.to_canonical() == ip.to_canonical()),
        }
    }
}

/// A reader of DER elements (tag, contents) that refuses anything out of bounds.
pub(super) struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// The next element's tag and contents; `None` when there is none or it is malformed.
    pub(super) fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        // Multi-byte tags appear nowhere in the structures read here.
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            // At most 4 length bytes, which fit a usize; 0x80 (indefinite) is not DER.
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return None;
            }
            let (bytes, after) = rest.split_at_checked(count)?;
            rest = after;
            bytes
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b))
        };
        let (contents, after) = rest.split_at_checked(len)?;
        self.0 = after;
        Some((tag, contents))
    }

    /// The next element's contents when it has this tag.
    pub(super) fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        self.next().filter(|(t, _)| *t == tag).map(|(_, c)| c)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The DNS, e-mail, URI and IP subject alternative names of a DER certificate (RFC 5280
/// 4.2.1.6), what the toolkit compares `client_allowed_sans` with; `None` when the
/// certificate cannot be read that far. Neither rustls nor webpki exposes these (webpki
/// checks DNS names with wildcards, which the toolkit does not, and has no e-mail names), so
/// this reads the few structures on the way: Certificate, TBSCertificate, its `[3]`
/// extensions, the subjectAltName extension. The certificate has passed rustls' own parser
/// before this runs.
pub(super) fn subject_alt_names(der: &[u8]) -> Option<Vec<San>> {
    const SEQUENCE: u8 = 0x30;
    let certificate = Der(der).expect(SEQUENCE)?;
    let mut tbs = Der(Der(certificate).expect(SEQUENCE)?);
    let mut sans = Vec::new();
    while !tbs.is_empty() {
        let (tag, contents) = tbs.next()?;
        // [3] EXPLICIT Extensions; the fields before it are skipped whole.
        if tag != 0xa3 {
            continue;
        }
        let mut extensions = Der(Der(contents).expect(SEQUENCE)?);
        while !extensions.is_empty() {
            let mut extension = Der(extensions.expect(SEQUENCE)?);
            let oid = extension.expect(0x06)?;
            let (mut tag, mut value) = extension.next()?;
            if tag == 0x01 {
                // The critical flag.
                (tag, value) = extension.next()?;
            }
            if tag != 0x04 || oid != SUBJECT_ALT_NAME_OID {
                continue;
            }
            let mut names = Der(Der(value).expect(SEQUENCE)?);
            while !names.is_empty() {
                let (tag, name) = names.next()?;
                let text = || std::str::from_utf8(name).ok().map(str::to_string);
                // GeneralName's IMPLICIT context tags; the other kinds are not compared.
                let san = match tag {
                    0x81 => text().map(San::Email),
                    0x82 => text().map(San::Dns),
                    0x86 => text().map(San::Uri),
                    0x87 => match name.len() {
                        4 => <[u8; 4]>::try_from(name).ok().map(|b| San::Ip(b.into())),
                        16 => <[u8; 16]>::try_from(name).ok().map(|b| San::Ip(b.into())),
                        _ => None,
                    },
                    _ => None,
                };
                sans.extend(san);
            }
        }
    }
    Some(sans)
}
