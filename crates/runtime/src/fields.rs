//! Reading a request's fields, gathering every problem so the caller hears
//! of all of them at once (`InvalidArgument` with field violations).

use chrono::NaiveDate;
use hongxin_domain::{CommandError, FieldViolation};
use tonic::Status;
use uuid::Uuid;

use crate::status_of;

#[derive(Debug, Default)]
pub struct Fields(pub Vec<FieldViolation>);

impl Fields {
    pub fn push(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// A UUID (not the nil one).
    pub fn id(&mut self, field: &str, raw: &str) -> Option<Uuid> {
        let id = Uuid::parse_str(raw).ok().filter(|u| !u.is_nil());
        if id.is_none() {
            self.push(field, "must be a UUID");
        }
        id
    }

    /// A UUID, or none when empty.
    pub fn optional_id(&mut self, field: &str, raw: &str) -> Option<Option<Uuid>> {
        if raw.is_empty() {
            Some(None)
        } else {
            self.id(field, raw).map(Some)
        }
    }

    /// UUIDs, each problem named by its index.
    pub fn ids(&mut self, field: &str, raw: &[String]) -> Vec<Uuid> {
        raw.iter()
            .enumerate()
            .filter_map(|(i, r)| self.id(&format!("{field}[{i}]"), r))
            .collect()
    }

    /// A calendar day, "YYYY-MM-DD".
    pub fn day(&mut self, field: &str, raw: &str) -> Option<NaiveDate> {
        let day = hongxin_domain::time::parse_day(raw);
        if day.is_none() {
            self.push(field, "must be a date, YYYY-MM-DD");
        }
        day
    }

    /// `value`, or a problem with `field` when it is `None`.
    pub fn required<T>(&mut self, field: &str, value: Option<T>, description: &str) -> Option<T> {
        if value.is_none() {
            self.push(field, description);
        }
        value
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was wrong.
    pub fn check(self) -> Result<(), Status> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.fail())
        }
    }

    /// The `InvalidArgument` status naming every problem.
    pub fn fail(self) -> Status {
        status_of(CommandError::Invalid(self.0))
    }
}
