//! Configuration, parsed once at start-up into types: built-in defaults, then
//! a TOML file (`hongxin.toml`, or the file given with `--config`), then
//! `HONGXIN_*` environment variables (`HONGXIN_NATS_URL`,
//! `HONGXIN_PORTS__ORGANIZATION`, ...).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    /// Where the embedded default keeps its SQLite files.
    pub data_dir: PathBuf,
    /// PostgreSQL for the distributed mode; each service uses a schema of
    /// its own in it. A secret, since it may carry a password.
    pub database_url: Option<SecretString>,
    pub database_max_connections: u32,
    /// The master key (32 bytes, base64) that wraps every person's data
    /// key. When unset, the key lives in `<data_dir>/master.key`, created
    /// on first start; a distributed deployment sets the same key in every
    /// process (`HONGXIN_MASTER_KEY`) from its secret store.
    pub master_key: Option<SecretString>,
    /// NATS for the distributed mode.
    pub nats_url: String,
    /// Replicas of each JetStream stream (3 on a production cluster).
    pub nats_replicas: usize,
    /// Interface every server binds to.
    pub host: IpAddr,
    pub ports: Ports,
    pub telemetry: Telemetry,
    /// How long a stopping server waits for calls in flight.
    pub shutdown_grace_seconds: u64,
    /// How long a server gives one request before answering that it took
    /// too long (gRPC `DeadlineExceeded`, HTTP 503): the time until the
    /// answer starts, so a watch or a download that has started streaming
    /// is not cut, and for an upload the longest pause between its parts.
    pub request_timeout_seconds: u64,
    /// Where other services reach the organization service; by default its
    /// port on `host`.
    pub organization_url: Option<String>,
    /// Every layer as read, for sections a service parses itself
    /// ([`Config::section`]).
    #[serde(skip)]
    layers: Figment,
}

/// One port per service, so every service speaks its own gRPC API even
/// when all run in one process.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Ports {
    pub organization: u16,
    pub pipeline: u16,
    pub grid: u16,
    pub care: u16,
    pub projection: u16,
    /// The outbound integration with the union and the HR bureau.
    pub integration: u16,
    /// The dashboard and its HTTP JSON API.
    pub http: u16,
    /// Prometheus `/metrics` of a distributed service process.
    pub metrics: u16,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Telemetry {
    /// `tracing` filter, e.g. "info,hongxin=debug".
    pub log_filter: String,
    /// "pretty" for people, "json" for log collectors.
    pub log_format: String,
    /// OTLP/gRPC collector, e.g. "http://127.0.0.1:4317"; off when empty.
    pub otlp_endpoint: Option<String>,
}

#[derive(Serialize)]
struct Defaults {
    data_dir: PathBuf,
    database_max_connections: u32,
    nats_url: String,
    nats_replicas: usize,
    host: IpAddr,
    ports: Ports,
    telemetry: Telemetry,
    shutdown_grace_seconds: u64,
    request_timeout_seconds: u64,
}

fn defaults() -> Defaults {
    Defaults {
        data_dir: PathBuf::from("./data"),
        database_max_connections: 16,
        nats_url: "nats://127.0.0.1:4222".to_owned(),
        nats_replicas: 1,
        host: IpAddr::from([127, 0, 0, 1]),
        ports: Ports {
            organization: 50051,
            pipeline: 50052,
            grid: 50053,
            care: 50054,
            projection: 50055,
            integration: 50056,
            http: 8080,
            metrics: 9090,
        },
        telemetry: Telemetry {
            log_filter: "info".to_owned(),
            log_format: "pretty".to_owned(),
            otlp_endpoint: None,
        },
        shutdown_grace_seconds: 10,
        request_timeout_seconds: 30,
    }
}

impl Config {
    /// Defaults, then `file` (if it exists), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let layers = Self::figment(file).merge(Env::prefixed("HONGXIN_").split("__"));
        let mut config: Self = layers.extract()?;
        config.layers = layers;
        Ok(config)
    }

    /// A section of the configuration that a service parses into its own
    /// type (e.g. `[pipeline]`); the type's defaults where it is absent.
    pub fn section<T: serde::de::DeserializeOwned + Default>(
        &self,
        key: &str,
    ) -> Result<T, Box<figment::Error>> {
        if !self.layers.contains(key) {
            return Ok(T::default());
        }
        Ok(self.layers.extract_inner(key)?)
    }

    /// The bound on one request's time ([`Config::request_timeout_seconds`]).
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.request_timeout_seconds.max(1))
    }

    /// Where other services reach the organization service.
    pub fn organization_url(&self) -> String {
        self.organization_url
            .clone()
            .unwrap_or_else(|| format!("http://{}:{}", self.host, self.ports.organization))
    }

    /// Defaults and `file` only, for tests that must not see the
    /// environment.
    pub fn load_without_env(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let layers = Self::figment(file);
        let mut config: Self = layers.extract()?;
        config.layers = layers;
        Ok(config)
    }

    fn figment(file: Option<&Path>) -> Figment {
        let file = file.map_or_else(|| PathBuf::from("hongxin.toml"), Path::to_owned);
        Figment::from(Serialized::defaults(defaults())).merge(Toml::file(file))
    }

    /// Configuration for tests: every port 0 (the OS picks), data in `dir`.
    pub fn for_tests(dir: &Path) -> Self {
        let mut c = Self::load_without_env(Some(&dir.join("none.toml")))
            .unwrap_or_else(|e| unreachable!("built-in defaults parse: {e}"));
        c.data_dir = dir.to_owned();
        c.ports = Ports {
            organization: 0,
            pipeline: 0,
            grid: 0,
            care: 0,
            projection: 0,
            integration: 0,
            http: 0,
            metrics: 0,
        };
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_overrides_the_defaults() {
        let dir = std::env::temp_dir().join(format!("hx-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("hongxin.toml");
        std::fs::write(
            &file,
            "nats_url = \"nats://10.0.0.1:4222\"\n[ports]\nhttp = 9999\n",
        )
        .expect("write");
        let c = Config::load_without_env(Some(&file)).expect("parse");
        assert_eq!(c.nats_url, "nats://10.0.0.1:4222");
        assert_eq!(c.ports.http, 9999);
        assert_eq!(
            c.ports.organization, 50051,
            "untouched values keep their defaults"
        );
        std::fs::write(&file, "[ports]\nhttp = \"eighty\"\n").expect("write");
        assert!(
            Config::load_without_env(Some(&file)).is_err(),
            "a wrong type is an error, not a default"
        );
    }

    #[test]
    fn the_documented_example_parses_to_the_defaults() {
        let example =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/hongxin.example.toml");
        assert!(
            example.exists(),
            "deploy/hongxin.example.toml is documented in the README"
        );
        let c = Config::load_without_env(Some(&example)).expect("the example parses");
        let d = Config::load_without_env(Some(Path::new("/nonexistent/hongxin.toml")))
            .expect("defaults");
        assert_eq!(c.ports.organization, d.ports.organization);
        assert_eq!(c.ports.http, d.ports.http);
        assert_eq!(c.nats_url, d.nats_url);
        assert_eq!(c.data_dir, d.data_dir);
        assert_eq!(c.shutdown_grace_seconds, d.shutdown_grace_seconds);
        assert_eq!(c.request_timeout_seconds, d.request_timeout_seconds);
        assert_eq!(d.request_timeout_seconds, 30);
    }
}
