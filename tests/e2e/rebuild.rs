//! Rebuilding the read models: from the stores (embedded default) or from
//! JetStream (distributed), beside the serving ones, which keep answering
//! while events still flow; the result is what the incremental projection
//! built, and it survives a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use hongxin_bus::{EventFeed, JetStreamSettings, OutboxRelay};
use hongxin_domain::CommandHandler;
use hongxin_eventstore::{EventStore, StoreConfig};
use hongxin_organization::committee::{CommitteeDecider, Industry};
use hongxin_projection::{Projection, ProjectionDb, RebuildSource};
use hongxin_runtime::Shutdown;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use uuid::Uuid;

use crate::dashboard::{register, wait_applied};

/// The overview without the freshness of the moment.
async fn figures(p: &Projection) -> serde_json::Value {
    let response = hongxin_projection::routes(p.clone(), Shutdown::new())
        .oneshot(
            axum::http::Request::get("/api/v1/overview")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), 200, "the read models serve");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let mut o: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    o.as_object_mut().expect("object").remove("contexts");
    o
}

#[tokio::test]
async fn a_rebuild_from_the_store_while_events_flow_equals_the_incremental_read_models() {
    let dir = tempfile::tempdir().expect("dir");
    let store = EventStore::open(&StoreConfig::Sqlite {
        path: dir.path().join("organization.db"),
    })
    .await
    .expect("store");
    let db = ProjectionDb::Sqlite {
        path: dir.path().join("projection.db"),
    };
    let projection = Projection::open(&db).await.expect("projection");
    let shutdown = Shutdown::new();
    let feed = EventFeed::in_process(store.clone(), "organization", "projection")
        .await
        .expect("feed");
    {
        let (p, s) = (projection.clone(), shutdown.clone());
        tokio::spawn(async move { p.run("organization", feed, s).await });
    }
    let handler = CommandHandler::new(store.clone(), CommitteeDecider);
    register(&handler, Industry::Express, 40).await;
    wait_applied(&projection, 40).await;

    // Commands keep coming and the page keeps reading during the rebuild.
    let writer = {
        let handler = CommandHandler::new(store.clone(), CommitteeDecider);
        tokio::spawn(async move { register(&handler, Industry::Transport, 40).await })
    };
    // The page reads without pause for as long as the rebuild runs.
    let rebuilding = Arc::new(AtomicBool::new(true));
    let reader = {
        let (p, rebuilding) = (projection.clone(), rebuilding.clone());
        tokio::spawn(async move {
            let mut reads = 0;
            while rebuilding.load(Ordering::SeqCst) {
                figures(&p).await;
                reads += 1;
            }
            reads
        })
    };
    let report = projection
        .rebuild(vec![RebuildSource::Store {
            context: "organization".into(),
            store: store.clone(),
        }])
        .await
        .expect("rebuild");
    rebuilding.store(false, Ordering::SeqCst);
    assert!(report.events >= 40, "{report:?}");
    writer.await.expect("writer");
    let reads = reader
        .await
        .expect("the serving read models answered throughout");
    assert!(reads > 0, "the page read during the rebuild");
    register(&handler, Industry::FoodDelivery, 3).await;
    wait_applied(&projection, 83).await;
    let after = figures(&projection).await;
    assert_eq!(
        after["committees_by_industry"].as_array().map(Vec::len),
        Some(3)
    );

    // A clean rebuild elsewhere gives the same figures.
    let clean = ProjectionDb::Sqlite {
        path: dir.path().join("clean.db"),
    };
    let r = hongxin_projection::rebuild_into(
        &clean,
        vec![RebuildSource::Store {
            context: "organization".into(),
            store: store.clone(),
        }],
    )
    .await
    .expect("clean rebuild");
    assert_eq!(r.positions.get("organization"), Some(&83));
    assert_eq!(
        figures(&Projection::open(&clean).await.expect("clean")).await,
        after
    );
    // The indexes dropped while loading are back, on both.
    let sqlite = |name: &str| ProjectionDb::Sqlite {
        path: dir.path().join(name),
    };
    let want = fresh_indexes(&sqlite("fresh.db")).await;
    assert_eq!(indexes(&sqlite("clean.db")).await, want);
    assert_eq!(indexes(&sqlite("projection.db.rebuild")).await, want);

    // The swap survives a restart.
    shutdown.trigger();
    let reopened = Projection::open(&db).await.expect("reopened");
    assert_eq!(figures(&reopened).await, after);
    assert_eq!(reopened.freshness()["organization"].position, 83);
}

