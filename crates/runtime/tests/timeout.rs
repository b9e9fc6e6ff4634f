//! A server's bound on a call's time: a handler slower than the bound is
//! answered `DeadlineExceeded` (and the server goes on answering), while a
//! server stream and an upload that keep moving outlive it, and an upload
//! that stalls longer than the bound is refused.
//!
//! The service under test answers at the grid service's paths (the layer
//! knows which methods are client streams from the contracts) with handlers
//! of its own: slow, streaming, or counting what it is sent.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use hongxin_proto::grid::v1 as pb;
use hongxin_proto::grid::v1::grid_service_client::GridServiceClient;
use hongxin_runtime::auth::{Bearer, Role, testing};
use hongxin_runtime::grpc::GrpcApp;
use tonic::Code;
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

const TIMEOUT: Duration = Duration::from_millis(500);
/// Longer than [`TIMEOUT`], for the slow handler and the stalled upload.
const SLOW: Duration = Duration::from_secs(3);
/// Shorter than [`TIMEOUT`]: the pause between two parts of a stream.
const STEP: Duration = Duration::from_millis(200);
const PARTS: usize = 5;

#[derive(Clone)]
struct Fake;

impl tonic::server::NamedService for Fake {
    const NAME: &'static str = "hongxin.grid.v1.GridService";
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;
type Chunks =
    Pin<Box<dyn futures::Stream<Item = Result<pb::GetPhotoResponse, tonic::Status>> + Send>>;

impl tower::Service<http::Request<tonic::body::Body>> for Fake {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let response = match req.uri().path() {
                // A case id "slow" takes longer than the server allows.
                "/hongxin.grid.v1.GridService/GetCase" => {
                    let handler =
                        tower::service_fn(|r: tonic::Request<pb::GetCaseRequest>| async move {
                            if r.get_ref().case_id == "slow" {
                                tokio::time::sleep(SLOW).await;
                            }
                            Ok::<_, tonic::Status>(tonic::Response::new(pb::GetCaseResponse {
                                case: Some(pb::Case {
                                    case_id: r.into_inner().case_id,
                                    ..Default::default()
                                }),
                            }))
                        });
                    grpc().unary(handler, req).await
                }
                // Answers at once, then streams for longer than the bound.
                "/hongxin.grid.v1.GridService/GetPhoto" => {
                    let handler =
                        tower::service_fn(|_: tonic::Request<pb::GetPhotoRequest>| async {
                            let chunks: Chunks =
                                Box::pin(futures::stream::iter(0..PARTS).then(|i| async move {
                                    tokio::time::sleep(STEP).await;
                                    Ok(pb::GetPhotoResponse {
                                        data: vec![u8::try_from(i).unwrap_or(0)],
                                    })
                                }));
                            Ok::<_, tonic::Status>(tonic::Response::new(chunks))
                        });
                    grpc().server_streaming(handler, req).await
                }
                // Reads the whole upload and answers with its size.
                "/hongxin.grid.v1.GridService/UploadPhoto" => {
                    let handler = tower::service_fn(
                        |r: tonic::Request<tonic::Streaming<pb::UploadPhotoRequest>>| async move {
                            let mut stream = r.into_inner();
                            let mut size = 0;
                            while let Some(part) = stream.message().await? {
                                size += part.data.len();
                            }
                            Ok::<_, tonic::Status>(tonic::Response::new(pb::UploadPhotoResponse {
                                photo_id: size.to_string(),
                                ..Default::default()
                            }))
                        },
                    );
                    grpc().client_streaming(handler, req).await
                }
                _ => tonic::Status::unimplemented("not in this test").into_http(),
            };
            Ok(response)
        })
    }
}

/// A server for one method's message types.
fn grpc<E, D>() -> tonic::server::Grpc<tonic_prost::ProstCodec<E, D>>
where
    E: prost::Message + Send + 'static,
    D: prost::Message + Default + Send + 'static,
{
    tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
}

async fn start() -> (
    GridServiceClient<InterceptedService<Channel, Bearer>>,
    hongxin_runtime::Shutdown,
) {
    let app = GrpcApp::build(
        "127.0.0.1:0".parse().expect("addr"),
        tonic::service::Routes::new(Fake),
        &[],
        Duration::from_secs(1),
    )
    .await
    .expect("bind")
    .with_auth(testing::authenticator())
    .with_request_timeout(TIMEOUT);
    let port = app.port();
    let shutdown = hongxin_runtime::Shutdown::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let client = GridServiceClient::with_interceptor(
        channel,
        Bearer::new(&testing::token(Role::CountyAdmin)),
    );
    (client, shutdown)
}

