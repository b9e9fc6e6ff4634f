//! Mutual TLS between services, as a configuration option (`[tls]`): every
//! gRPC server then speaks TLS and asks for a client certificate signed by
//! the deployment's CA, and every service's client presents its own.
//! Tokens still decide who may do what; TLS decides who may connect.

use std::path::PathBuf;

use anyhow::Context as _;
use serde::Deserialize;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The `[tls]` section: PEM files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// This process's certificate (chain) and key, as server and as client.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The CA that signs every service's certificate.
    pub ca_file: PathBuf,
    /// The name the servers' certificates carry (default: `localhost`).
    #[serde(default)]
    pub server_name: Option<String>,
}

/// Loaded certificates, for servers and clients.
#[derive(Clone, Debug)]
pub struct Tls {
    identity: Identity,
    ca: Certificate,
    server_name: String,
}

/// One crypto provider for the whole process: with more than one compiled
/// in, rustls will not choose by itself.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

impl Tls {
    pub fn from_pem(cert: &[u8], key: &[u8], ca: &[u8], server_name: &str) -> Self {
        install_crypto_provider();
        Self {
            identity: Identity::from_pem(cert, key),
            ca: Certificate::from_pem(ca),
            server_name: server_name.to_owned(),
        }
    }

    pub fn load(settings: &Settings) -> anyhow::Result<Self> {
        let read = |p: &PathBuf| {
            std::fs::read(p).with_context(|| format!("failed to read {}", p.display()))
        };
        Ok(Self::from_pem(
            &read(&settings.cert_file)?,
            &read(&settings.key_file)?,
            &read(&settings.ca_file)?,
            settings.server_name.as_deref().unwrap_or("localhost"),
        ))
    }

    /// From the configuration, when it has a `[tls]` section.
    pub fn from_config(config: &crate::Config) -> anyhow::Result<Option<Self>> {
        let settings: Option<Settings> = config
            .section("tls")
            .context("the [tls] section of the configuration is not valid")?;
        settings.as_ref().map(Self::load).transpose()
    }

    /// Servers: this certificate, and clients must show one of the CA's.
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.ca.clone())
    }

    /// Clients: the CA's servers only, showing this certificate.
    pub fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .identity(self.identity.clone())
            .domain_name(self.server_name.clone())
    }
}
