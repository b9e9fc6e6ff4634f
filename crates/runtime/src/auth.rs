//! Who is calling: bearer JWTs, checked on every gRPC call (and by the HTTP
//! side for what is not open), against the county identity provider's keys
//! (OIDC: a JWKS URL, cached and refreshed) or the local key that signs
//! development and service tokens.
//!
//! Architecture Invariant: a call reaches a handler only after the
//! [`AuthLayer`] has found its method in [`policy`] and the caller in one of
//! the roles it names; handlers read the [`Caller`] from the request for
//! actors and data scope, never the token.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use tower::{Layer, Service};

pub mod policy;

/// The roles of the county's people and systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The organisation department and the two-new work committee.
    CountyAdmin,
    /// An industry Party committee, within its industry.
    IndustryCommittee,
    /// A community's staff, within their community.
    CommunityStaff,
    /// A department's officer: cases dispatched to the department.
    DepartmentOfficer,
    /// A part-time grid worker: their own reports.
    GridWorker,
    /// A worker: their own records.
    Worker,
    /// The labour union's liaison.
    UnionLiaison,
    /// The HR bureau's liaison.
    HrLiaison,
    /// Aggregates only, no personal data.
    DashboardViewer,
    /// Another hongxin service.
    Service,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::CountyAdmin,
        Role::IndustryCommittee,
        Role::CommunityStaff,
        Role::DepartmentOfficer,
        Role::GridWorker,
        Role::Worker,
        Role::UnionLiaison,
        Role::HrLiaison,
        Role::DashboardViewer,
        Role::Service,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CountyAdmin => "county_admin",
            Role::IndustryCommittee => "industry_committee",
            Role::CommunityStaff => "community_staff",
            Role::DepartmentOfficer => "department_officer",
            Role::GridWorker => "grid_worker",
            Role::Worker => "worker",
            Role::UnionLiaison => "union_liaison",
            Role::HrLiaison => "hr_liaison",
            Role::DashboardViewer => "dashboard_viewer",
            Role::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What part of the county a caller's role reaches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// An industry committee's industry ("express", "food_delivery", ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// A community's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
    /// A department's name, as cases are dispatched to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// A worker's or grid worker's own person id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
}

impl Scope {
    /// An industry committee's: `industry` ("express", ...).
    pub fn industry(industry: impl Into<String>) -> Self {
        Self {
            industry: Some(industry.into()),
            ..Self::default()
        }
    }

    /// A community's staff's: the community's id.
    pub fn community(community: impl std::fmt::Display) -> Self {
        Self {
            community: Some(community.to_string()),
            ..Self::default()
        }
    }

    /// A department officer's: the department's name.
    pub fn department(department: impl Into<String>) -> Self {
        Self {
            department: Some(department.into()),
            ..Self::default()
        }
    }

    /// A worker's or grid worker's: their own person id.
    pub fn person(person: impl std::fmt::Display) -> Self {
        Self {
            person: Some(person.to_string()),
            ..Self::default()
        }
    }
}

/// The claims of a hongxin token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    #[serde(default)]
    pub roles: Vec<Role>,
    #[serde(default)]
    pub scope: Scope,
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub roles: Vec<Role>,
    pub scope: Scope,
}

impl Caller {
    /// The actor recorded with the events the call causes.
    pub fn actor(&self) -> String {
        self.subject.clone()
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller's data scope reaches `record`: the county
    /// administrator and services reach everything; an industry committee
    /// its industry; community staff their community; a department
    /// officer their department; a worker or grid worker themselves. A
    /// role whose scope is not set reaches nothing by it.
    pub fn reaches(&self, record: &Record<'_>) -> bool {
        let same = |mine: &Option<String>, theirs: Option<&str>| matches!((mine.as_deref(), theirs), (Some(a), Some(b)) if a == b);
        self.roles.iter().any(|role| match role {
            Role::CountyAdmin | Role::Service => true,
            Role::IndustryCommittee => same(&self.scope.industry, record.industry),
            Role::CommunityStaff => same(&self.scope.community, record.community),
            Role::DepartmentOfficer => same(&self.scope.department, record.department),
            Role::Worker | Role::GridWorker => same(&self.scope.person, record.person),
            Role::UnionLiaison | Role::HrLiaison | Role::DashboardViewer => false,
        })
    }
}

/// Where a scoped record belongs, for [`Caller::reaches`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Record<'a> {
    pub person: Option<&'a str>,
    pub community: Option<&'a str>,
    pub industry: Option<&'a str>,
    pub department: Option<&'a str>,
}

