//! Authentication and the role table: every role against every method of
//! every contract, tokens that must be refused, and keys from an identity
//! provider's JWKS served over HTTP.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hongxin_runtime::auth::{Authenticator, Caller, Role, Scope, authorize, policy};
use prost::Message as _;
use tonic::Code;
use tower::{Layer as _, Service as _, ServiceExt as _};

const SECRET: &[u8] = b"a test key of at least 32 bytes, for tokens";

fn auth() -> Authenticator {
    Authenticator::with_secret("hongxin", "hongxin", SECRET).expect("auth")
}

fn token(auth: &Authenticator, subject: &str, role: Role) -> String {
    auth.mint(subject, &[role], Scope::default(), Duration::from_secs(60))
        .expect("token")
}

fn headers(token: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    h
}

/// Every `(<package>.<Service>, <Method>)` of the contracts.
fn methods() -> BTreeSet<(String, String)> {
    let set = prost_types::FileDescriptorSet::decode(hongxin_proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor set");
    set.file
        .iter()
        .flat_map(|f| {
            f.service.iter().flat_map(move |s| {
                s.method
                    .iter()
                    .map(move |m| (format!("{}.{}", f.package(), s.name()), m.name().to_owned()))
            })
        })
        .collect()
}

#[test]
fn the_table_names_every_method_of_every_contract_and_nothing_else() {
    let contracts = methods();
    let table: BTreeSet<(String, String)> = policy::POLICY
        .iter()
        .map(|(s, m, _)| ((*s).to_owned(), (*m).to_owned()))
        .collect();
    let missing: Vec<_> = contracts.difference(&table).collect();
    assert!(missing.is_empty(), "methods without a policy: {missing:?}");
    let stale: Vec<_> = table.difference(&contracts).collect();
    assert!(stale.is_empty(), "policies of no method: {stale:?}");
    assert_eq!(
        table.len(),
        policy::POLICY.len(),
        "a method is listed twice"
    );
    for (s, m, roles) in policy::POLICY {
        assert!(!roles.is_empty(), "{s}/{m} is open to no role");
    }
}

#[tokio::test]
async fn every_role_against_every_method() {
    let auth = auth();
    let (mut allowed, mut denied) = (0, 0);
    for role in Role::ALL {
        let t = token(&auth, &format!("person:{}", role.as_str()), role);
        for (service, method) in methods() {
            let path = format!("/{service}/{method}");
            let expected = policy::roles_for(&path).expect("listed").contains(&role);
            match authorize(Some(&auth), &path, &headers(&t)).await {
                Ok(Some(caller)) => {
                    assert!(expected, "{} may not call {path}", role.as_str());
                    assert_eq!(caller.roles, [role]);
                    allowed += 1;
                }
                Ok(None) => panic!("{path} is not open"),
                Err(status) => {
                    assert!(!expected, "{} may call {path}: {status:?}", role.as_str());
                    assert_eq!(status.code(), Code::PermissionDenied, "{path}");
                    denied += 1;
                }
            }
        }
    }
    assert!(allowed > 0 && denied > 0);
    // Aggregates only for the dashboard viewer: no method that names people.
    for (service, method) in methods() {
        let path = format!("/{service}/{method}");
        if policy::roles_for(&path)
            .expect("listed")
            .contains(&Role::DashboardViewer)
        {
            assert!(service.starts_with("hongxin.dashboard."), "{path}");
        }
    }
    // Without any token, every method is refused as unauthenticated.
    for (service, method) in methods() {
        let path = format!("/{service}/{method}");
        let status = authorize(Some(&auth), &path, &http::HeaderMap::new())
            .await
            .expect_err("no token");
        assert_eq!(status.code(), Code::Unauthenticated, "{path}");
    }
}

#[tokio::test]
async fn health_and_reflection_are_open_and_an_unknown_method_is_closed() {
    let auth = auth();
    let none = http::HeaderMap::new();
    let open = authorize(Some(&auth), "/grpc.health.v1.Health/Check", &none).await;
    assert!(open.expect("open").is_none());
    let reflection = authorize(
        None,
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        &none,
    )
    .await;
    assert!(reflection.expect("open").is_none());
    let admin = token(&auth, "person:a", Role::CountyAdmin);
    let unknown = authorize(Some(&auth), "/hongxin.x.v1.X/Nothing", &headers(&admin))
        .await
        .expect_err("unknown method");
    assert_eq!(unknown.code(), Code::PermissionDenied);
    let unconfigured = authorize(
        None,
        "/hongxin.grid.v1.GridService/GetCase",
        &headers(&admin),
    )
    .await
    .expect_err("no authenticator");
    assert_eq!(unconfigured.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn expired_tampered_foreign_and_misaddressed_tokens_are_refused() {
    let auth = auth();
    let path = "/hongxin.grid.v1.GridService/GetCase";
    let code = |t: String| {
        let auth = &auth;
        async move {
            authorize(Some(auth), path, &headers(&t))
                .await
                .expect_err("refused")
                .code()
        }
    };
    let good = token(&auth, "person:w", Role::Worker);
    assert!(authorize(Some(&auth), path, &headers(&good)).await.is_ok());

    // Expired long ago, beyond the leeway.
    let claims = serde_json::json!({
        "sub": "person:w", "iss": "hongxin", "aud": "hongxin",
        "iat": 1, "exp": 2, "roles": ["worker"]
    });
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET).expect("key"),
    )
    .expect("token");
    assert_eq!(code(expired).await, Code::Unauthenticated);

    // Tampered: the roles in the payload changed after signing.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = String::from_utf8(b64.decode(&parts[1]).expect("payload")).expect("utf-8");
    parts[1] = b64.encode(payload.replace("worker", "county_admin"));
    assert_eq!(code(parts.join(".")).await, Code::Unauthenticated);

    // Signed with another key; for another audience; by another issuer.
    let other = Authenticator::with_secret(
        "hongxin",
        "hongxin",
        b"another key, also of 32 bytes or more",
    )
    .expect("auth");
    assert_eq!(
        code(token(&other, "person:w", Role::CountyAdmin)).await,
        Code::Unauthenticated
    );
    let elsewhere = Authenticator::with_secret("hongxin", "another-system", SECRET).expect("auth");
    assert_eq!(
        code(token(&elsewhere, "person:w", Role::Worker)).await,
        Code::Unauthenticated
    );
    let issuer = Authenticator::with_secret("someone-else", "hongxin", SECRET).expect("auth");
    assert_eq!(
        code(token(&issuer, "person:w", Role::Worker)).await,
        Code::Unauthenticated
    );
    assert_eq!(code("not a token".to_owned()).await, Code::Unauthenticated);
    // "none" is no algorithm this accepts.
    let unsigned = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    );
    assert_eq!(code(unsigned).await, Code::Unauthenticated);
}

