//! Which server certificates a client trusts when its settings name a CA
//! (`tls_config.ca_file`): those the CA signed, and the CA's own certificate when
//! a server presents it, as a self-signed certificate is used.
//!
//! `openssl req -x509`, as the Prometheus project's guide to TLS makes a
//! server's certificate, marks it as a CA. webpki then refuses it as a server's
//! (`CaUsedAsEndEntity`), while Prometheus, Grafana and promtool, written in Go,
//! accept it when it is the CA they were given. So such a certificate is trusted
//! here too, when it is byte for byte one of the CAs given, is within its
//! validity (webpki checks the dates before the CA mark) and names the server.

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

/// A client's TLS settings trusting only the CAs in `roots_pem` (and a server
/// presenting one of them, see the module's doc), offering `versions`, and
/// showing the client certificate and key in `identity_pem` when given.
pub fn client_config(
    roots_pem: &[u8],
    identity_pem: Option<&[u8]>,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<ClientConfig, String> {
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(roots_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_config: ca_file: {e}"))?;
    let mut roots = RootCertStore::empty();
    for ca in &cas {
        roots
            .add(ca.clone())
            .map_err(|e| format!("tls_config: ca_file: a certificate cannot be a CA: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("tls_config: ca_file: {e}"))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(GivenCas { inner, cas }));
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

/// webpki's verification, and a server presenting one of the CAs given.
#[derive(Debug)]
struct GivenCas {
    inner: Arc<WebPkiServerVerifier>,
    cas: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for GivenCas {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
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

    fn verifier(cas: &[&CertificateDer<'static>]) -> GivenCas {
        let mut roots = RootCertStore::empty();
        for ca in cas {
            roots.add((*ca).clone()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        GivenCas {
            inner: WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap(),
            cas: cas.iter().map(|c| (*c).clone()).collect(),
        }
    }

    fn verify(verifier: &GivenCas, cert: &CertificateDer<'_>, name: &str) -> Result<(), String> {
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
        client_config(ca.pem().as_bytes(), Some(identity.as_bytes()), &versions).unwrap();
        let e = client_config(b"no PEM here", None, &versions).unwrap_err();
        assert!(e.contains("ca_file"), "{e}");
    }
}
