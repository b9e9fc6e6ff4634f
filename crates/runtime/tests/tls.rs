//! Mutual TLS: a server with the deployment's certificates answers clients
//! that show a certificate of the same CA, and no one else — not a
//! plaintext caller, not one whose certificate another CA signed.

use std::time::Duration;

use hongxin_runtime::grpc::GrpcApp;
use hongxin_runtime::tls::Tls;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A CA and a certificate it signs for `localhost`: (ca pem, cert pem, key pem).
fn pki() -> (String, String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &ca)
        .expect("certificate");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

async fn health(channel: Channel) -> Result<(), tonic::Status> {
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|_| ())
}

#[tokio::test]
async fn only_callers_with_a_certificate_of_the_deployment_connect() {
    let (ca, cert, key) = pki();
    let tls = Tls::from_pem(cert.as_bytes(), key.as_bytes(), ca.as_bytes(), "localhost");
    let app = GrpcApp::build(
        "127.0.0.1:0".parse().expect("addr"),
        tonic::service::Routes::default(),
        &[],
        Duration::from_secs(1),
    )
    .await
    .expect("bind")
    .with_tls(Some(&tls));
    let port = app.port();
    let shutdown = hongxin_runtime::Shutdown::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));

    let url = format!("https://127.0.0.1:{port}");
    let trusted = Endpoint::from_shared(url.clone())
        .expect("url")
        .tls_config(tls.client())
        .expect("tls")
        .connect()
        .await
        .expect("a client of the deployment connects");
    health(trusted).await.expect("and is answered");

    // Another CA's certificate: the handshake fails.
    let (other_ca, other_cert, other_key) = pki();
    let stranger = Tls::from_pem(
        other_cert.as_bytes(),
        other_key.as_bytes(),
        ca.as_bytes(),
        "localhost",
    );
    let refused = match Endpoint::from_shared(url.clone())
        .expect("url")
        .tls_config(stranger.client())
        .expect("tls")
        .connect()
        .await
    {
        Ok(channel) => health(channel).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a certificate of another CA is refused");
    // And a client that trusts only another CA does not trust this server.
    let elsewhere = Tls::from_pem(
        other_cert.as_bytes(),
        other_key.as_bytes(),
        other_ca.as_bytes(),
        "localhost",
    );
    let distrusted = match Endpoint::from_shared(url.clone())
        .expect("url")
        .tls_config(elsewhere.client())
        .expect("tls")
        .connect()
        .await
    {
        Ok(channel) => health(channel).await.is_err(),
        Err(_) => true,
    };
    assert!(distrusted, "the server's certificate is checked too");

    // Plaintext: no answer.
    let plain = match Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("url")
        .connect()
        .await
    {
        Ok(channel) => health(channel).await.is_err(),
        Err(_) => true,
    };
    assert!(plain, "a plaintext caller is not answered");
    shutdown.trigger();
}
