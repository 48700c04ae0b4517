//! TLS to a PostgreSQL store, as libpq's `sslmode` and `sslrootcert` say (rustls, with the
//! `ring` provider already in the tree).
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (default) | when the server offers it, else none | not checked (but see below) |
//! | `require` | always | not checked: encrypted, but not proof of whom to (as libpq) |
//! | `verify-ca` | always | signed by a trusted CA |
//! | `verify-full` | always | signed by a trusted CA and made for the host in the URL |
//!
//! The trusted CAs are those of `sslrootcert=FILE` (PEM certificates), else the public roots
//! of the Mozilla CA list compiled in (`webpki-roots`), which `sslrootcert=system` names too
//! (and, as in libpq, makes `verify-full` the default and any weaker mode an error). As in
//! libpq, `prefer` and `require` with `sslrootcert=FILE` check the chain as `verify-ca` does.
//! Client certificates (`sslcert`, `sslkey`) and revocation lists (`sslcrl`) are refused, not
//! ignored; `sslmode=allow` (plain first) is refused.
//!
//! tokio-postgres parses neither `verify-ca`/`verify-full` nor `sslrootcert`: [`split`] takes
//! them out of the URL before it is parsed, and the client is told `require` plus a
//! certificate verifier that does the checking.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

/// libpq's `sslmode`, less `allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            "allow" => {
                return Err(
                    "sslmode=allow (a connection without TLS first) is not supported: use prefer, require, verify-ca or verify-full"
                        .to_owned(),
                );
            }
            other => {
                return Err(format!(
                    "sslmode={other}: expected disable, prefer, require, verify-ca or verify-full"
                ));
            }
        })
    }
}

/// Whom a certificate must be signed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Roots {
    /// The PEM certificates of this file (`sslrootcert=FILE`).
    File(PathBuf),
    /// The public roots compiled in (no `sslrootcert`, or `sslrootcert=system`).
    Public,
}

/// A store's TLS settings, from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tls {
    pub(crate) mode: SslMode,
    /// `None`: the certificate is not checked (`prefer` and `require` without a file).
    pub(crate) roots: Option<Roots>,
    /// Whether the certificate must name the host (`verify-full`).
    pub(crate) check_name: bool,
}

impl Tls {
    /// What tokio-postgres is told: whether to ask for TLS, and to insist on it.
    pub(crate) fn client_mode(&self) -> postgres::config::SslMode {
        match self.mode {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                postgres::config::SslMode::Require
            }
        }
    }

    /// How messages say which certificates were trusted.
    pub(crate) fn trusted(&self) -> String {
        match &self.roots {
            Some(Roots::File(file)) => {
                format!("the CA certificates of sslrootcert={}", file.display())
            }
            Some(Roots::Public) => {
                "the public CA roots built in (give sslrootcert=FILE for a private CA)".to_owned()
            }
            None => "no CA (the certificate is not checked)".to_owned(),
        }
    }

    /// The connector that makes this TLS: reads `sslrootcert`'s file (each connection, so a
    /// renewed bundle is taken without a restart).
    pub(crate) fn connector(&self, store: &Path) -> Result<MakeRustlsConnect, StoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match &self.roots {
            None => Arc::new(Unchecked {
                algorithms: provider.signature_verification_algorithms,
            }),
            Some(roots) => {
                let roots = match roots {
                    Roots::File(file) => read_roots(store, file)?,
                    Roots::Public => RootCertStore {
                        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                    },
                };
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| root_error(store, &self.roots, e.to_string()))?;
                if self.check_name {
                    webpki
                } else {
                    Arc::new(ChainOnly(webpki))
                }
            }
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| root_error(store, &self.roots, e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

fn root_error(store: &Path, roots: &Option<Roots>, detail: String) -> StoreError {
    let file = match roots {
        Some(Roots::File(file)) => file.clone(),
        _ => PathBuf::from("system"),
    };
    StoreError::PgRootCert {
        path: store.to_owned(),
        file,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, detail),
    }
}

/// The certificates of a PEM file: an unreadable file, one with no certificate or with one
/// rustls cannot use is an error naming it.
fn read_roots(store: &Path, file: &Path) -> Result<RootCertStore, StoreError> {
    let error = |source: std::io::Error| StoreError::PgRootCert {
        path: store.to_owned(),
        file: file.to_owned(),
        source,
    };
    let bytes = std::fs::read(file).map_err(error)?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| {
            error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not PEM certificates: {e}"),
            ))
        })?;
        roots.add(cert).map_err(|e| {
            error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a certificate cannot be used as a CA: {e}"),
            ))
        })?;
    }
    if roots.is_empty() {
        return Err(error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
        )));
    }
    Ok(roots)
}