/// Refuses with `PermissionDenied` when the request's caller does not
/// reach `record`; calls made inside the process (no caller) pass.
pub fn check_reach<T>(
    request: &tonic::Request<T>,
    record: &Record<'_>,
) -> Result<(), tonic::Status> {
    match caller_of(request) {
        Some(caller) if !caller.reaches(record) => Err(tonic::Status::permission_denied(
            "this record is outside your scope",
        )),
        _ => Ok(()),
    }
}

/// Why a token was refused (the caller hears only "invalid token").
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the identity provider's keys cannot be fetched: {0}")]
    Keys(String),
}

/// The `[auth]` section of the configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The `aud` tokens must carry.
    pub audience: String,
    /// The identity provider's JWKS (OIDC); tokens it signs are accepted
    /// beside the local key's.
    pub jwks_url: Option<String>,
    /// How often the JWKS is fetched again (also when an unknown key id
    /// turns up, at most every 30 seconds).
    pub jwks_refresh_seconds: u64,
    /// The local signing key (32 bytes, base64) for development and
    /// service tokens; `<data_dir>/auth.key` (created on first start) when
    /// unset. Every process of a deployment shares it.
    pub local_key: Option<SecretString>,
    /// Whether the dashboard's aggregate figures are readable without a
    /// token. When unset: yes when serving on loopback, no otherwise.
    pub open_dashboard: Option<bool>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            issuer: "hongxin".to_owned(),
            audience: "hongxin".to_owned(),
            jwks_url: None,
            jwks_refresh_seconds: 300,
            local_key: None,
            open_dashboard: None,
        }
    }
}

/// The process's authenticator from the `[auth]` section; the local key
/// in `<data_dir>/auth.key` unless `auth.local_key` is set.
pub fn from_config(config: &crate::Config) -> anyhow::Result<Arc<Authenticator>> {
    let settings: Settings = config
        .section("auth")
        .context("the [auth] section of the configuration is not valid")?;
    Ok(Arc::new(Authenticator::from_settings(
        &settings,
        &config.data_dir.join("auth.key"),
        config.host.is_loopback(),
    )?))
}

/// The identity provider's keys, fetched and kept.
#[derive(Debug)]
struct Jwks {
    url: String,
    refresh: Duration,
    client: reqwest::Client,
    keys: tokio::sync::RwLock<Option<(jsonwebtoken::jwk::JwkSet, Instant)>>,
}

/// Unknown key ids fetch the JWKS again, but not more often than this.
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);

impl Jwks {
    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        {
            let keys = self.keys.read().await;
            if let Some((set, fetched)) = keys.as_ref()
                && (fetched.elapsed() < self.refresh)
                && let Some(jwk) = set.find(kid)
            {
                return DecodingKey::from_jwk(jwk).map_err(|e| AuthError::Invalid(e.to_string()));
            }
        }
        let mut keys = self.keys.write().await;
        let stale = keys
            .as_ref()
            .is_none_or(|(_, fetched)| fetched.elapsed() >= JWKS_MIN_REFRESH);
        if stale {
            let set: jsonwebtoken::jwk::JwkSet = self
                .client
                .get(&self.url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| AuthError::Keys(e.to_string()))?
                .json()
                .await
                .map_err(|e| AuthError::Keys(e.to_string()))?;
            *keys = Some((set, Instant::now()));
        }
        let jwk = keys
            .as_ref()
            .and_then(|(set, _)| set.find(kid))
            .ok_or_else(|| AuthError::Invalid(format!("no key {kid} at the identity provider")))?;
        DecodingKey::from_jwk(jwk).map_err(|e| AuthError::Invalid(e.to_string()))
    }
}

