//! Which server certificates a client trusts when its settings name a CA
//! (`tls_config.ca_file`) or the name a server's certificate must carry
//! (`tls_config.server_name`): those the CA (or the system's CAs) signed, for that
//! name, and the CA's own certificate when a server presents it, as a
//! self-signed certificate is used.
//!
//! `openssl req -x509`, as the Prometheus project's guide to TLS makes a
//! server's certificate, marks it as a CA. webpki then refuses it as a server's
//! (`CaUsedAsEndEntity`), while Prometheus, Grafana and promtool, written in Go,
//! accept it when it is the CA they were given. So such a certificate is trusted
//! here too, when it is byte for byte one of the CAs given, is within its
//! validity (webpki checks the dates before the CA mark) and names the server.
//!
//! `server_name` is the name checked in the server's certificate instead of the
//! URL's host, as Go's `tls.Config.ServerName` is: a server reached by its
//! address (`https://10.0.0.5:9090`) with a certificate for its name. The name
//! the TLS handshake announces (SNI) stays the URL's host; a server with one
//! certificate, as Prometheus and Alertmanager serve, does not look at it.

use std::sync::Arc;

use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::server::ParsedCertificate;
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    SupportedProtocolVersion,
};

/// The CAs a client trusts.
#[derive(Debug, Clone, Copy)]
pub enum Roots<'a> {
    /// Only those in this PEM (`ca_file`).
    Given(&'a [u8]),
    /// The system's.
    System,
}

/// A client's TLS settings trusting `roots` (and a server presenting one of the
/// CAs given, see the module's doc), checking `name` in the server's certificate
/// instead of the URL's host when given, offering `versions`, and showing the
/// client certificate and key in `identity_pem` when given.
pub fn client_config(
    roots: Roots<'_>,
    name: Option<&ServerName<'static>>,
    identity_pem: Option<&[u8]>,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<ClientConfig, String> {
    let mut store = RootCertStore::empty();
    let cas: Vec<CertificateDer<'static>> = match roots {
        Roots::Given(pem) => {
            let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("tls_config: ca_file: {e}"))?;
            for ca in &cas {
                store.add(ca.clone()).map_err(|e| {
                    format!("tls_config: ca_file: a certificate cannot be a CA: {e}")
                })?;
            }
            cas
        }
        Roots::System => {
            store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if store.is_empty() {
                return Err("tls_config: no CA certificate found on this system; hint: install the ca-certificates package, or give tls_config: ca_file".into());
            }
            Vec::new()
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
        .map_err(|e| match roots {
            Roots::Given(_) => format!("tls_config: ca_file: {e}"),
            Roots::System => format!("tls_config: the system's CAs: {e}"),
        })?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ServerCheck {
            inner,
            cas,
            name: name.cloned(),
        }));
    match identity_pem {
        None => Ok(builder.with_no_client_auth()),
        Some(pem) => {
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("tls_config: cert_file: {e}"))?;
            let key = PrivateKeyDer::from_pem_slice(pem)
                .map_err(|e| format!("tls_config: key_file: {e}"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("tls_config: cert_file and key_file: {e}"))
        }
    }
}