#[tokio::test]
async fn a_rebuild_from_jetstream_equals_the_incremental_read_models() {
    let schema = hongxin_testkit::pg::fresh_schema();
    let store = EventStore::open(&StoreConfig::Postgres {
        url: hongxin_testkit::pg::url(),
        schema: schema.clone(),
        max_connections: 4,
    })
    .await
    .expect("store");
    let nats = hongxin_testkit::nats::PrivateNats::start()
        .await
        .expect("private nats-server");
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("nats"));
    let shutdown = Shutdown::new();
    tokio::spawn(OutboxRelay::new(store.clone(), js.clone(), "organization").run(shutdown.wait()));
    let db = ProjectionDb::Postgres {
        url: hongxin_testkit::pg::url(),
        schema: format!("{schema}_p"),
    };
    let projection = Projection::open(&db).await.expect("projection");
    let durable = format!("projection_{}", &Uuid::new_v4().simple().to_string()[..8]);
    let feed = EventFeed::jetstream(&js, "organization", &durable, &JetStreamSettings::default())
        .await
        .expect("feed");
    {
        let (p, s) = (projection.clone(), shutdown.clone());
        tokio::spawn(async move { p.run("organization", feed, s).await });
    }
    let handler = CommandHandler::new(store.clone(), CommitteeDecider);
    register(&handler, Industry::LiveCommerce, 30).await;
    wait_applied(&projection, 30).await;
    let before = figures(&projection).await;
    // What a process that stopped while a swap's replaced schema waited to
    // be dropped leaves behind.
    let admin = sqlx::PgPool::connect(&hongxin_testkit::pg::url())
        .await
        .expect("the test PostgreSQL");
    sqlx::query(&format!("CREATE SCHEMA {schema}_p_old"))
        .execute(&admin)
        .await
        .expect("a leftover schema");
    sqlx::query(&format!("CREATE TABLE {schema}_p_old.cases (case_id TEXT)"))
        .execute(&admin)
        .await
        .expect("a leftover table");
    admin.close().await;
    let report = projection
        .rebuild(vec![RebuildSource::JetStream {
            context: "organization".into(),
            jetstream: js.clone(),
        }])
        .await
        .expect("rebuild");
    assert_eq!(report.positions.get("organization"), Some(&30));
    assert_eq!(figures(&projection).await, before);
    // The indexes dropped while loading are back.
    let postgres = |suffix: &str| ProjectionDb::Postgres {
        url: hongxin_testkit::pg::url(),
        schema: format!("{schema}_{suffix}"),
    };
    let want = fresh_indexes(&postgres("f")).await;
    assert_eq!(indexes(&postgres("p")).await, want);
    // Live deliveries go on into the rebuilt read models.
    register(&handler, Industry::Express, 2).await;
    wait_applied(&projection, 32).await;
    let after = figures(&projection).await;
    assert_eq!(after["events"][0]["events"], 32);
    shutdown.trigger();
}

#[tokio::test]
async fn an_event_type_the_contract_does_not_know_is_reported_not_dropped() {
    let dir = tempfile::tempdir().expect("dir");
    let projection = Projection::open(&ProjectionDb::Sqlite {
        path: dir.path().join("projection.db"),
    })
    .await
    .expect("projection");
    let envelope = |position: u64, event_type: &str| hongxin_bus::EventEnvelope {
        event_id: Uuid::now_v7().to_string(),
        context: "organization".into(),
        stream_id: format!("thing-{}", Uuid::now_v7()),
        stream_version: 1,
        global_position: position,
        event_type: event_type.into(),
        schema_version: 1,
        ..Default::default()
    };
    for (position, event_type) in [
        (1, "ThingInvented"),
        (2, "ThingInvented"),
        (3, "ConventionSigned"),
    ] {
        let applied = hongxin_projection::apply(&projection, &envelope(position, event_type))
            .await
            .expect("apply");
        assert_eq!(
            applied,
            hongxin_projection::Applied::Applied,
            "the checkpoint moves on"
        );
    }
    let o = figures(&projection).await;
    assert_eq!(
        o["unknown_event_types"],
        serde_json::json!([{
            "context": "organization",
            "event_type": "ThingInvented",
            "events": 2,
            "first_position": 1
        }])
    );
}