/// Checks tokens, and mints local ones.
pub struct Authenticator {
    issuer: String,
    audience: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwks: Option<Jwks>,
    open_dashboard: bool,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("jwks", &self.jwks.as_ref().map(|j| &j.url))
            .finish_non_exhaustive()
    }
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Authenticator {
    /// From the configuration; the local key from `local_key`, or the file
    /// `key_file` (created with a random key, mode 0600, when missing).
    pub fn from_settings(
        settings: &Settings,
        key_file: &Path,
        loopback: bool,
    ) -> anyhow::Result<Self> {
        let secret = match &settings.local_key {
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded.expose_secret().trim())
                .context("auth.local_key is not base64")?,
            None => load_or_create_key(key_file)?,
        };
        anyhow::ensure!(
            secret.len() >= 32,
            "the local signing key has fewer than 32 bytes"
        );
        let mut auth = Self::with_secret(&settings.issuer, &settings.audience, &secret)?;
        auth.open_dashboard = settings.open_dashboard.unwrap_or(loopback);
        if let Some(url) = &settings.jwks_url {
            auth.jwks = Some(Jwks {
                url: url.clone(),
                refresh: Duration::from_secs(settings.jwks_refresh_seconds.max(30)),
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .context("failed to build the JWKS client")?,
                keys: tokio::sync::RwLock::new(None),
            });
        }
        Ok(auth)
    }

    /// With a given local key (tests, tools).
    pub fn with_secret(issuer: &str, audience: &str, secret: &[u8]) -> anyhow::Result<Self> {
        Ok(Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            encoding: EncodingKey::from_secret(secret).context("bad local key")?,
            decoding: DecodingKey::from_secret(secret).context("bad local key")?,
            jwks: None,
            open_dashboard: false,
        })
    }

    /// Also accept tokens signed by the keys at `url`.
    pub fn with_jwks(mut self, url: &str) -> anyhow::Result<Self> {
        self.jwks = Some(Jwks {
            url: url.to_owned(),
            refresh: Duration::from_secs(300),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .context("failed to build the JWKS client")?,
            keys: tokio::sync::RwLock::new(None),
        });
        Ok(self)
    }

    pub fn with_open_dashboard(mut self, open: bool) -> Self {
        self.open_dashboard = open;
        self
    }

    /// Whether the dashboard's aggregates are readable without a token.
    pub fn dashboard_is_open(&self) -> bool {
        self.open_dashboard
    }

    /// A token signed with the local key.
    pub fn mint(
        &self,
        subject: &str,
        roles: &[Role],
        scope: Scope,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        let now = now_seconds();
        let claims = Claims {
            sub: subject.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + ttl.as_secs(),
            roles: roles.to_vec(),
            scope,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .context("failed to sign a token")
    }

    /// The caller a token names, after checking its signature, issuer,
    /// audience and expiry.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let (key, alg) = match header.alg {
            Algorithm::HS256 => (self.decoding.clone(), Algorithm::HS256),
            alg @ (Algorithm::RS256 | Algorithm::ES256 | Algorithm::PS256 | Algorithm::EdDSA) => {
                let Some(jwks) = &self.jwks else {
                    return Err(AuthError::Invalid(
                        "no identity provider is configured".into(),
                    ));
                };
                let kid = header
                    .kid
                    .ok_or_else(|| AuthError::Invalid("the token names no key".into()))?;
                (jwks.key(&kid).await?, alg)
            }
            other => return Err(AuthError::Invalid(format!("{other:?} is not accepted"))),
        };
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        Ok(Caller {
            subject: data.claims.sub,
            roles: data.claims.roles,
            scope: data.claims.scope,
        })
    }
}

/// Reads the local key file, or creates it with a random key.
fn load_or_create_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .with_context(|| format!("{} is not base64", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::RngCore as _;
            let mut key = vec![0u8; 32];
            rand::rng().fill_bytes(&mut key);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("failed to create {}", dir.display()))?;
            }
            let text = base64::engine::general_purpose::STANDARD.encode(&key);
            write_private(path, &text)
                .with_context(|| format!("failed to write {}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("failed to read {}", path.display())),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// A service's own identity for the calls it makes: a local token with the
/// service role, minted again before it expires.
#[derive(Clone, Debug)]
pub struct ServiceIdentity {
    auth: Arc<Authenticator>,
    name: String,
    cached: Arc<RwLock<Option<(String, Instant)>>>,
}

const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(3600);

impl ServiceIdentity {
    pub fn new(auth: Arc<Authenticator>, service: &str) -> Self {
        Self {
            auth,
            name: format!("service:{service}"),
            cached: Arc::new(RwLock::new(None)),
        }
    }

    /// `Bearer <token>`, fresh for at least half of its life.
    pub fn authorization(&self) -> Option<String> {
        if let Some((token, minted)) = self
            .cached
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && minted.elapsed() < SERVICE_TOKEN_TTL / 2
        {
            return Some(format!("Bearer {token}"));
        }
        let token = self
            .auth
            .mint(
                &self.name,
                &[Role::Service],
                Scope::default(),
                SERVICE_TOKEN_TTL,
            )
            .ok()?;
        *self.cached.write().unwrap_or_else(|p| p.into_inner()) =
            Some((token.clone(), Instant::now()));
        Some(format!("Bearer {token}"))
    }
}

/// The bearer token of a request's `authorization` header.
pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Checks every gRPC call against [`policy`] before it reaches a handler;
/// health checks and reflection are open. Without an authenticator every
/// other call is refused.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    auth: Option<Arc<Authenticator>>,
}

impl AuthLayer {
    pub fn new(auth: Option<Arc<Authenticator>>) -> Self {
        Self { auth }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    auth: Option<Arc<Authenticator>>,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// A gRPC error answer with an empty body, as tonic writes them.
pub(crate) fn refusal<R: Default>(status: tonic::Status) -> http::Response<R> {
    let mut response = http::Response::new(R::default());
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    let _ = status.add_header(headers);
    response
}

/// What the layer decides for one call.
pub async fn authorize(
    auth: Option<&Authenticator>,
    path: &str,
    headers: &http::HeaderMap,
) -> Result<Option<Caller>, tonic::Status> {
    if policy::is_open(path) {
        return Ok(None);
    }
    let Some(auth) = auth else {
        return Err(tonic::Status::unauthenticated(
            "this server accepts no tokens: authentication is not configured",
        ));
    };
    let Some(token) = bearer(headers) else {
        return Err(tonic::Status::unauthenticated(
            "a bearer token is required (authorization: Bearer <token>)",
        ));
    };
    let caller = match auth.verify(token).await {
        Ok(c) => c,
        Err(AuthError::Keys(e)) => {
            tracing::warn!(error = %e, "the identity provider's keys are unavailable");
            return Err(tonic::Status::unavailable(
                "the identity provider cannot be reached; try again later",
            ));
        }
        Err(e) => {
            tracing::info!(error = %e, "a token was refused");
            return Err(tonic::Status::unauthenticated("invalid token"));
        }
    };
    match policy::roles_for(path) {
        Some(roles) if caller.roles.iter().any(|r| roles.contains(r)) => Ok(Some(caller)),
        Some(_) => Err(tonic::Status::permission_denied(
            "your role does not allow this call",
        )),
        None => Err(tonic::Status::permission_denied(
            "this call is not open to any role",
        )),
    }
}

impl<S, B, R> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The ready service goes with this call; a clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            match authorize(auth.as_deref(), req.uri().path(), req.headers()).await {
                Ok(caller) => {
                    if let Some(caller) = caller {
                        req.extensions_mut().insert(caller);
                    }
                    inner.call(req).await
                }
                Err(status) => Ok(refusal(status)),
            }
        })
    }
}

