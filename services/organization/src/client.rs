//! How other services ask this one about people, organisations, communities
//! and enterprises: every call bounded by a deadline, every failure a
//! [`CommandError`] the caller can pass on (`Unavailable` when this service
//! is slow or away, so the caller's client may retry).

use std::time::Duration;

use hongxin_domain::CommandError;
use hongxin_proto::organization::v1 as pb;
use hongxin_proto::organization::v1::organization_service_client::OrganizationServiceClient;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use uuid::Uuid;

/// References to check in one call.
#[derive(Clone, Debug, Default)]
pub struct References {
    pub people: Vec<Uuid>,
    pub enterprises: Vec<Uuid>,
    pub communities: Vec<Uuid>,
    pub organizations: Vec<Uuid>,
}

/// A reference this service does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    /// "person", "enterprise", "community" or "organization".
    pub kind: String,
    pub id: String,
}

/// A client of the organization service for other services.
#[derive(Clone, Debug)]
pub struct Directory {
    client: OrganizationServiceClient<Channel>,
    deadline: Duration,
    /// The calling service's own token.
    identity: Option<hongxin_runtime::auth::ServiceIdentity>,
}

impl Directory {
    /// Connects lazily to `url` (e.g. "http://127.0.0.1:50051"); each call
    /// gives up after `deadline`.
    pub fn connect_lazy(url: &str, deadline: Duration) -> Result<Self, CommandError> {
        Self::connect_lazy_tls(url, deadline, None)
    }

    /// As [`Directory::connect_lazy`], over mutual TLS when `tls` is given
    /// (an `https://` URL).
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

    /// Which of `references` the organization service does not know.
    pub async fn unknown(&self, references: &References) -> Result<Vec<Unknown>, CommandError> {
        let ids = |v: &[Uuid]| v.iter().map(Uuid::to_string).collect();
        let request = self.request(pb::CheckReferencesRequest {
            person_ids: ids(&references.people),
            enterprise_ids: ids(&references.enterprises),
            community_ids: ids(&references.communities),
            organization_ids: ids(&references.organizations),
        });
        let mut client = self.client.clone();
        let answer = self.bounded(client.check_references(request)).await?;
        Ok(answer
            .unknown
            .into_iter()
            .map(|u| Unknown {
                kind: u.kind,
                id: u.id,
            })
            .collect())
    }

    /// The person, masked; `None` when unknown.
    pub async fn person(&self, id: Uuid) -> Result<Option<pb::Person>, CommandError> {
        let mut client = self.client.clone();
        let request = self.request(pb::GetPersonRequest {
            person_id: id.to_string(),
        });
        match self.bounded(client.get_person(request)).await {
            Ok(r) => Ok(r.person),
            Err(CommandError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The person's record in clear, with its history (the access
    /// right's export; only services entitled to it may call); `None`
    /// when unknown.
    pub async fn export_personal_data(
        &self,
        id: Uuid,
    ) -> Result<Option<pb::ExportPersonalDataResponse>, CommandError> {
        let mut client = self.client.clone();
        let request = self.request(pb::ExportPersonalDataRequest {
            person_id: id.to_string(),
        });
        match self.bounded(client.export_personal_data(request)).await {
            Ok(r) => Ok(Some(r)),
            Err(CommandError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The enterprise (its industry and community say whose scope it is
    /// in); `None` when unknown.
    pub async fn enterprise(&self, id: Uuid) -> Result<Option<pb::Enterprise>, CommandError> {
        let mut client = self.client.clone();
        let request = self.request(pb::GetEnterpriseRequest {
            enterprise_id: id.to_string(),
        });
        match self.bounded(client.get_enterprise(request)).await {
            Ok(r) => Ok(r.enterprise),
            Err(CommandError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The Party organisation; `None` when unknown.
    pub async fn organization(
        &self,
        id: Uuid,
    ) -> Result<Option<pb::PartyOrganization>, CommandError> {
        let mut client = self.client.clone();
        let request = self.request(pb::GetPartyOrganizationRequest {
            organization_id: id.to_string(),
        });
        match self.bounded(client.get_party_organization(request)).await {
            Ok(r) => Ok(r.organization),
            Err(CommandError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The call's answer, or its failure as a command error; never longer
    /// than the deadline (and a little slack for the transport to say so).
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> Result<T, CommandError> {
        match tokio::time::timeout(self.deadline + Duration::from_millis(100), call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(error_of(status)),
            Err(_) => Err(CommandError::Unavailable(
                "the organization service did not answer in time".into(),
            )),
        }
    }
}

fn error_of(status: Status) -> CommandError {
    match status.code() {
        Code::NotFound => CommandError::NotFound(status.message().to_owned()),
        Code::FailedPrecondition => CommandError::Rejected(status.message().to_owned()),
        Code::Aborted => CommandError::Conflict(status.message().to_owned()),
        Code::InvalidArgument => CommandError::invalid("request", status.message().to_owned()),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted => {
            CommandError::Unavailable(format!("organization service: {}", status.message()).into())
        }
        _ => CommandError::Internal(format!("organization service: {status}").into()),
    }
}