#[tokio::test]
async fn text_of_any_kind_is_kept_as_written_in_one_transaction_on_both_databases() {
    use hongxin_proto::organization::v1 as org;

    // Names with what array literals, SQL strings and JSON quote.
    let names = [
        r#"西关 "社区" \ 一"#,
        "{a,b}, 'c'; NULL",
        "",
        "\u{1F3E0} 晏城\t街道\n",
    ];
    let dir = tempfile::tempdir().expect("dir");
    let store = EventStore::open(&StoreConfig::Sqlite {
        path: dir.path().join("organization.db"),
    })
    .await
    .expect("store");
    let mut ids = Vec::new();
    for name in names {
        let id = Uuid::now_v7();
        let payload = org::CommunityRegistered {
            community_id: id.to_string(),
            name: name.to_owned(),
            subdistrict: name.to_owned(),
        };
        append_first(&store, "community", id, "CommunityRegistered", &payload).await;
        ids.push(id.to_string());
    }
    let want: Vec<(String, String, String)> = ids
        .iter()
        .zip(names)
        .map(|(id, n)| (id.clone(), n.to_owned(), n.to_owned()))
        .collect();
    let (sqlite, postgres) = rebuilt_rows::<(String, String, String)>(
        &store,
        "organization",
        dir.path(),
        "SELECT community_id, name, subdistrict FROM communities ORDER BY community_id",
    )
    .await;
    assert_eq!(sqlite, want, "SQLite");
    assert_eq!(postgres, want, "PostgreSQL");
}

#[tokio::test]
async fn candidates_whose_events_span_a_rebuilds_batches_get_the_next_steps_of_their_whole_history()
{
    use hongxin_domain::{CommandContext, RetryPolicy};
    use hongxin_pipeline::candidate::{Application, CandidateDecider, Command, Step};
    use hongxin_pipeline::rules::RuleSet;
    use hongxin_proto::pipeline::v1 as pipeline;

    let dir = tempfile::tempdir().expect("dir");
    let store = EventStore::open(&StoreConfig::Sqlite {
        path: dir.path().join("pipeline.db"),
    })
    .await
    .expect("store");
    let ctx = CommandContext::new("test");
    let day = |m, d| chrono::NaiveDate::from_ymd_opt(2023, m, d).expect("day");
    // More events between a candidate's steps than a rebuild writes in one
    // transaction, so its later steps come while its earlier ones may
    // still be being written.
    let posts = |n: usize| {
        let store = store.clone();
        async move {
            for _ in 0..n {
                let id = Uuid::now_v7();
                let payload = pipeline::PostPublished {
                    post_id: id.to_string(),
                    published_on: "2023-01-01".into(),
                    ..Default::default()
                };
                append_first(&store, "post", id, "PostPublished", &payload).await;
            }
        }
    };
    let candidates = CommandHandler::new(store.clone(), CandidateDecider::default());
    let mut streams = Vec::new();
    for n in 0..10 {
        let candidate_id = Uuid::now_v7();
        let stream = CommandHandler::<CandidateDecider>::stream_id(candidate_id);
        candidates
            .handle(
                &stream,
                &Command::Apply {
                    application: Application {
                        candidate_id,
                        person_id: Uuid::now_v7(),
                        organization_id: Uuid::now_v7(),
                        applied_on: day(1, 2 + n),
                        rules: RuleSet::cpc_2014(),
                    },
                    birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).expect("day"),
                },
                &ctx,
                RetryPolicy::Never,
            )
            .await
            .expect("apply");
        streams.push(stream);
    }
    for (step, on, every) in [
        (Step::Talk, day(1, 20), 1),
        (Step::ActivistConfirmed, day(3, 1), 2),
    ] {
        posts(2_100).await;
        for stream in streams.iter().step_by(every) {
            candidates
                .handle(
                    stream,
                    &Command::Record {
                        step,
                        on,
                        details: hongxin_pipeline::candidate::Details {
                            recommended_by: Some(hongxin_pipeline::candidate::Recommender::Union),
                            ..Default::default()
                        },
                    },
                    &ctx,
                    RetryPolicy::Never,
                )
                .await
                .expect("step");
        }
    }

    // Incrementally, one event per transaction.
    let incremental = ProjectionDb::Sqlite {
        path: dir.path().join("incremental.db"),
    };
    let projection = Projection::open(&incremental).await.expect("projection");
    let events = store.read_all(0, 10_000).await.expect("events");
    assert!(events.len() > 4_200, "{} events", events.len());
    for e in &events {
        let applied =
            hongxin_projection::apply(&projection, &hongxin_bus::envelope_of("pipeline", e))
                .await
                .expect("apply");
        assert_eq!(applied, hongxin_projection::Applied::Applied);
    }
    let sql = "SELECT c.candidate_id, c.stage, COALESCE(d.step, ''), COALESCE(d.due_on, '') \
               FROM candidates c LEFT JOIN candidate_due d ON d.candidate_id = c.candidate_id \
               ORDER BY 1, 3";
    let want: Vec<(String, String, String, String)> =
        sqlite_rows(&dir.path().join("incremental.db"), sql).await;
    let stages: std::collections::BTreeSet<&str> = want.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        stages,
        ["activist", "applicant"].into(),
        "the later steps reached the read models"
    );
    assert!(want.iter().any(|r| !r.2.is_empty()), "steps are due");

    let (sqlite, postgres): (Vec<(String, String, String, String)>, _) =
        rebuilt_rows(&store, "pipeline", dir.path(), sql).await;
    assert_eq!(sqlite, want, "SQLite");
    assert_eq!(postgres, want, "PostgreSQL");
}