/// Takes libpq's TLS options out of a store URL: the URL left for tokio-postgres, and the
/// settings. `Err` is what is wrong with them (the URL holds no password: checked before).
pub(crate) fn split(url: &str) -> Result<(String, Tls), String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut kept = Vec::new();
    let mut mode = None;
    let mut root = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8()
                .map(|t| t.into_owned())
                .map_err(|_| format!("`{key}` is not UTF-8 once decoded"))
        };
        match decode(key)?.as_str() {
            "sslmode" => mode = Some(SslMode::parse(&decode(value)?)?),
            "sslrootcert" => root = Some(decode(value)?),
            key @ ("sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir") => {
                return Err(format!(
                    "{key} is not supported (no client certificates or revocation lists); the TLS options are sslmode and sslrootcert"
                ));
            }
            _ => kept.push(pair),
        }
    }
    let roots = match root.as_deref() {
        None | Some("") => None,
        Some("system") => Some(Roots::Public),
        Some(file) => Some(Roots::File(PathBuf::from(file))),
    };
    let mode = match (mode, &roots) {
        (None, Some(Roots::Public)) => SslMode::VerifyFull,
        (Some(mode), Some(Roots::Public)) if mode != SslMode::VerifyFull => {
            return Err(format!(
                "sslrootcert=system needs sslmode=verify-full (as libpq), not sslmode={}",
                mode.as_str()
            ));
        }
        (mode, _) => mode.unwrap_or(SslMode::Prefer),
    };
    let tls = match mode {
        SslMode::Disable => Tls {
            mode,
            roots: None,
            check_name: false,
        },
        // libpq: a root CA file makes these check the chain as verify-ca does.
        SslMode::Prefer | SslMode::Require => Tls {
            mode,
            roots,
            check_name: false,
        },
        SslMode::VerifyCa | SslMode::VerifyFull => Tls {
            mode,
            roots: Some(roots.unwrap_or(Roots::Public)),
            check_name: mode == SslMode::VerifyFull,
        },
    };
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, tls))
}

/// `prefer` and `require` without a CA: any certificate, as libpq (the handshake's own
/// signatures are still checked, so the connection is encrypted to the certificate's key).
#[derive(Debug)]
struct Unchecked {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain as `verify-full`, whatever host the certificate names.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the name last, once the chain is good: a name error means the chain
        // is good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// What a failed connection says beyond its cause when TLS is to blame: the certificate
/// was refused, the handshake failed, the server refused TLS or insisted on it.
pub(crate) fn explain(tls: &Tls, error: &postgres::Error) -> Option<String> {
    let mode = tls.mode.as_str();
    if let Some(db) = error.as_db_error() {
        // The server's pg_hba.conf has only `hostssl` lines for us.
        let refused_plain = db.code()
            == &postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            && db.message().contains("no encryption");
        return (refused_plain && tls.mode == SslMode::Disable).then(|| {
            format!(
                "the server refuses connections without TLS (sslmode={mode}): use sslmode=verify-full (with sslrootcert=FILE for a private CA) or sslmode=require"
            )
        });
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(rustls) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(match rustls {
                rustls::Error::InvalidCertificate(_) => format!(
                    "TLS (sslmode={mode}): the server's certificate was refused, checked against {}",
                    tls.trusted()
                ),
                _ => format!("the TLS handshake failed (sslmode={mode})"),
            });
        }
        cause = e.source();
    }
    // tokio-postgres's own TLS failures ("server does not support TLS").
    error
        .to_string()
        .contains("TLS")
        .then(|| format!("TLS could not be set up (sslmode={mode})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(url: &str) -> Tls {
        split(url).unwrap().1
    }

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_the_url() {
        let (url, t) =
            split("postgres://u@h/db?application_name=x&sslmode=verify-full&sslrootcert=%2Fca%20dir%2Fca.pem")
                .unwrap();
        assert_eq!(url, "postgres://u@h/db?application_name=x");
        assert_eq!(t.mode, SslMode::VerifyFull);
        assert_eq!(t.roots, Some(Roots::File(PathBuf::from("/ca dir/ca.pem"))));
        assert!(t.check_name);
        assert_eq!(t.client_mode(), postgres::config::SslMode::Require);
        let (url, t) = split("postgres://u@h/db").unwrap();
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(t.mode, SslMode::Prefer);
        assert_eq!(t.roots, None);
    }

    #[test]
    fn modes_follow_libpq() {
        let t = tls("postgres://h/db?sslmode=require");
        assert_eq!((t.roots, t.check_name), (None, false));
        let t = tls("postgres://h/db?sslmode=require&sslrootcert=ca.pem");
        assert_eq!(t.roots, Some(Roots::File("ca.pem".into())));
        assert!(!t.check_name);
        let t = tls("postgres://h/db?sslmode=verify-ca");
        assert_eq!((t.roots, t.check_name), (Some(Roots::Public), false));
        let t = tls("postgres://h/db?sslrootcert=system");
        assert_eq!(t.mode, SslMode::VerifyFull);
        let t = tls("postgres://h/db?sslmode=disable&sslrootcert=ca.pem");
        assert_eq!(t.client_mode(), postgres::config::SslMode::Disable);
        assert_eq!(t.roots, None);
    }

    #[test]
    fn unsupported_options_are_refused_by_name() {
        for (url, says) in [
            ("postgres://h/db?sslmode=allow", "sslmode=allow"),
            ("postgres://h/db?sslmode=verify", "expected disable"),
            ("postgres://h/db?sslcert=c.pem", "sslcert is not supported"),
            (
                "postgres://h/db?sslrootcert=system&sslmode=require",
                "needs sslmode=verify-full",
            ),
        ] {
            let e = split(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
    }

    #[test]
    fn a_bad_ca_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Path::new("postgres://u@h:5432/db");
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for file in [missing, empty] {
            let t = Tls {
                mode: SslMode::VerifyFull,
                roots: Some(Roots::File(file.clone())),
                check_name: true,
            };
            let e = t.connector(store).err().expect("refused");
            let text = e.to_string();
            assert!(text.contains(&file.display().to_string()), "{text}");
            assert!(text.starts_with("postgres://u@h:5432/db: "), "{text}");
        }
    }
}