/// The caller of a gRPC request, if it was authenticated.
pub fn caller_of<T>(request: &tonic::Request<T>) -> Option<&Caller> {
    request.extensions().get::<Caller>()
}

/// Roles and scope as `hongxin token` takes them: "county_admin",
/// "community=<id>".
pub fn parse_scope(pairs: &[String]) -> anyhow::Result<Scope> {
    let mut scope = Scope::default();
    let mut seen = BTreeMap::new();
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .with_context(|| format!("a scope is key=value, not {pair:?}"))?;
        anyhow::ensure!(
            seen.insert(k.to_owned(), ()).is_none(),
            "{k} is given twice"
        );
        let v = Some(v.to_owned());
        match k {
            "industry" => scope.industry = v,
            "community" => scope.community = v,
            "department" => scope.department = v,
            "person" => scope.person = v,
            _ => anyhow::bail!("the scope keys are industry, community, department and person"),
        }
    }
    Ok(scope)
}

/// Adds `authorization: Bearer <token>` to every call of a client.
#[derive(Clone, Debug)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    pub fn new(token: &str) -> Self {
        Self(format!("Bearer {token}").parse().ok())
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

/// A channel whose calls carry a bearer token.
pub type Authed =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;

/// `channel` with `token` on every call.
pub fn authed(channel: tonic::transport::Channel, token: &str) -> Authed {
    tonic::service::interceptor::InterceptedService::new(channel, Bearer::new(token))
}

/// For tests that run servers and clients in one process: an authenticator
/// with a random key made once per process, and tokens it signs.
pub mod testing {
    use std::sync::{Arc, LazyLock};
    use std::time::Duration;

    use super::{Authenticator, Role, Scope};

    static AUTH: LazyLock<Arc<Authenticator>> = LazyLock::new(|| {
        use rand::RngCore as _;
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Arc::new(
            Authenticator::with_secret("hongxin", "hongxin", &key)
                .unwrap_or_else(|e| panic!("a random key is a key: {e}")),
        )
    });

    pub fn authenticator() -> Arc<Authenticator> {
        AUTH.clone()
    }

    /// A token of `role` (subject `person:test-<role>`), valid for an hour.
    pub fn token(role: Role) -> String {
        token_with(role, Scope::default())
    }

    pub fn token_with(role: Role, scope: Scope) -> String {
        AUTH.mint(
            &format!("person:test-{}", role.as_str()),
            &[role],
            scope,
            Duration::from_secs(3600),
        )
        .unwrap_or_else(|e| panic!("minting a test token: {e}"))
    }

    /// A channel carrying a county administrator's token.
    pub fn admin(channel: tonic::transport::Channel) -> super::Authed {
        super::authed(channel, &token(Role::CountyAdmin))
    }
}