/// An identity provider of the test's own: its JWKS over HTTP, with an
/// ECDSA P-256 key it signs tokens with.
#[tokio::test]
async fn tokens_of_the_identity_provider_are_checked_with_its_jwks() {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("key");
    let der = pair.to_pkcs8v1().expect("pkcs8");
    let public = pair.public_key().as_ref().to_vec();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwks = serde_json::json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "kid": "county-1", "alg": "ES256", "use": "sig",
        "x": b64.encode(&public[1..33]), "y": b64.encode(&public[33..65]),
    }]});
    let fetched = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = {
        let fetched = fetched.clone();
        axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                fetched.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move { axum::Json(jwks) }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let auth = auth()
        .with_jwks(&format!("http://127.0.0.1:{port}/jwks.json"))
        .expect("jwks");
    let sign = |kid: &str, role: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs();
        let claims = serde_json::json!({
            "sub": "oidc|1001", "iss": "hongxin", "aud": "hongxin",
            "iat": now, "exp": now + 300, "roles": [role],
            "scope": { "community": "c-1" }
        });
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_der(der.as_ref()),
        )
        .expect("token")
    };
    let path = "/hongxin.organization.v1.OrganizationService/GetPerson";
    let caller: Caller = authorize(
        Some(&auth),
        path,
        &headers(&sign("county-1", "community_staff")),
    )
    .await
    .expect("accepted")
    .expect("a caller");
    assert_eq!(caller.subject, "oidc|1001");
    assert_eq!(caller.scope.community.as_deref(), Some("c-1"));
    // Cached: a second token needs no second fetch.
    authorize(
        Some(&auth),
        path,
        &headers(&sign("county-1", "community_staff")),
    )
    .await
    .expect("accepted");
    assert_eq!(fetched.load(std::sync::atomic::Ordering::SeqCst), 1);
    // A key the provider does not have.
    let unknown = authorize(
        Some(&auth),
        path,
        &headers(&sign("county-9", "county_admin")),
    )
    .await
    .expect_err("unknown key");
    assert_eq!(unknown.code(), Code::Unauthenticated);
}

/// The layer in front of a service: refusals never reach it, and an
/// accepted call carries its caller.
#[tokio::test]
async fn the_layer_refuses_before_the_handler_and_passes_the_caller_on() {
    let auth = Arc::new(auth());
    let reached = Arc::new(std::sync::Mutex::new(Vec::<Option<Caller>>::new()));
    let inner = {
        let reached = reached.clone();
        tower::service_fn(move |req: http::Request<()>| {
            let reached = reached.clone();
            async move {
                reached
                    .lock()
                    .expect("lock")
                    .push(req.extensions().get::<Caller>().cloned());
                Ok::<_, Infallible>(http::Response::new(String::new()))
            }
        })
    };
    let mut svc = hongxin_runtime::auth::AuthLayer::new(Some(auth.clone())).layer(inner);
    let request = |t: Option<&str>| {
        let mut r = http::Request::builder()
            .uri("http://x/hongxin.pipeline.v1.PipelineService/RecordStep")
            .body(())
            .expect("request");
        if let Some(t) = t {
            *r.headers_mut() = headers(t);
        }
        r
    };
    let refused = svc
        .ready()
        .await
        .expect("ready")
        .call(request(None))
        .await
        .expect("answer");
    assert_eq!(refused.headers()["grpc-status"], "16", "unauthenticated");
    let worker = token(&auth, "person:w", Role::Worker);
    let denied = svc
        .ready()
        .await
        .expect("ready")
        .call(request(Some(&worker)))
        .await
        .expect("answer");
    assert_eq!(denied.headers()["grpc-status"], "7", "permission denied");
    assert!(
        reached.lock().expect("lock").is_empty(),
        "no refusal reached the handler"
    );
    let committee = token(&auth, "person:c", Role::IndustryCommittee);
    svc.ready()
        .await
        .expect("ready")
        .call(request(Some(&committee)))
        .await
        .expect("answer");
    let reached = reached.lock().expect("lock");
    assert_eq!(reached.len(), 1);
    assert_eq!(
        reached[0].as_ref().map(|c| c.subject.as_str()),
        Some("person:c")
    );
}
