//! What the integration service asks the people registry (the organization
//! service) over gRPC: a person's real-name record in clear, for the one
//! partner entitled to it, and where a person works, for filters.
//!
//! The clear values live only in the [`RealName`] of the delivery being
//! built; its `Debug` shows none of them, so no log line can carry them.

use std::time::Duration;

use hongxin_domain::CommandError;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use uuid::Uuid;

/// A person's real-name record, as the union and the HR bureau keep them.
#[derive(Clone)]
pub struct RealName {
    pub name: String,
    pub id_number: String,
    pub phone: String,
}

impl std::fmt::Debug for RealName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RealName(<personal data>)")
    }
}

/// Where a person works, as the registry knows it (no personal data).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// `hongxin.organization.v1.Industry`.
    pub industry: i32,
    pub platform: String,
    pub community_id: Option<Uuid>,
}

impl Work {
    pub fn of(work: Option<&org::PersonWork>) -> Self {
        work.map(|w| Self {
            industry: w.industry,
            platform: w.platform.clone(),
            community_id: Uuid::parse_str(&w.community_id).ok(),
        })
        .unwrap_or_default()
    }
}

/// A person as the integration sees them: `real_name` is `None` once the
/// person's data was erased.
#[derive(Clone, Debug)]
pub struct Person {
    pub real_name: Option<RealName>,
    pub union_member: bool,
    pub work: Work,
}

/// A client of the organization service, each call within a deadline.
#[derive(Clone, Debug)]
pub struct Registry {
    client: OrganizationServiceClient<Channel>,
    deadline: Duration,
    identity: Option<hongxin_runtime::auth::ServiceIdentity>,
}

impl Registry {
    /// Connects lazily to `url`, e.g. "http://127.0.0.1:50051".
    pub fn connect_lazy(url: &str, deadline: Duration) -> Result<Self, CommandError> {
        Self::connect_lazy_tls(url, deadline, None)
    }

    /// As [`Registry::connect_lazy`], over mutual TLS when `tls` is given.
    pub fn connect_lazy_tls(
        url: &str,
        deadline: Duration,
        tls: Option<&hongxin_runtime::tls::Tls>,
    ) -> Result<Self, CommandError> {
        let mut endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| CommandError::Internal(Box::new(e)))?
            .connect_timeout(deadline)
            .timeout(deadline);
        if let Some(tls) = tls {
            endpoint = endpoint
                .tls_config(tls.client())
                .map_err(|e| CommandError::Internal(Box::new(e)))?;
        }
        Ok(Self {
            client: OrganizationServiceClient::new(endpoint.connect_lazy()),
            deadline,
            identity: None,
        })
    }

    /// Calls as `identity` (the organization service answers no call
    /// without a token).
    pub fn with_identity(mut self, identity: hongxin_runtime::auth::ServiceIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.deadline);
        if let Some(value) = self
            .identity
            .as_ref()
            .and_then(|i| i.authorization())
            .and_then(|v| v.parse().ok())
        {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    /// The person with their real-name record in clear (the registry's
    /// export); `None` when the registry does not know them.
    pub async fn person(&self, id: Uuid) -> Result<Option<Person>, CommandError> {
        let request = self.request(org::ExportPersonalDataRequest {
            person_id: id.to_string(),
        });
        let mut client = self.client.clone();
        let call = client.export_personal_data(request);
        let answer =
            match tokio::time::timeout(self.deadline + Duration::from_millis(100), call).await {
                Ok(Ok(r)) => r.into_inner(),
                Ok(Err(status)) if status.code() == Code::NotFound => return Ok(None),
                Ok(Err(status)) => return Err(error_of(&status)),
                Err(_) => {
                    return Err(CommandError::Unavailable(
                        "the organization service did not answer in time".into(),
                    ));
                }
            };
        let Some(p) = answer.person else {
            return Ok(None);
        };
        // An erased person keeps their categories but loses name and number.
        let real_name = (!p.name.is_empty() && !answer.id_number.is_empty()).then(|| RealName {
            name: p.name.clone(),
            id_number: answer.id_number,
            phone: answer.phone,
        });
        Ok(Some(Person {
            real_name,
            union_member: p.union_member,
            work: Work::of(p.work.as_ref()),
        }))
    }
}

impl Registry {
    /// Where the person works (the masked record; nothing personal); `None`
    /// when the registry does not know them.
    pub async fn work(&self, id: Uuid) -> Result<Option<Work>, CommandError> {
        let request = self.request(org::GetPersonRequest {
            person_id: id.to_string(),
        });
        let mut client = self.client.clone();
        let call = client.get_person(request);
        match tokio::time::timeout(self.deadline + Duration::from_millis(100), call).await {
            Ok(Ok(r)) => Ok(r.into_inner().person.map(|p| Work::of(p.work.as_ref()))),
            Ok(Err(status)) if status.code() == Code::NotFound => Ok(None),
            Ok(Err(status)) => Err(error_of(&status)),
            Err(_) => Err(CommandError::Unavailable(
                "the organization service did not answer in time".into(),
            )),
        }
    }
}

fn error_of(status: &Status) -> CommandError {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted => {
            CommandError::Unavailable(format!("organization service: {}", status.message()).into())
        }
        // The status names no personal data, only the call's outcome.
        _ => CommandError::Internal(format!("organization service: {:?}", status.code()).into()),
    }
}
