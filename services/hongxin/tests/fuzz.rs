//! Every method of every service, called with random well-formed requests
//! (built from the contracts' descriptors: empty, long, Chinese, hostile
//! and out-of-range values, unknown enum numbers, deep messages) on the
//! running embedded default: no call may answer `Internal` or `Unknown`,
//! hang, or leak internal error text, and the system still answers after.
//!
//! Sizes: `HONGXIN_FUZZ_CASES` requests per method (default 8), seeded by
//! `HONGXIN_FUZZ_SEED` (default random, printed) so a failure can be
//! replayed.

mod common;

use common::{LOCAL_KEY, admin_token};

use std::process::Stdio;
use std::str::FromStr as _;
use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes};
use hongxin_testkit::{free_port, nats::wait_for_port};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, Value};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::process::{Child, Command};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Bytes in, bytes out: requests are encoded here from the descriptors.
#[derive(Clone, Copy, Debug, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Self::Encoder {
        Raw
    }
    fn decoder(&mut self) -> Self::Decoder {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

const STRINGS: &[&str] = &[
    "",
    " ",
    "齐河县晏城街道",
    "😀🚴‍♂️",
    "../../etc/passwd",
    "'; DROP TABLE events; --",
    "\u{0}\u{1f}",
    "2022-13-45",
    "2022-02-29",
    "9999-12-31",
    "0000-00-00T00:00:00Z",
    "370123199003070012",
    "37012319900307001X",
    "13800138000",
    "-1",
    "NaN",
    "express",
    "garbage_pile",
];

fn random_string(rng: &mut StdRng) -> String {
    match rng.random_range(0..6) {
        0 => uuid::Uuid::now_v7().to_string(),
        1 => "长".repeat(rng.random_range(1..2_000)),
        2 => (0..rng.random_range(1..40))
            .map(|_| char::from_u32(rng.random_range(32..0x2FFF)).unwrap_or('x'))
            .collect(),
        _ => STRINGS[rng.random_range(0..STRINGS.len())].to_owned(),
    }
}

fn random_value(rng: &mut StdRng, kind: &Kind, depth: u32) -> Value {
    let ints: [i64; 7] = [
        0,
        1,
        -1,
        i64::from(i32::MAX),
        i64::from(i32::MIN),
        12,
        1_000_000_007,
    ];
    match kind {
        Kind::Double => Value::F64(
            [
                0.0,
                -1.0,
                f64::NAN,
                f64::INFINITY,
                1e308,
                116.76,
                36.79,
                181.0,
            ][rng.random_range(0..8)],
        ),
        Kind::Float => Value::F32([0.0, f32::NAN, -3.5, 1e30][rng.random_range(0..4)]),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(ints[rng.random_range(0..ints.len())] as i32)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64([0, -1, i64::MAX, i64::MIN, 70_000_000][rng.random_range(0..5)])
        }
        Kind::Uint32 | Kind::Fixed32 => {
            Value::U32([0, 1, u32::MAX, 12, 100][rng.random_range(0..5)])
        }
        Kind::Uint64 | Kind::Fixed64 => Value::U64([0, 1, u64::MAX, 12][rng.random_range(0..4)]),
        Kind::Bool => Value::Bool(rng.random()),
        Kind::String => Value::String(random_string(rng)),
        Kind::Bytes => {
            let n = rng.random_range(0..2_048);
            Value::Bytes(Bytes::from(
                (0..n).map(|_| rng.random::<u8>()).collect::<Vec<_>>(),
            ))
        }
        Kind::Enum(e) => {
            let values: Vec<i32> = e.values().map(|v| v.number()).collect();
            if rng.random_range(0..5) == 0 || values.is_empty() {
                Value::EnumNumber(99)
            } else {
                Value::EnumNumber(values[rng.random_range(0..values.len())])
            }
        }
        Kind::Message(m) => Value::Message(random_message(rng, m, depth + 1)),
    }
}

fn random_message(rng: &mut StdRng, desc: &MessageDescriptor, depth: u32) -> DynamicMessage {
    let mut msg = DynamicMessage::new(desc.clone());
    if depth > 3 {
        return msg;
    }
    for field in desc.fields() {
        if field.is_map() || rng.random_range(0..10) < 3 {
            continue;
        }
        let kind = field.kind();
        let value = if field.is_list() {
            let n = if rng.random_range(0..8) == 0 {
                40
            } else {
                rng.random_range(0..4)
            };
            Value::List((0..n).map(|_| random_value(rng, &kind, depth)).collect())
        } else {
            random_value(rng, &kind, depth)
        };
        msg.set_field(&field, value);
    }
    msg
}

