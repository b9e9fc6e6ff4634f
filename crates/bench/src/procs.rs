//! The processes and scratch resources the end-to-end benchmarks start: the
//! real `hongxin` binary, a private `nats-server`, a fresh PostgreSQL
//! database. Each is removed when its guard drops, so a failed run leaves
//! nothing behind.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hongxin_testkit::free_port;
use sqlx::Executor as _;
use tokio::process::{Child, Command};

/// How long a spawned process may take to listen on its ports.
const STARTUP: Duration = Duration::from_secs(60);
/// How long a process may take to stop after SIGTERM before it is killed.
const STOP: Duration = Duration::from_secs(15);

/// Finds the `hongxin` binary: `explicit` if given, else the one beside this
/// benchmark's own executable (both are built into the same target
/// directory), built first with `cargo build -p hongxin` in the same profile
/// unless `build` is false, so the figures are never those of a stale binary.
pub(crate) fn hongxin_binary(explicit: Option<PathBuf>, build: bool) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        anyhow::ensure!(path.exists(), "no hongxin binary at {}", path.display());
        return Ok(path);
    }
    let me = std::env::current_exe().context("cannot find the benchmark's own executable")?;
    let dir = me
        .parent()
        .context("the benchmark's executable has no directory")?
        .to_owned();
    let release = dir.file_name().is_some_and(|n| n == "release");
    if build {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut cmd = std::process::Command::new(cargo);
        cmd.current_dir(&workspace).args(["build", "-p", "hongxin"]);
        if release {
            cmd.arg("--release");
        }
        eprintln!(
            "building hongxin ({})",
            if release { "release" } else { "debug" }
        );
        let status = cmd
            .status()
            .context("failed to run cargo build -p hongxin")?;
        anyhow::ensure!(status.success(), "cargo build -p hongxin failed");
    }
    if !release {
        eprintln!("warning: not a release build; the end-to-end figures mean little");
    }
    let path = dir.join("hongxin");
    anyhow::ensure!(
        path.exists(),
        "no hongxin binary at {} (build it or pass --hongxin)",
        path.display()
    );
    Ok(path)
}

/// One running `hongxin` process; SIGKILLed when dropped unless stopped.
#[derive(Debug)]
pub(crate) struct Hongxin {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Hongxin {
    /// Starts `hongxin <args>` in `dir` with `envs` on top of a quiet log
    /// filter; its stderr goes to a file in `dir`, shown if it fails.
    pub(crate) fn spawn(
        binary: &Path,
        name: &str,
        dir: &Path,
        envs: &[(&str, String)],
        args: &[&str],
    ) -> anyhow::Result<Self> {
        let log = dir.join(format!("{name}.log"));
        let err = std::fs::File::create(&log).context("failed to create a log file")?;
        let mut cmd = Command::new(binary);
        cmd.args(args)
            .current_dir(dir)
            .env("HONGXIN_TELEMETRY__LOG_FILTER", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("failed to start {}", binary.display()))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
        })
    }

    pub(crate) fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .id()
            .with_context(|| format!("{} is not running", self.name))
    }

    /// Waits until `port` accepts connections, failing early (with the
    /// process's log) if the process exits.
    pub(crate) async fn wait_for_port(&mut self, port: u16) -> anyhow::Result<()> {
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "{} exited with {status} before listening on {port}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!(
            "{} did not listen on {port} within {STARTUP:?}:\n{}",
            self.name,
            self.log_tail()
        )
    }

    /// The last lines of the process's log.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then SIGKILL if it has not stopped in time.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(pid)?);
            // A process that is already gone cannot be signalled; the wait
            // below then returns at once.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        match tokio::time::timeout(STOP, self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                eprintln!("{} did not stop within {STOP:?}; killing it", self.name);
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// Resident memory of a process, from `/proc/<pid>/status`, in MiB:
/// (VmRSS now, VmHWM the peak so far).
pub(crate) fn memory_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Samples the VmRSS of processes every 100 ms while it lives, keeping the
/// largest value seen of each.
#[derive(Debug)]
pub(crate) struct RssSampler {
    peaks: std::sync::Arc<Vec<std::sync::atomic::AtomicU64>>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    pub(crate) fn start(pids: Vec<u32>) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        let peaks: std::sync::Arc<Vec<AtomicU64>> =
            std::sync::Arc::new(pids.iter().map(|_| AtomicU64::new(0)).collect());
        let p = peaks.clone();
        let task = tokio::spawn(async move {
            loop {
                for (i, pid) in pids.iter().enumerate() {
                    if let Some((rss, _)) = memory_mib(*pid) {
                        // Kept in KiB so an integer atomic can hold it.
                        p[i].fetch_max((rss * 1024.0) as u64, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { peaks, task }
    }

    /// The largest VmRSS seen of each process, in MiB.
    pub(crate) fn peaks_mib(&self) -> Vec<f64> {
        self.peaks
            .iter()
            .map(|p| p.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0)
            .collect()
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A private `nats-server` with JetStream on a free loopback port and a
/// temporary store, so nothing touches the shared server's streams; killed
/// and its store removed when dropped.
#[derive(Debug)]
pub(crate) struct PrivateNats {
    port: u16,
    _store: tempfile::TempDir,
    _child: Child,
}

impl PrivateNats {
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let port = free_port();
        let store = tempfile::tempdir().context("failed to make a JetStream store directory")?;
        let binary = std::env::var("HONGXIN_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let mut child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("failed to start nats-server (is it installed?)")?;
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("nats-server exited with {status}");
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "nats-server did not start");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(Self {
            port,
            _store: store,
            _child: child,
        })
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

/// A new, empty PostgreSQL database on the shared server, dropped (with
/// whatever is still connected to it) by [`FreshDatabase::remove`], or
/// when the guard drops.
#[derive(Debug)]
pub(crate) struct FreshDatabase {
    name: String,
    admin: String,
    url: String,
    removed: bool,
}

impl FreshDatabase {
    pub(crate) async fn create() -> anyhow::Result<Self> {
        let admin = hongxin_testkit::pg::url();
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let pool = sqlx::PgPool::connect(&admin)
            .await
            .context("failed to reach PostgreSQL")?;
        pool.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .context("failed to create a database")?;
        pool.close().await;
        let (server, _) = admin
            .rsplit_once('/')
            .context("database URL without a database")?;
        let url = format!("{server}/{name}");
        Ok(Self {
            name,
            admin,
            url,
            removed: false,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) async fn remove(mut self) -> anyhow::Result<()> {
        self.removed = true;
        drop_database(&self.admin, &self.name).await
    }
}

async fn drop_database(admin: &str, name: &str) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(admin).await?;
    pool.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .with_context(|| format!("failed to drop database {name}"))?;
    pool.close().await;
    Ok(())
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        // Dropped on a failure path, possibly inside the runtime: a thread
        // of its own with a small runtime does the asynchronous drop.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(drop_database(&admin, &name))
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("warning: database {} was not dropped", self.name);
        }
    }
}
