//! Envelope encryption of personal data, with erasure by crypto-shredding.
//!
//! Every data subject (a person) gets a random 256-bit data key. Sensitive
//! fields are sealed with it (AES-256-GCM, the subject's id as associated
//! data, so a sealed value cannot be moved to another person). The data key
//! is stored beside the events, wrapped by the master key from the
//! configuration, which the database never sees. Destroying the data key
//! leaves every copy of the sealed fields unreadable: the event store,
//! JetStream's retained messages, backups and read models alike.
//!
//! Unique natural keys (ID numbers) are enforced through a blind index: a
//! keyed HMAC-SHA256 of the value, stored with the data key and erased
//! with it.

use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use hongxin_eventstore::{DataKey, EventStore, KeyClaim, StoreError};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// First byte of every sealed value: the format, so it can change later.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the master key must be 32 bytes in base64")]
    BadMasterKey,
    #[error("the master key file {path} could not be read or written: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the value is already held by another subject")]
    LookupTaken { by: Uuid },
    #[error("the subject already holds another value")]
    LookupMismatch,
    #[error("a data key was wrapped by master key {0}, which is not configured")]
    UnknownMasterKey(String),
    /// Tampered with, sealed for someone else, or not a sealed value.
    #[error("the sealed value cannot be opened")]
    Unreadable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key that wraps every data key. Held only in memory; comes from the
/// configuration or, in the embedded default, a file of its own.
pub struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
    index_key: [u8; 32],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// A master key from 32 bytes in standard base64.
    pub fn from_base64(encoded: &str) -> Result<Self, VaultError> {
        let bytes = BASE64
            .decode(encoded.trim())
            .map_err(|_| VaultError::BadMasterKey)?;
        let raw: [u8; 32] = bytes.try_into().map_err(|_| VaultError::BadMasterKey)?;
        Ok(Self::from_bytes(&raw))
    }

    fn from_bytes(raw: &[u8; 32]) -> Self {
        let digest = Sha256::digest(raw);
        let id = format!(
            "mk-{:02x}{:02x}{:02x}{:02x}",
            digest[0], digest[1], digest[2], digest[3]
        );
        // The blind index gets a key of its own, derived one-way, so the
        // index reveals nothing about the wrapping key.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(raw)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"hongxin blind index v1");
        let index_key = mac.finalize().into_bytes().into();
        Self {
            id,
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(raw)),
            index_key,
        }
    }

    /// A new random master key and its base64 form.
    pub fn generate() -> (Self, String) {
        let raw: [u8; 32] = Aes256Gcm::generate_key(OsRng).into();
        (Self::from_bytes(&raw), BASE64.encode(raw))
    }

    /// Reads the key from `path`, creating it (readable by its owner only)
    /// when the file does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, VaultError> {
        let key_file = |source| VaultError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(encoded) => Self::from_base64(&encoded),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (key, encoded) = Self::generate();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(path) {
                    Ok(mut file) => {
                        file.write_all(encoded.as_bytes()).map_err(key_file)?;
                        file.sync_all().map_err(key_file)?;
                        Ok(key)
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::from_base64(&std::fs::read_to_string(path).map_err(key_file)?)
                    }
                    Err(e) => Err(key_file(e)),
                }
            }
            Err(e) => Err(key_file(e)),
        }
    }

    /// Its public name, stored with every key it wraps.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Data keys of one context's subjects, kept in its event store.
#[derive(Clone, Debug)]
pub struct Vault {
    store: EventStore,
    master: Arc<MasterKey>,
}

impl Vault {
    pub fn new(store: EventStore, master: Arc<MasterKey>) -> Self {
        Self { store, master }
    }