/// webpki's verification, of `name` when given, and a server presenting one of
/// the CAs given.
#[derive(Debug)]
struct ServerCheck {
    inner: Arc<WebPkiServerVerifier>,
    /// The CAs given (none when the system's are trusted).
    cas: Vec<CertificateDer<'static>>,
    /// The name checked instead of the URL's host (`server_name`).
    name: Option<ServerName<'static>>,
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let server_name = self.name.as_ref().unwrap_or(server_name);
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(e) if is_ca_used_as_end_entity(&e) => {
                if !self.cas.iter().any(|ca| ca.as_ref() == end_entity.as_ref()) {
                    // A self-signed certificate none of the CAs given is: say
                    // so, not that it is marked as a CA.
                    return Err(rustls::Error::InvalidCertificate(
                        CertificateError::UnknownIssuer,
                    ));
                }
                let parsed = ParsedCertificate::try_from(end_entity)?;
                rustls::client::verify_server_name(&parsed, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Whether webpki refused the certificate only for being marked as a CA.
fn is_ca_used_as_end_entity(e: &rustls::Error) -> bool {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            other.0.downcast_ref::<webpki::Error>() == Some(&webpki::Error::CaUsedAsEndEntity)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    /// A self-signed certificate for `names`, marked as a CA as `openssl req
    /// -x509` marks it.
    fn self_signed_ca(names: &[&str]) -> rcgen::Certificate {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap()
    }

    fn verifier(cas: &[&CertificateDer<'static>]) -> ServerCheck {
        let mut roots = RootCertStore::empty();
        for ca in cas {
            roots.add((*ca).clone()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        ServerCheck {
            inner: WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap(),
            cas: cas.iter().map(|c| (*c).clone()).collect(),
            name: None,
        }
    }

    fn verify(verifier: &ServerCheck, cert: &CertificateDer<'_>, name: &str) -> Result<(), String> {
        verifier
            .verify_server_cert(
                cert,
                &[],
                &ServerName::try_from(name.to_string()).unwrap(),
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_self_signed_ca_given_as_the_ca_is_trusted_for_its_own_names_only() {
        let cert = self_signed_ca(&["localhost", "127.0.0.1"]).der().clone();
        let given = verifier(&[&cert]);
        // webpki alone refuses it.
        assert!(
            given
                .inner
                .verify_server_cert(
                    &cert,
                    &[],
                    &ServerName::try_from("localhost").unwrap(),
                    &[],
                    UnixTime::now()
                )
                .is_err_and(|e| is_ca_used_as_end_entity(&e))
        );
        verify(&given, &cert, "localhost").unwrap();
        verify(&given, &cert, "127.0.0.1").unwrap();
        let wrong_name = verify(&given, &cert, "prometheus.example").unwrap_err();
        assert!(wrong_name.contains("not valid for name"), "{wrong_name}");
        // Another server's certificate of the same kind is not trusted.
        let other = self_signed_ca(&["localhost"]).der().clone();
        let unknown = verify(&given, &other, "localhost").unwrap_err();
        assert!(unknown.contains("UnknownIssuer"), "{unknown}");
    }

    #[test]
    fn settings_with_a_ca_and_a_client_certificate_build() {
        let ca = self_signed_ca(&["localhost"]);
        let client = rcgen::generate_simple_self_signed(vec!["metrics".into()]).unwrap();
        let identity = format!(
            "{}{}",
            client.cert.pem(),
            client.signing_key.serialize_pem()
        );
        let versions = [&rustls::version::TLS13];
        let pem = ca.pem();
        client_config(
            Roots::Given(pem.as_bytes()),
            None,
            Some(identity.as_bytes()),
            &versions,
        )
        .unwrap();
        let e = client_config(Roots::Given(b"no PEM here"), None, None, &versions).unwrap_err();
        assert!(e.contains("ca_file"), "{e}");
    }

    #[test]
    fn a_server_name_is_checked_instead_of_the_host_reached() {
        let cert = self_signed_ca(&["prom.internal"]).der().clone();
        let mut by_name = verifier(&[&cert]);
        // Reached by its address, the certificate does not name it...
        assert!(verify(&by_name, &cert, "10.0.0.5").is_err());
        // ...but it names the server_name given, which is what is checked.
        by_name.name = Some(ServerName::try_from("prom.internal").unwrap());
        verify(&by_name, &cert, "10.0.0.5").unwrap();
        by_name.name = Some(ServerName::try_from("grafana.internal").unwrap());
        let e = verify(&by_name, &cert, "prom.internal").unwrap_err();
        assert!(e.contains("not valid for name"), "{e}");
    }
}
