//! A throwaway CA and a `127.0.0.1` leaf, so the TLS rows run offline: the
//! proxy trusts the CA through `ProxyConfig.ca_files`, the load generator
//! through its own root store.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::PathBuf;
use std::sync::Arc;
use tempfile::TempDir;
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub struct Pki {
    _dir: TempDir,
    pub ca_file: PathBuf,
    ca_der: CertificateDer<'static>,
    leaf_chain: Vec<CertificateDer<'static>>,
    leaf_key: PrivatePkcs8KeyDer<'static>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Pki {
    pub fn new() -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "datovcr bench CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign the CA");
        let issuer = Issuer::new(ca_params, ca_key);

        // Strings that parse as IP addresses become IP SANs.
        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("leaf params");
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("sign the leaf");

        let dir = tempfile::tempdir().expect("temp dir for the CA");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write the CA PEM");
        Pki {
            _dir: dir,
            ca_file,
            ca_der: ca_cert.der().clone(),
            leaf_chain: vec![leaf.der().clone()],
            leaf_key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
        }
    }

    /// The upstream's side: the leaf, ALPN `http/1.1`.
    pub fn acceptor(&self) -> TlsAcceptor {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("default protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                self.leaf_chain.clone(),
                PrivateKeyDer::Pkcs8(self.leaf_key.clone_key()),
            )
            .expect("leaf and key match");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsAcceptor::from(Arc::new(config))
    }

    /// The load generator's side when it talks TLS to the upstream directly.
    pub fn connector(&self) -> (TlsConnector, ServerName<'static>) {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("the CA is usable");
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from("127.0.0.1").expect("an IP server name");
        (TlsConnector::from(Arc::new(config)), name)
    }
}
