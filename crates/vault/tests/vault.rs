//! The vault on both stores: sealing, the blind index, erasure.

use std::sync::Arc;

use hongxin_eventstore::{EventStore, StoreConfig};
use hongxin_testkit::pg;
use hongxin_vault::{MasterKey, Vault, VaultError};
use uuid::Uuid;

async fn stores(dir: &std::path::Path) -> Vec<EventStore> {
    let sqlite = EventStore::open(&StoreConfig::Sqlite {
        path: dir.join("vault.db"),
    })
    .await
    .expect("sqlite store");
    let postgres = EventStore::open(&StoreConfig::Postgres {
        url: pg::url(),
        schema: pg::fresh_schema(),
        max_connections: 4,
    })
    .await
    .expect("postgres store (is PostgreSQL running?)");
    vec![sqlite, postgres]
}

fn vault(store: &EventStore) -> Vault {
    Vault::new(store.clone(), Arc::new(MasterKey::generate().0))
}

#[tokio::test]
async fn a_sealed_value_opens_only_with_its_subjects_key() {
    let dir = tempfile::tempdir().expect("dir");
    for store in stores(dir.path()).await {
        let vault = vault(&store);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let alice_key = vault.claim(alice, None).await.expect("claim").key;
        let sealed = alice_key.seal("370102199003070012".as_bytes());
        assert!(
            !sealed.windows(6).any(|w| w == b"199003"),
            "the sealed value must not contain the clear text"
        );
        assert_eq!(
            alice_key.open(&sealed).expect("open"),
            b"370102199003070012"
        );

        // Claiming again gives the same key back.
        let again = vault.claim(alice, None).await.expect("claim again");
        assert!(!again.created);
        let again = again.key;
        assert_eq!(again.open(&sealed).expect("open"), b"370102199003070012");

        let bob_key = vault.claim(bob, None).await.expect("claim").key;
        assert!(matches!(bob_key.open(&sealed), Err(VaultError::Unreadable)));

        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            alice_key.open(&tampered),
            Err(VaultError::Unreadable)
        ));
        assert!(matches!(alice_key.open(&[]), Err(VaultError::Unreadable)));
    }
}

#[tokio::test]
async fn a_lookup_belongs_to_one_subject_until_it_is_erased() {
    let dir = tempfile::tempdir().expect("dir");
    for store in stores(dir.path()).await {
        let vault = vault(&store);
        let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
        let index = vault.lookup("370102199003070012");
        assert_eq!(index, vault.lookup("370102199003070012"));
        assert_ne!(index, vault.lookup("370102199003070020"));
        assert!(!index.contains("1990"), "the index hides the value");

        assert!(
            vault
                .claim(first, Some(index.clone()))
                .await
                .expect("first")
                .created
        );
        assert!(matches!(
            vault
                .claim(first, Some(vault.lookup("11010519491231002X")))
                .await,
            Err(VaultError::LookupMismatch)
        ));
        match vault.claim(second, Some(index.clone())).await {
            Err(VaultError::LookupTaken { by }) => assert_eq!(by, first),
            other => panic!("expected LookupTaken, got {other:?}"),
        }

        let sealed = vault
            .key(first)
            .await
            .expect("key")
            .expect("present")
            .seal(b"x");
        assert!(vault.erase(first).await.expect("erase"));
        assert!(vault.key(first).await.expect("key").is_none());
        assert!(!vault.erase(first).await.expect("erase again"));
        // Nothing can open the old value, not even a new key for the same
        // subject.
        let fresh = vault.claim(first, None).await.expect("new key").key;
        assert!(matches!(fresh.open(&sealed), Err(VaultError::Unreadable)));
        // The lookup was freed with the erased key.
        vault.claim(second, Some(index)).await.expect("second");
    }
}

#[tokio::test]
async fn the_master_key_file_is_created_once_and_kept_private() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("master.key");
    let first = MasterKey::load_or_create(&path).expect("create");
    let second = MasterKey::load_or_create(&path).expect("load");
    assert_eq!(first.id(), second.id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(matches!(
        MasterKey::from_base64("c2hvcnQ="),
        Err(VaultError::BadMasterKey)
    ));

    // Keys wrapped by one master key are refused under another.
    let store = EventStore::open(&StoreConfig::Sqlite {
        path: dir.path().join("keys.db"),
    })
    .await
    .expect("store");
    let subject = Uuid::new_v4();
    Vault::new(store.clone(), Arc::new(first))
        .claim(subject, None)
        .await
        .expect("claim");
    let other = Vault::new(store, Arc::new(MasterKey::generate().0));
    assert!(matches!(
        other.key(subject).await,
        Err(VaultError::UnknownMasterKey(_))
    ));
}
