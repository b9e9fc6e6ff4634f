//! A running organization service for the integration tests, on either
//! store.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use hongxin_domain::SystemClock;
use hongxin_eventstore::{EventStore, StoreConfig};
use hongxin_proto::organization::v1 as pb;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use hongxin_runtime::Shutdown;
use tonic::transport::Channel;
use uuid::Uuid;

pub(crate) struct Running {
    pub(crate) client: OrganizationServiceClient<hongxin_runtime::auth::Authed>,
    /// "http://127.0.0.1:<port>".
    pub(crate) url: String,
    pub(crate) channel: Channel,
    pub(crate) store: EventStore,
    pub(crate) shutdown: Shutdown,
    pub(crate) server: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub(crate) _dir: Option<tempfile::TempDir>,
}

pub(crate) async fn spawn(config: StoreConfig, dir: Option<tempfile::TempDir>) -> Running {
    let store = EventStore::open(&config).await.expect("store");
    let app = hongxin_organization::build(
        "127.0.0.1:0".parse().expect("addr"),
        store.clone(),
        hongxin_vault::Vault::new(
            store.clone(),
            Arc::new(hongxin_vault::MasterKey::generate().0),
        ),
        Arc::new(SystemClock),
        Duration::from_secs(5),
    )
    .await
    .expect("bind");
    let port = app.port();
    let shutdown = Shutdown::new();
    let server = tokio::spawn(
        app.with_auth(hongxin_runtime::auth::testing::authenticator())
            .run_until_stopped(shutdown.clone()),
    );
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    Running {
        url: format!("http://127.0.0.1:{port}"),
        client: OrganizationServiceClient::new(hongxin_runtime::auth::testing::admin(
            channel.clone(),
        )),
        channel,
        store,
        shutdown,
        server,
        _dir: dir,
    }
}

pub(crate) async fn sqlite() -> Running {
    let dir = tempfile::tempdir().expect("dir");
    let config = StoreConfig::Sqlite {
        path: dir.path().join("organization.db"),
    };
    spawn(config, Some(dir)).await
}

pub(crate) async fn postgres() -> Running {
    spawn(
        StoreConfig::Postgres {
            url: hongxin_testkit::pg::url(),
            schema: hongxin_testkit::pg::fresh_schema(),
            max_connections: 4,
        },
        None,
    )
    .await
}

/// Runs a scenario against the embedded default's store and PostgreSQL's.
#[macro_export]
macro_rules! on_both_stores {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test]
            async fn on_sqlite() {
                super::$scenario($crate::common::sqlite().await).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                super::$scenario($crate::common::postgres().await).await;
            }
        }
    };
}

/// Registers a community and returns its id.
pub(crate) async fn community(app: &mut Running, name: &str) -> Uuid {
    let community_id = Uuid::now_v7();
    app.client
        .register_community(pb::RegisterCommunityRequest {
            community_id: community_id.to_string(),
            name: name.to_owned(),
            subdistrict: "晏城街道".to_owned(),
        })
        .await
        .expect("community");
    community_id
}

/// Registers a community and an enterprise with `full_members`; returns the
/// enterprise id.
pub(crate) async fn unit(app: &mut Running, community_id: Uuid, full_members: u32) -> Uuid {
    let id = Uuid::now_v7();
    app.client
        .register_enterprise(pb::RegisterEnterpriseRequest {
            enterprise_id: id.to_string(),
            name: format!("外卖站点{}", &id.simple().to_string()[24..]),
            industry: pb::Industry::FoodDelivery as i32,
            kind: pb::EnterpriseKind::Station as i32,
            community_id: community_id.to_string(),
            platform_brand: String::new(),
            parent_enterprise_id: String::new(),
        })
        .await
        .expect("enterprise");
    app.client
        .report_enterprise_headcount(pb::ReportEnterpriseHeadcountRequest {
            enterprise_id: id.to_string(),
            headcount: Some(pb::Headcount {
                workers: 20,
                full_members,
                probationary_members: 0,
            }),
            expected_version: 0,
        })
        .await
        .expect("headcount");
    id
}

/// Registers a person named `name` with the ID number of `birth`
/// (YYYYMMDD) and `seq`, no phone and no work; returns the person's id.
pub(crate) async fn person(app: &mut Running, name: &str, birth: &str, seq: u16) -> Uuid {
    let id = Uuid::now_v7();
    app.client
        .register_person(pb::RegisterPersonRequest {
            person_id: id.to_string(),
            name: name.to_owned(),
            id_number: hongxin_testkit::people::id_number(birth, seq),
            phone: String::new(),
            work: None,
            union_member: false,
            party_status: 0,
            affiliation_organization_id: String::new(),
            mobile_member: false,
            home_organisation: String::new(),
        })
        .await
        .expect("person");
    id
}
