//! What the integration service asks the people registry (the organization
//! service) over gRPC: a person's real-name record in clear, for the one
//! partner entitled to it, and where a person works, for filters.
//!
//! The clear values live only in the [`RealName`] of the delivery being
//! built; its `Debug` shows none of them, so no log line can carry them.

use std::time::Duration;

use hongxin_domain::CommandError;
use hongxin_organization::client::Directory;
use hongxin_proto::organization::v1 as org;
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

/// What the integration asks the organization service, through its client
/// for other services (deadlines, service identity, TLS, error mapping).
#[derive(Clone, Debug)]
pub struct Registry(Directory);

impl From<Directory> for Registry {
    fn from(directory: Directory) -> Self {
        Self(directory)
    }
}

impl Registry {
    /// Connects lazily to `url`, e.g. "http://127.0.0.1:50051".
    pub fn connect_lazy(url: &str, deadline: Duration) -> Result<Self, CommandError> {
        Directory::connect_lazy(url, deadline).map(Self)
    }

    /// As [`Registry::connect_lazy`], over mutual TLS when `tls` is given.
    pub fn connect_lazy_tls(
        url: &str,
        deadline: Duration,
        tls: Option<&hongxin_runtime::tls::Tls>,
    ) -> Result<Self, CommandError> {
        Directory::connect_lazy_tls(url, deadline, tls).map(Self)
    }

    /// Calls as `identity` (the organization service answers no call
    /// without a token).
    pub fn with_identity(self, identity: hongxin_runtime::auth::ServiceIdentity) -> Self {
        Self(self.0.with_identity(identity))
    }

    /// The person with their real-name record in clear (the registry's
    /// export); `None` when the registry does not know them.
    pub async fn person(&self, id: Uuid) -> Result<Option<Person>, CommandError> {
        let Some(answer) = self.0.export_personal_data(id).await? else {
            return Ok(None);
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

    /// Where the person works (the masked record; nothing personal); `None`
    /// when the registry does not know them.
    pub async fn work(&self, id: Uuid) -> Result<Option<Work>, CommandError> {
        Ok(self.0.person(id).await?.map(|p| Work::of(p.work.as_ref())))
    }
}
