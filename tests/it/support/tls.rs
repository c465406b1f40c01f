//! A throwaway PKI for TLS tests, built with rcgen.
//!
//! The proxy must verify the upstream's certificate against a CA it is told
//! about (`--ca-file`), so the tests need a CA the system does not trust and
//! leaf certificates that fail verification for one precise reason each.
//! Every [`TestPki`] is fresh: keys are generated per instance and the CA PEM
//! lives in a temporary directory that is removed when the PKI is dropped.

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;
use tokio_rustls::TlsAcceptor;

/// Which certificate the fake upstream presents; each non-`Valid` flavour
/// fails client verification for exactly one reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertFlavour {
    /// Signed by the test CA, SANs `localhost` and IP `127.0.0.1`.
    Valid,
    /// Signed by a second CA that is never written to the CA file, so the
    /// client reports an unknown issuer.
    UnknownIssuer,
    /// Signed by the test CA but only valid for `wrong.example`, so a client
    /// connecting to `127.0.0.1` reports a name mismatch.
    WrongHost,
    /// Signed by the test CA with `not_after` in 2001.
    Expired,
}

/// The test CA (written as PEM to [`TestPki::ca_file`]) plus a second,
/// untrusted CA used for [`CertFlavour::UnknownIssuer`].
pub struct TestPki {
    /// Keeps the CA file alive; removed on drop.
    _dir: TempDir,
    ca_file: PathBuf,
    ca_der: CertificateDer<'static>,
    ca: Issuer<'static, KeyPair>,
    rogue: Issuer<'static, KeyPair>,
}

impl TestPki {
    /// Generates both CAs and writes the trusted one to `<tempdir>/ca.pem`.
    pub fn new() -> TestPki {
        let (ca_cert, ca) = new_ca("datovcr test CA");
        // A distinct subject matters: with the same DN, rustls would find the
        // trusted CA by name and report a bad signature, not an unknown issuer.
        let (_, rogue) = new_ca("datovcr rogue CA (not trusted)");
        let dir = tempfile::tempdir().expect("temp dir for the test CA");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write the test CA PEM");
        TestPki {
            _dir: dir,
            ca_file,
            ca_der: ca_cert.der().clone(),
            ca,
            rogue,
        }
    }

    /// Path of the trusted CA certificate in PEM, for `--ca-file PATH`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The trusted CA certificate in DER, for building a root store directly.
    pub fn ca_cert_der(&self) -> CertificateDer<'static> {
        self.ca_der.clone()
    }

    /// A fresh leaf certificate (chain of one) and its private key.
    pub fn leaf(
        &self,
        flavour: CertFlavour,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let names = match flavour {
            CertFlavour::WrongHost => vec!["wrong.example".to_string()],
            _ => vec!["localhost".to_string(), "127.0.0.1".to_string()],
        };
        // `CertificateParams::new` turns strings that parse as IP addresses
        // into IP SANs, which is what a client connecting to 127.0.0.1 checks.
        let mut params = CertificateParams::new(names).expect("leaf SANs");
        params
            .distinguished_name
            .push(DnType::CommonName, "fake site-api.datocms.com");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        if flavour == CertFlavour::Expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let issuer = match flavour {
            CertFlavour::UnknownIssuer => &self.rogue,
            _ => &self.ca,
        };
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, issuer).expect("sign the leaf");
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key_der)
    }

    /// A TLS acceptor presenting a `flavour` leaf, with the ring provider
    /// chosen explicitly (no process-wide default provider is installed) and
    /// ALPN `http/1.1`, the only protocol the fake speaks.
    pub fn acceptor(&self, flavour: CertFlavour) -> TlsAcceptor {
        let (chain, key) = self.leaf(flavour);
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .expect("leaf certificate and key match");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsAcceptor::from(Arc::new(config))
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

/// A self-signed CA that may sign leaves (path length 0).
fn new_ca(common_name: &str) -> (Certificate, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("self-sign the CA");
    // rcgen 0.14 splits "the certificate" from "the thing that signs":
    // an `Issuer` keeps only the DN, key-id method, usages and key.
    (cert, Issuer::new(params, key))
}