fn hongxin(dir: &std::path::Path, envs: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hongxin"));
    cmd.args(["up"])
        .current_dir(dir)
        .env("HONGXIN_TELEMETRY__LOG_FILTER", "error")
        .env("HONGXIN_AUTH__LOCAL_KEY", LOCAL_KEY)
        .env("HONGXIN_DATA_DIR", dir.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start hongxin")
}

#[tokio::test]
async fn random_requests_to_every_method_never_break_the_system() {
    let cases: usize = std::env::var("HONGXIN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let seed: u64 = std::env::var("HONGXIN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("fuzz seed {seed} (HONGXIN_FUZZ_SEED), {cases} requests per method");
    let mut rng = StdRng::seed_from_u64(seed);

    let dir = tempfile::tempdir().expect("dir");
    let services = [
        ("hongxin.organization.v1", "ORGANIZATION"),
        ("hongxin.pipeline.v1", "PIPELINE"),
        ("hongxin.grid.v1", "GRID"),
        ("hongxin.care.v1", "CARE"),
        ("hongxin.dashboard.v1", "PROJECTION"),
        ("hongxin.integration.v1", "INTEGRATION"),
    ];
    let ports: Vec<(String, u16)> = services
        .iter()
        .map(|(package, _)| ((*package).to_owned(), free_port()))
        .collect();
    let mut envs: Vec<(String, String)> = services
        .iter()
        .zip(&ports)
        .map(|((_, key), (_, port))| (format!("HONGXIN_PORTS__{key}"), port.to_string()))
        .collect();
    envs.push(("HONGXIN_PORTS__HTTP".to_owned(), free_port().to_string()));
    let envs: Vec<(&str, String)> = envs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let _up = hongxin(dir.path(), &envs);
    for (_, port) in &ports {
        wait_for_port(*port).await.expect("a service's port");
    }

    let pool = DescriptorPool::decode(hongxin_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let token: tonic::metadata::MetadataValue<_> =
        format!("Bearer {}", admin_token()).parse().expect("header");
    let mut calls = 0;
    let mut failures = Vec::new();
    let mut codes: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for service in pool.services() {
        let Some((_, port)) = ports.iter().find(|(p, _)| p == service.package_name()) else {
            continue;
        };
        let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        for method in service.methods() {
            let path = http::uri::PathAndQuery::from_str(&format!(
                "/{}/{}",
                service.full_name(),
                method.name()
            ))
            .expect("path");
            for _ in 0..cases {
                let body =
                    Bytes::from(random_message(&mut rng, &method.input(), 0).encode_to_vec());
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                grpc.ready().await.expect("ready");
                let outcome = tokio::time::timeout(Duration::from_secs(20), async {
                    if method.is_client_streaming() {
                        let mut r = tonic::Request::new(futures::stream::iter(vec![body.clone()]));
                        r.metadata_mut().insert("authorization", token.clone());
                        grpc.client_streaming(r, path.clone(), Raw)
                            .await
                            .map(|_| ())
                    } else if method.is_server_streaming() {
                        let mut r = tonic::Request::new(body.clone());
                        r.metadata_mut().insert("authorization", token.clone());
                        let mut s = grpc
                            .server_streaming(r, path.clone(), Raw)
                            .await?
                            .into_inner();
                        // The first message, or the end: a watch never ends.
                        s.message().await.map(|_| ())
                    } else {
                        let mut r = tonic::Request::new(body.clone());
                        r.metadata_mut().insert("authorization", token.clone());
                        grpc.unary(r, path.clone(), Raw).await.map(|_| ())
                    }
                })
                .await;
                calls += 1;
                let code = match &outcome {
                    Err(_) => "timeout".to_owned(),
                    Ok(Ok(())) => "Ok".to_owned(),
                    Ok(Err(s)) => format!("{:?}", s.code()),
                };
                *codes.entry(code).or_default() += 1;
                let bad = match &outcome {
                    Err(_) => Some("no answer within 20 s".to_owned()),
                    Ok(Ok(())) => None,
                    Ok(Err(status)) => {
                        let leaked = [
                            "sqlx", "SQL", "panicked", "thread '", "database", "os error",
                        ]
                        .iter()
                        .any(|w| status.message().contains(w));
                        match status.code() {
                            tonic::Code::Internal
                            | tonic::Code::Unknown
                            | tonic::Code::DataLoss => {
                                Some(format!("{:?}: {}", status.code(), status.message()))
                            }
                            _ if leaked => Some(format!("internal text: {}", status.message())),
                            _ => None,
                        }
                    }
                };
                if let Some(why) = bad {
                    failures.push(format!(
                        "{path} with {}: {why}",
                        String::from_utf8_lossy(&body)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    ));
                }
            }
        }
    }
    eprintln!("answers: {codes:?}");
    assert!(calls > 500, "every method was called ({calls})");
    // The requests reached the handlers: judged, not refused at the door.
    let refused = codes.get("Unauthenticated").copied().unwrap_or(0)
        + codes.get("PermissionDenied").copied().unwrap_or(0);
    assert!(
        refused < calls / 10,
        "most calls must pass authentication: {codes:?}"
    );
    assert!(
        codes.get("Ok").copied().unwrap_or(0) > 0,
        "some random requests succeed"
    );
    assert!(
        codes.get("InvalidArgument").copied().unwrap_or(0) > calls / 4,
        "{codes:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {calls} calls went wrong (seed {seed}):\n{}",
        failures.len(),
        failures.join("\n")
    );
    // And the system still answers.
    for (_, port) in &ports {
        wait_for_port(*port).await.expect("still serving");
    }
}
