//! The master key that wraps people's data keys.

use std::sync::Arc;

use anyhow::Context as _;
use hongxin_eventstore::EventStore;
use hongxin_runtime::Config;
use hongxin_vault::{MasterKey, Vault};
use secrecy::ExposeSecret as _;

/// The configured master key, or the one in `<data_dir>/master.key`
/// (created on first start).
pub(crate) fn master_key(config: &Config) -> anyhow::Result<Arc<MasterKey>> {
    if let Some(encoded) = &config.master_key {
        return Ok(Arc::new(
            MasterKey::from_base64(encoded.expose_secret())
                .context("master_key (HONGXIN_MASTER_KEY) is not 32 bytes in base64")?,
        ));
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("failed to create {}", config.data_dir.display()))?;
    let path = config.data_dir.join("master.key");
    Ok(Arc::new(MasterKey::load_or_create(&path).with_context(
        || format!("failed to read or create the master key {}", path.display()),
    )?))
}

/// The vault of a context's store under the configured master key.
pub(crate) fn vault(config: &Config, store: &EventStore) -> anyhow::Result<Vault> {
    Ok(Vault::new(store.clone(), master_key(config)?))
}
