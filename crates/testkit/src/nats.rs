//! NATS for tests.
//!
//! Tests that only publish and consume use the shared server with stream
//! names of their own; tests that stop the server start a private one.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::{Child, Command};

/// The shared server's URL: `HONGXIN_TEST_NATS_URL`, or 127.0.0.1:4222.
pub fn url() -> String {
    std::env::var("HONGXIN_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A private `nats-server` with JetStream on a free port and a temporary
/// store directory, which survives stop and start.
#[derive(Debug)]
pub struct PrivateNats {
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateNats {
    pub async fn start() -> anyhow::Result<Self> {
        let mut server = Self {
            port: crate::free_port(),
            store: tempfile::tempdir().context("failed to make a JetStream store directory")?,
            child: None,
        };
        server.resume().await?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn store_dir(&self) -> PathBuf {
        self.store.path().to_owned()
    }

    /// Kills the server abruptly (SIGKILL), as a crash would.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("failed to kill nats-server")?;
        }
        Ok(())
    }

    /// Starts the server again on the same port with the same store.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let child = Command::new(nats_server_binary())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("failed to start nats-server (is it installed?)")?;
        self.child = Some(child);
        wait_for_port(self.port).await
    }
}

fn nats_server_binary() -> String {
    std::env::var("HONGXIN_NATS_SERVER").unwrap_or_else(|_| "nats-server".to_owned())
}

/// Waits until something accepts connections on the port.
pub async fn wait_for_port(port: u16) -> anyhow::Result<()> {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    anyhow::bail!("nothing listens on port {port} after 5 s")
}
