//! `tls_server_config` turned into a rustls [`ServerConfig`]: the PEM
//! certificate chain, key and client CAs, the protocol versions and the
//! client certificate policy, with exporter-toolkit's meaning for each
//! `client_auth_type`.
//!
//! The crypto provider is *ring*, passed explicitly, so nothing depends on
//! a process-wide default. Only HTTP/1.1 is offered through ALPN.
//!
//! Mistakes are returned as [`Mistake`]s tied to the key that named the
//! offending file, so the caller can give `FILE:LINE:COLUMN: KEY`.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use super::web_config::{ClientAuth, PemSetting, TlsSettings, TlsVersion};
use crate::position::Mistake;

/// Reads the certificate, key and CAs and builds the server configuration.
pub(crate) fn server_config(settings: &TlsSettings) -> Result<ServerConfig, Mistake> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(&settings.cert)?;
    let key = private_key(&settings.key)?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(version, _)| (settings.min_version..=settings.max_version).contains(version))
    .map(|(_, supported)| supported)
    .collect();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|error| settings.cert.mistake(format!("cannot set up TLS: {error}")))?;
    let verifier = client_verifier(settings, &provider)?;
    let mut config = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    }
    .with_single_cert(chain, key)
    .map_err(|error| match error {
        rustls::Error::InconsistentKeys(_) => settings.key.mistake(format!(
            "the key in {} does not belong to the certificate in {}",
            settings.key.describe(),
            settings.cert.describe()
        )),
        error => settings.key.mistake(format!(
            "cannot use the key in {}: {error}",
            settings.key.describe()
        )),
    })?;
    config.ignore_client_order = settings.prefer_server_cipher_suites;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn certificates(setting: &PemSetting) -> Result<Vec<CertificateDer<'static>>, Mistake> {
    let bytes = setting.read()?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| setting.mistake(format!("bad PEM in {}: {error}", setting.describe())))?;
    if chain.is_empty() {
        return Err(setting.mistake(format!("no CERTIFICATE block in {}", setting.describe())));
    }
    Ok(chain)
}

fn private_key(setting: &PemSetting) -> Result<PrivateKeyDer<'static>, Mistake> {
    let bytes = setting.read()?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| match error {
        rustls_pki_types::pem::Error::NoItemsFound => setting.mistake(format!(
            "no PRIVATE KEY block (PKCS#8, PKCS#1 or SEC1) in {}",
            setting.describe()
        )),
        error => setting.mistake(format!("bad PEM in {}: {error}", setting.describe())),
    })
}

fn client_verifier(
    settings: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, Mistake> {
    let roots = match &settings.client_ca {
        Some(setting) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(setting)? {
                roots.add(cert).map_err(|error| {
                    setting.mistake(format!(
                        "unusable CA certificate in {}: {error}",
                        setting.describe()
                    ))
                })?;
            }
            Some((Arc::new(roots), setting))
        }
        None => None,
    };
    let verifying = |roots: Option<(Arc<RootCertStore>, &PemSetting)>, optional: bool| {
        // The parser makes sure verifying policies come with CAs.
        let Some((roots, setting)) = roots else {
            return Err(Mistake {
                at: None,
                key: Some("tls_server_config.client_ca_file".to_string()),
                message: "verifying client certificates needs client CAs".to_string(),
            });
        };
        let builder = WebPkiClientVerifier::builder_with_provider(roots, Arc::clone(provider));
        let builder = if optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        builder.build().map(Some).map_err(|error| {
            setting.mistake(format!(
                "cannot verify clients with {}: {error}",
                setting.describe()
            ))
        })
    };
    match settings.client_auth {
        ClientAuth::None => Ok(None),
        ClientAuth::VerifyIfGiven => verifying(roots, true),
        ClientAuth::RequireAndVerify => verifying(roots, false),
        ClientAuth::Request | ClientAuth::RequireAny => Ok(Some(Arc::new(AnyClientCert {
            mandatory: settings.client_auth == ClientAuth::RequireAny,
            hints: roots.map(|(roots, _)| roots.subjects()).unwrap_or_default(),
            provider: Arc::clone(provider),
        }))),
    }
}