fn get(id: &str) -> pb::GetCaseRequest {
    pb::GetCaseRequest {
        case_id: id.to_owned(),
    }
}

#[tokio::test]
async fn a_handler_slower_than_the_bound_is_answered_deadline_exceeded() {
    let (mut client, shutdown) = start().await;
    let started = Instant::now();
    let refused = client.get_case(get("slow")).await.expect_err("too slow");
    assert_eq!(refused.code(), Code::DeadlineExceeded, "{refused:?}");
    assert!(
        started.elapsed() < SLOW,
        "answered at the bound, not when the handler would have finished"
    );
    // The connection and the server are fine: the next call is answered.
    let answered = client.get_case(get("quick")).await.expect("answered");
    assert_eq!(answered.into_inner().case.expect("case").case_id, "quick");
    shutdown.trigger();
}

#[tokio::test]
async fn a_server_stream_outlives_the_bound() {
    let (mut client, shutdown) = start().await;
    let started = Instant::now();
    let mut stream = client
        .get_photo(pb::GetPhotoRequest::default())
        .await
        .expect("answered")
        .into_inner();
    let mut parts = Vec::new();
    while let Some(part) = stream.message().await.expect("not cut") {
        parts.extend(part.data);
    }
    assert_eq!(parts, vec![0, 1, 2, 3, 4]);
    assert!(started.elapsed() > TIMEOUT, "the stream ran past the bound");
    shutdown.trigger();
}

/// An upload of `PARTS` parts of 1 KiB, `pause` before each.
fn upload(pause: Duration) -> impl futures::Stream<Item = pb::UploadPhotoRequest> + Send + 'static {
    futures::stream::iter(0..PARTS).then(move |_| async move {
        tokio::time::sleep(pause).await;
        pb::UploadPhotoRequest {
            data: vec![7; 1024],
        }
    })
}

#[tokio::test]
async fn an_upload_that_keeps_moving_outlives_the_bound_and_a_stalled_one_does_not() {
    let (mut client, shutdown) = start().await;
    let started = Instant::now();
    let done = client.upload_photo(upload(STEP)).await.expect("not cut");
    assert_eq!(done.into_inner().photo_id, (PARTS * 1024).to_string());
    assert!(started.elapsed() > TIMEOUT, "the upload ran past the bound");

    let started = Instant::now();
    let refused = client
        .upload_photo(upload(SLOW))
        .await
        .expect_err("a stalled upload is refused");
    assert_eq!(refused.code(), Code::DeadlineExceeded, "{refused:?}");
    assert!(
        started.elapsed() < SLOW * 2,
        "refused at the first long pause"
    );
    shutdown.trigger();
}

/// The HTTP server: a slow handler is answered 503 at the bound, a body
/// that streams (as the dashboard's server-sent events do) outlives it.
#[tokio::test]
async fn http_requests_are_bounded_until_their_answer_starts() {
    use axum::routing::get;
    let router = axum::Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(SLOW).await;
                "late"
            }),
        )
        .route(
            "/stream",
            get(|| async {
                let parts = futures::stream::iter(0..PARTS).then(|i| async move {
                    tokio::time::sleep(STEP).await;
                    Ok::<_, Infallible>(format!("{i}\n"))
                });
                axum::body::Body::from_stream(parts)
            }),
        );
    let listener = hongxin_runtime::http::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let shutdown = hongxin_runtime::Shutdown::new();
    let server = tokio::spawn(hongxin_runtime::http::serve(
        listener,
        router,
        TIMEOUT,
        shutdown.clone(),
    ));
    let http = reqwest::Client::new();

    let started = Instant::now();
    let slow = http
        .get(format!("http://127.0.0.1:{port}/slow"))
        .send()
        .await
        .expect("answered");
    assert_eq!(slow.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < SLOW, "answered at the bound");

    let started = Instant::now();
    let streamed = http
        .get(format!("http://127.0.0.1:{port}/stream"))
        .send()
        .await
        .expect("answered");
    assert_eq!(streamed.status(), reqwest::StatusCode::OK);
    assert_eq!(
        streamed.text().await.expect("whole body"),
        "0\n1\n2\n3\n4\n"
    );
    assert!(started.elapsed() > TIMEOUT, "the body ran past the bound");

    shutdown.trigger();
    server.await.expect("joined").expect("stopped cleanly");
}