    /// The blind index of a unique value (e.g. an ID number): equal values
    /// give equal indexes, and nobody without the master key can tell the
    /// value from it.
    pub fn lookup(&self, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.master.index_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(value.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The subject's key, created on first use (then `created` is true).
    /// With a `lookup`, fails with [`VaultError::LookupTaken`] when another
    /// subject holds it, and with [`VaultError::LookupMismatch`] when the
    /// subject holds a different one.
    pub async fn claim(
        &self,
        subject: Uuid,
        lookup: Option<String>,
    ) -> Result<Claimed, VaultError> {
        let raw = Aes256Gcm::generate_key(OsRng);
        let wanted = DataKey {
            subject,
            wrapped_key: self.wrap(subject, &raw)?,
            kek_id: self.master.id.clone(),
            lookup,
        };
        match self.store.claim_data_key(&wanted).await? {
            KeyClaim::Created => Ok(Claimed {
                key: SubjectKey::new(subject, &raw),
                created: true,
            }),
            KeyClaim::Existing(existing) => {
                if wanted.lookup.is_some() && existing.lookup != wanted.lookup {
                    return Err(VaultError::LookupMismatch);
                }
                Ok(Claimed {
                    key: self.unwrap(&existing)?,
                    created: false,
                })
            }
            KeyClaim::LookupTaken { by } => Err(VaultError::LookupTaken { by }),
        }
    }

    /// The subject whose unique value (e.g. an ID number) this is, found
    /// through its blind index; `None` when nobody holds it.
    pub async fn subject_of(&self, value: &str) -> Result<Option<Uuid>, VaultError> {
        Ok(self.store.data_key_subject(&self.lookup(value)).await?)
    }

    /// The subject's key; `None` when it has none (never had, or erased).
    pub async fn key(&self, subject: Uuid) -> Result<Option<SubjectKey>, VaultError> {
        match self.store.data_key(subject).await? {
            Some(stored) => self.unwrap(&stored).map(Some),
            None => Ok(None),
        }
    }

    /// Destroys the subject's key. True when there was one.
    pub async fn erase(&self, subject: Uuid) -> Result<bool, VaultError> {
        Ok(self.store.destroy_data_key(subject).await?)
    }

    fn associated(&self, subject: Uuid) -> Vec<u8> {
        let mut aad = subject.as_bytes().to_vec();
        aad.extend_from_slice(self.master.id.as_bytes());
        aad
    }

    fn wrap(&self, subject: Uuid, raw: &Key<Aes256Gcm>) -> Result<Vec<u8>, VaultError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .master
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: raw.as_slice(),
                    aad: &self.associated(subject),
                },
            )
            .map_err(|_| VaultError::Unreadable)?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(out)
    }

    fn unwrap(&self, stored: &DataKey) -> Result<SubjectKey, VaultError> {
        if stored.kek_id != self.master.id {
            return Err(VaultError::UnknownMasterKey(stored.kek_id.clone()));
        }
        if stored.wrapped_key.len() < NONCE_LEN {
            return Err(VaultError::Unreadable);
        }
        let (nonce, sealed) = stored.wrapped_key.split_at(NONCE_LEN);
        let raw = self
            .master
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &self.associated(stored.subject),
                },
            )
            .map_err(|_| VaultError::Unreadable)?;
        let raw: [u8; 32] = raw.try_into().map_err(|_| VaultError::Unreadable)?;
        Ok(SubjectKey::new(
            stored.subject,
            Key::<Aes256Gcm>::from_slice(&raw),
        ))
    }
}

/// A subject's key as [`Vault::claim`] found or made it.
#[derive(Debug)]
pub struct Claimed {
    pub key: SubjectKey,
    /// Made by this call: undo with [`Vault::erase`] if what it was for
    /// fails.
    pub created: bool,
}

/// One subject's data key, unwrapped: seals and opens their fields.
pub struct SubjectKey {
    subject: Uuid,
    cipher: Aes256Gcm,
}

impl fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectKey")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl SubjectKey {
    fn new(subject: Uuid, raw: &Key<Aes256Gcm>) -> Self {
        Self {
            subject,
            cipher: Aes256Gcm::new(raw),
        }
    }

    /// `plaintext` sealed for this subject: format byte, nonce, ciphertext.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: self.subject.as_bytes(),
                },
            )
            .unwrap_or_else(|_| unreachable!("AES-GCM seals any message below 64 GiB"));
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend(sealed);
        out
    }

    /// What [`SubjectKey::seal`] sealed for this subject.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        let Some((&FORMAT_V1, rest)) = sealed.split_first() else {
            return Err(VaultError::Unreadable);
        };
        if rest.len() < NONCE_LEN {
            return Err(VaultError::Unreadable);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: self.subject.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Unreadable)
    }
}