/// Appends `payload` as the first event of a new `kind` stream of `id`.
async fn append_first(
    store: &EventStore,
    kind: &str,
    id: Uuid,
    event_type: &str,
    payload: &impl prost::Message,
) {
    use hongxin_eventstore::{AppendRequest, EventMetadata, ExpectedVersion, NewEvent, StreamId};
    let event = NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload: payload.encode_to_vec(),
        metadata: EventMetadata::new("test", chrono::Utc::now()),
    };
    store
        .append(AppendRequest::new(
            StreamId::new(kind, id),
            ExpectedVersion::NoStream,
            vec![event],
        ))
        .await
        .expect("append");
}

/// The names of the indexes of the read models in `db`.
async fn indexes(db: &ProjectionDb) -> Vec<String> {
    match db {
        ProjectionDb::Sqlite { path } => sqlite_rows::<(String,)>(
            path,
            "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name",
        )
        .await
        .into_iter()
        .map(|(name,)| name)
        .collect(),
        ProjectionDb::Postgres { url, schema } => {
            let pool = sqlx::PgPool::connect(url).await.expect("PostgreSQL");
            let names = sqlx::query_scalar(
                "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname",
            )
            .bind(schema)
            .fetch_all(&pool)
            .await
            .expect("indexes");
            pool.close().await;
            names
        }
    }
}

/// The names of the indexes of read models migrated afresh into `db`,
/// the audit trail's among them.
async fn fresh_indexes(db: &ProjectionDb) -> Vec<String> {
    Projection::open(db).await.expect("fresh read models");
    let names = indexes(db).await;
    assert!(
        names.iter().any(|i| i.starts_with("audit_trail_")),
        "{names:?}"
    );
    names
}

/// What `sql` reads from the read models in the SQLite file at `path`.
async fn sqlite_rows<R>(path: &std::path::Path, sql: &str) -> Vec<R>
where
    R: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
{
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("SQLite");
    let rows = sqlx::query_as(sql).fetch_all(&pool).await.expect("rows");
    pool.close().await;
    rows
}

/// Rebuilds the read models from `context`'s `store` into a fresh SQLite
/// file in `dir` and into a fresh PostgreSQL schema, each in large
/// transactions; what `sql` reads from each.
async fn rebuilt_rows<R>(
    store: &EventStore,
    context: &str,
    dir: &std::path::Path,
    sql: &str,
) -> (Vec<R>, Vec<R>)
where
    R: Send
        + Unpin
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    use std::str::FromStr as _;
    let source = || {
        vec![RebuildSource::Store {
            context: context.to_owned(),
            store: store.clone(),
        }]
    };
    let path = dir.join("rebuilt.db");
    hongxin_projection::rebuild_into(&ProjectionDb::Sqlite { path: path.clone() }, source())
        .await
        .expect("rebuild into SQLite");
    let sqlite = sqlite_rows(&path, sql).await;

    let schema = hongxin_testkit::pg::fresh_schema();
    hongxin_projection::rebuild_into(
        &ProjectionDb::Postgres {
            url: hongxin_testkit::pg::url(),
            schema: schema.clone(),
        },
        source(),
    )
    .await
    .expect("rebuild into PostgreSQL");
    let options = sqlx::postgres::PgConnectOptions::from_str(&hongxin_testkit::pg::url())
        .expect("PostgreSQL URL")
        .options([("search_path", schema.as_str())]);
    let pg = sqlx::PgPool::connect_with(options)
        .await
        .expect("PostgreSQL");
    let postgres = sqlx::query_as(sql).fetch_all(&pg).await.expect("rows");
    pg.close().await;
    (sqlite, postgres)
}
