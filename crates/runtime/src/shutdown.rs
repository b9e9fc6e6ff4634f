//! Graceful shutdown: one token for the whole process, cancelled on SIGTERM
//! or SIGINT (or by a test), awaited by every server and background task.

use std::future::Future;

use tokio_util::sync::CancellationToken;

/// A cloneable shutdown signal.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks everything holding this signal to stop.
    pub fn trigger(&self) {
        self.0.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Completes when shutdown is asked for.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static + use<> {
        self.0.clone().cancelled_owned()
    }

    /// Triggers this signal on SIGTERM or SIGINT.
    pub fn on_signals(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            signal().await;
            tracing::info!("shutdown signal received; draining");
            this.trigger();
        });
    }
}

/// Completes on the first SIGTERM or SIGINT.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