/// Go's `RequestClientCert` and `RequireAnyClientCert`: any certificate is
/// taken without checking who issued it; the handshake still proves the
/// client holds its key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    hints: Vec<DistinguishedName>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::super::web_config::PemSource;
    use super::*;
    use crate::position::Position;

    /// A self-signed EC certificate and key made by the openssl CLI.
    fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj", &format!("/CN={name}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is needed");
        assert!(status.success());
        (cert, key)
    }

    fn file(path: &Path, key: &str, line: usize) -> PemSetting {
        PemSetting {
            source: PemSource::File(path.to_path_buf()),
            key: key.to_string(),
            at: Position { line, column: 13 },
        }
    }

    fn settings(cert: &Path, key: &Path) -> TlsSettings {
        TlsSettings {
            cert: file(cert, "tls_server_config.cert_file", 2),
            key: file(key, "tls_server_config.key_file", 3),
            client_ca: None,
            client_auth: ClientAuth::None,
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            prefer_server_cipher_suites: true,
        }
    }

    #[test]
    fn a_certificate_and_its_key_make_a_server_config() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "server");
        let mut wanted = settings(&cert, &key);
        wanted.min_version = TlsVersion::Tls13;
        let config = server_config(&wanted).unwrap();
        assert!(config.ignore_client_order);
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert_eq!(
            settings(&cert, &key).files().collect::<Vec<_>>(),
            vec![cert.as_path(), key.as_path()]
        );
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_at_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed(dir.path(), "one");
        let (_, other_key) = self_signed(dir.path(), "two");
        let mistake = server_config(&settings(&cert, &other_key)).unwrap_err();
        assert_eq!(mistake.key.as_deref(), Some("tls_server_config.key_file"));
        assert_eq!(
            mistake.at,
            Some(Position {
                line: 3,
                column: 13
            })
        );
        assert!(
            mistake
                .message
                .contains("does not belong to the certificate"),
            "{mistake:?}"
        );
    }

    #[test]
    fn files_without_the_expected_pem_blocks_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "server");
        // A key where the certificate should be, and the other way round.
        let mistake = server_config(&settings(&key, &cert)).unwrap_err();
        assert_eq!(mistake.key.as_deref(), Some("tls_server_config.cert_file"));
        assert!(
            mistake
                .message
                .starts_with(&format!("no CERTIFICATE block in {}", key.display())),
            "{mistake:?}"
        );
        let mistake = server_config(&settings(&cert, &cert)).unwrap_err();
        assert_eq!(mistake.key.as_deref(), Some("tls_server_config.key_file"));
        assert!(
            mistake.message.starts_with("no PRIVATE KEY block"),
            "{mistake:?}"
        );
    }

    #[test]
    fn client_verification_builds_from_the_ca_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "server");
        let (ca, _) = self_signed(dir.path(), "clients");
        for auth in [
            ClientAuth::Request,
            ClientAuth::RequireAny,
            ClientAuth::VerifyIfGiven,
            ClientAuth::RequireAndVerify,
        ] {
            let mut wanted = settings(&cert, &key);
            wanted.client_ca = Some(file(&ca, "tls_server_config.client_ca_file", 4));
            wanted.client_auth = auth;
            assert!(server_config(&wanted).is_ok(), "{auth:?}");
        }
        let mut wanted = settings(&cert, &key);
        wanted.client_ca = Some(file(&key, "tls_server_config.client_ca_file", 4));
        wanted.client_auth = ClientAuth::RequireAndVerify;
        let mistake = server_config(&wanted).unwrap_err();
        assert_eq!(
            mistake.key.as_deref(),
            Some("tls_server_config.client_ca_file")
        );
        assert!(
            mistake.message.starts_with("no CERTIFICATE block"),
            "{mistake:?}"
        );
    }

    #[test]
    fn versions_parse_as_exporter_toolkit_spells_them() {
        assert_eq!(TlsVersion::parse("TLS12"), Ok(TlsVersion::Tls12));
        assert_eq!(TlsVersion::parse("TLS13"), Ok(TlsVersion::Tls13));
        assert!(
            TlsVersion::parse("TLS10")
                .unwrap_err()
                .contains("cannot be honoured")
        );
        assert!(
            TlsVersion::parse("tls13")
                .unwrap_err()
                .contains("unknown version")
        );
    }
}
