//! The anti-corruption mapping: which internal events each partner
//! receives, and what of them, as CloudEvents 1.0 (structured JSON mode).
//!
//! The partner contract is this file and `docs/integration/schemas/`, not
//! the internal protobuf events: an internal event may change (a field
//! renamed, a message split) and only this mapping follows; a partner's
//! contract changes only with a new `.vN` type.
//!
//! Personal data: the union receives the real-name record (name, ID
//! number, phone, occupation) of workers who are union members or apply
//! to join, as union membership requires; the HR bureau receives name and ID number of people
//! who attended a training session or was issued its certificate, as a
//! real-name training record requires, and name, ID number and phone of a
//! worker whose flexible-employment application or accident report
//! hongxin files, so the bureau can take it up with them. Nobody receives
//! birth dates, Party status or household figures (they stay sealed in the
//! care store).
//!
//! What a partner itself reported (the union's membership confirmations
//! and hardship-file statuses, the HR bureau's own records) is not sent
//! back to it: those events came from its system.

use chrono::{DateTime, SecondsFormat, Utc};
use hongxin_bus::EventEnvelope;
use hongxin_domain::CommandError;
use hongxin_proto::care::v1 as care;
use hongxin_proto::organization::v1 as org;
use hongxin_proto::pipeline::v1 as pipeline;
use prost::Message as _;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::registry::{Registry, Work};
use crate::subscription::{Partner, Subscription};

/// One kind of event a partner may receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entitlement {
    pub partner: Partner,
    pub context: &'static str,
    pub event_type: &'static str,
}

/// Everything any partner receives.
pub const CATALOGUE: &[Entitlement] = &[
    Entitlement {
        partner: Partner::Union,
        context: "organization",
        event_type: "PersonRegistered",
    },
    Entitlement {
        partner: Partner::Union,
        context: "organization",
        event_type: "PersonFlagsSet",
    },
    Entitlement {
        partner: Partner::Union,
        context: "organization",
        event_type: "UnionMembershipApplied",
    },
    Entitlement {
        partner: Partner::Union,
        context: "care",
        event_type: "HardshipApplied",
    },
    Entitlement {
        partner: Partner::Union,
        context: "care",
        event_type: "HardshipStepRecorded",
    },
    Entitlement {
        partner: Partner::Union,
        context: "care",
        event_type: "HardshipSupportGiven",
    },
    Entitlement {
        partner: Partner::HrBureau,
        context: "pipeline",
        event_type: "TrainingSessionScheduled",
    },
    Entitlement {
        partner: Partner::HrBureau,
        context: "pipeline",
        event_type: "TrainingAttended",
    },
    Entitlement {
        partner: Partner::HrBureau,
        context: "pipeline",
        event_type: "TrainingCertificateIssued",
    },
    Entitlement {
        partner: Partner::HrBureau,
        context: "organization",
        event_type: "EmploymentRegistrationFiled",
    },
    Entitlement {
        partner: Partner::HrBureau,
        context: "organization",
        event_type: "AccidentReported",
    },
];

/// The contexts whose events some partner receives.
pub const SOURCES: &[&str] = &["organization", "pipeline", "care"];

impl Entitlement {
    /// The CloudEvents type, e.g. `cn.hongxin.care.HardshipSupportGiven.v1`.
    pub fn cloud_type(&self) -> String {
        cloud_type(self.context, self.event_type)
    }
}

pub fn cloud_type(context: &str, event_type: &str) -> String {
    format!("cn.hongxin.{context}.{event_type}.v1")
}

/// The entitlement behind a CloudEvents type, if any partner has it.
pub fn entitlement(cloud_type: &str) -> Option<&'static Entitlement> {
    CATALOGUE.iter().find(|e| e.cloud_type() == cloud_type)
}

fn time(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `HARDSHIP_CATEGORY_DEEP` → `deep`: the partner contract's enum words.
fn word(full: &str, prefix: &str) -> String {
    full.strip_prefix(prefix)
        .unwrap_or(full)
        .to_ascii_lowercase()
}

fn industry_word(raw: i32) -> Value {
    match org::Industry::try_from(raw) {
        Ok(org::Industry::Unspecified) | Err(_) => Value::Null,
        Ok(i) => Value::String(word(i.as_str_name(), "INDUSTRY_")),
    }
}

fn malformed(e: &EventEnvelope, err: impl std::fmt::Display) -> CommandError {
    CommandError::Internal(format!("malformed {} payload: {err}", e.event_type).into())
}

fn decode<M: prost::Message + Default>(e: &EventEnvelope) -> Result<M, CommandError> {
    M::decode(e.payload.as_slice()).map_err(|err| malformed(e, err))
}

/// Whether `sub` receives `e`, given where the worker it concerns works
/// (`work`, when the event concerns one worker and the registry knows
/// them). Filters apply only where the event concerns a worker; hardship
/// and training events carry neither industry nor community and pass.
pub fn receives(sub: &Subscription, e: &EventEnvelope, work: Option<&Work>) -> bool {
    let wanted = cloud_type(&e.context, &e.event_type);
    if !sub.spec.event_types.contains(&wanted) {
        return false;
    }
    // A subscription receives what was recorded from its creation on.
    let recorded = e
        .recorded_at
        .as_ref()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32));
    if recorded.is_some_and(|r| r < sub.created_at) {
        return false;
    }
    if e.context == "organization" && e.event_type == "PersonRegistered" {
        // The union hears of workers who are members, not of everyone.
        match org::PersonRegistered::decode(e.payload.as_slice()) {
            Ok(p) if p.union_member => {}
            _ => return false,
        }
    }
    if let Some(work) = work {
        if !sub.spec.industries.is_empty() && !sub.spec.industries.contains(&work.industry) {
            return false;
        }
        if !sub.spec.community_ids.is_empty()
            && !work
                .community_id
                .is_some_and(|c| sub.spec.community_ids.contains(&c))
        {
            return false;
        }
    }
    true
}

/// Where the worker an event concerns works, for filters: from the event
/// when it carries it, else from the registry. `None` for events about no
/// single worker.
pub async fn work_of(e: &EventEnvelope, registry: &Registry) -> Result<Option<Work>, CommandError> {
    match (e.context.as_str(), e.event_type.as_str()) {
        ("organization", "PersonRegistered") => {
            let p: org::PersonRegistered = decode(e)?;
            Ok(Some(Work::of(p.work.as_ref())))
        }
        ("organization", "PersonFlagsSet") => {
            let p: org::PersonFlagsSet = decode(e)?;
            worker(e, registry, &p.person_id).await
        }
        ("organization", "UnionMembershipApplied") => {
            let a: org::UnionMembershipApplied = decode(e)?;
            worker(e, registry, &a.person_id).await
        }
        ("organization", "EmploymentRegistrationFiled") => {
            let f: org::EmploymentRegistrationFiled = decode(e)?;
            worker(e, registry, &f.person_id).await
        }
        ("organization", "AccidentReported") => {
            let a: org::AccidentReported = decode(e)?;
            worker(e, registry, &a.person_id).await
        }
        ("pipeline", "TrainingCertificateIssued") => {
            let c: pipeline::TrainingCertificateIssued = decode(e)?;
            worker(e, registry, &c.person_id).await
        }
        _ => Ok(None),
    }
}

async fn worker(
    e: &EventEnvelope,
    registry: &Registry,
    raw: &str,
) -> Result<Option<Work>, CommandError> {
    let id = person_id(e, raw)?;
    Ok(Some(registry.work(id).await?.unwrap_or_default()))
}

/// The CloudEvent of `e` at `cursor` in a subscription's log, with the
/// data the partner is entitled to. Personal data comes from the registry
/// at the moment of delivery, so an erased person's record is not sent.
pub async fn cloud_event(
    e: &EventEnvelope,
    cursor: u64,
    registry: &Registry,
) -> Result<Value, CommandError> {
    let data = data_of(e, registry).await?;
    Ok(json!({
        "specversion": "1.0",
        "id": e.event_id,
        "source": format!("/hongxin/{}", e.context),
        "type": cloud_type(&e.context, &e.event_type),
        "subject": e.stream_id,
        "time": time(e.occurred_at.as_ref()),
        "datacontenttype": "application/json",
        "hongxincursor": cursor,
        "hongxinversion": e.stream_version,
        "data": data,
    }))
}

/// A worker's real-name record (name, ID number, phone) for a partner
/// entitled to it, or nothing once erased.
fn real_name(person: Option<&crate::registry::Person>) -> Value {
    match person.and_then(|p| p.real_name.as_ref()) {
        Some(r) => {
            let mut m = Map::new();
            m.insert("name".into(), json!(r.name));
            m.insert("idNumber".into(), json!(r.id_number));
            if !r.phone.is_empty() {
                m.insert("phone".into(), json!(r.phone));
            }
            Value::Object(m)
        }
        None => Value::Null,
    }
}

fn occupation(work: &Work) -> Value {
    let mut m = Map::new();
    m.insert("industry".into(), industry_word(work.industry));
    if !work.platform.is_empty() {
        m.insert("platform".into(), json!(work.platform));
    }
    if let Some(c) = work.community_id {
        m.insert("communityId".into(), json!(c.to_string()));
    }
    Value::Object(m)
}

fn person_id(e: &EventEnvelope, raw: &str) -> Result<Uuid, CommandError> {
    Uuid::parse_str(raw).map_err(|err| malformed(e, err))
}

async fn data_of(e: &EventEnvelope, registry: &Registry) -> Result<Value, CommandError> {
    Ok(match (e.context.as_str(), e.event_type.as_str()) {
        ("organization", "PersonRegistered") => {
            let p: org::PersonRegistered = decode(e)?;
            let person = registry.person(person_id(e, &p.person_id)?).await?;
            json!({
                "personId": p.person_id,
                "unionMember": p.union_member,
                "member": if p.union_member { real_name(person.as_ref()) } else { Value::Null },
                "occupation": occupation(&Work::of(p.work.as_ref())),
            })
        }
        ("organization", "PersonFlagsSet") => {
            let p: org::PersonFlagsSet = decode(e)?;
            // Only a member's record is sent; of one who is not (any more),
            // the union hears the id it already has and nothing else.
            let person = if p.union_member {
                registry.person(person_id(e, &p.person_id)?).await?
            } else {
                None
            };
            json!({
                "personId": p.person_id,
                "unionMember": p.union_member,
                "member": real_name(person.as_ref()),
                "occupation": person.as_ref().map_or(Value::Null, |p| occupation(&p.work)),
            })
        }
        ("care", "HardshipApplied") => {
            let c: care::HardshipApplied = decode(e)?;
            let category = care::HardshipCategory::try_from(c.category)
                .map(|k| word(k.as_str_name(), "HARDSHIP_CATEGORY_"))
                .unwrap_or_else(|_| "unspecified".to_owned());
            json!({
                "caseId": c.case_id,
                "personId": c.person_id,
                "category": category,
                "appliedOn": c.applied_on,
                "minimumLivingStandardFen": c.minimum_living_standard_fen,
            })
        }
        ("care", "HardshipStepRecorded") => {
            let c: care::HardshipStepRecorded = decode(e)?;
            let step = care::HardshipStep::try_from(c.step)
                .map(|k| word(k.as_str_name(), "HARDSHIP_STEP_"))
                .unwrap_or_else(|_| "unspecified".to_owned());
            json!({
                "caseId": c.case_id,
                "step": step,
                "on": c.on,
                "passed": c.passed,
                "note": c.note,
            })
        }
        ("care", "HardshipSupportGiven") => {
            let c: care::HardshipSupportGiven = decode(e)?;
            let s = c.support.unwrap_or_default();
            let kind = care::SupportKind::try_from(s.kind)
                .map(|k| word(k.as_str_name(), "SUPPORT_KIND_"))
                .unwrap_or_else(|_| "unspecified".to_owned());
            json!({
                "caseId": c.case_id,
                "supportId": s.support_id,
                "kind": kind,
                "amountFen": s.amount_fen,
                "description": s.description,
                "giver": s.giver,
                "givenOn": s.given_on,
            })
        }
        ("pipeline", "TrainingSessionScheduled") => {
            let t: pipeline::TrainingSessionScheduled = decode(e)?;
            let kind = pipeline::CourseKind::try_from(t.kind)
                .map(|k| word(k.as_str_name(), "COURSE_KIND_"))
                .unwrap_or_else(|_| "unspecified".to_owned());
            json!({
                "sessionId": t.session_id,
                "course": t.course,
                "kind": kind,
                "base": t.base,
                "lecturer": t.lecturer,
                "heldOn": t.held_on,
                "classHours": t.class_hours,
            })
        }
        ("pipeline", "TrainingAttended") => {
            let t: pipeline::TrainingAttended = decode(e)?;
            let mut attendees = Vec::with_capacity(t.person_ids.len());
            for raw in &t.person_ids {
                let person = registry.person(person_id(e, raw)?).await?;
                let mut a = Map::new();
                a.insert("personId".into(), json!(raw));
                if let Some(r) = person.as_ref().and_then(|p| p.real_name.as_ref()) {
                    a.insert("name".into(), json!(r.name));
                    a.insert("idNumber".into(), json!(r.id_number));
                }
                attendees.push(Value::Object(a));
            }
            json!({ "sessionId": t.session_id, "attendees": attendees })
        }
        ("pipeline", "TrainingCertificateIssued") => {
            let c: pipeline::TrainingCertificateIssued = decode(e)?;
            let person = registry.person(person_id(e, &c.person_id)?).await?;
            let mut holder = Map::new();
            holder.insert("personId".into(), json!(c.person_id));
            if let Some(r) = person.as_ref().and_then(|p| p.real_name.as_ref()) {
                holder.insert("name".into(), json!(r.name));
                holder.insert("idNumber".into(), json!(r.id_number));
            }
            json!({
                "sessionId": c.session_id,
                "holder": Value::Object(holder),
                "certificateNo": c.certificate_no,
                "issuedOn": c.issued_on,
            })
        }
        ("organization", "UnionMembershipApplied") => {
            let a: org::UnionMembershipApplied = decode(e)?;
            let person = registry.person(person_id(e, &a.person_id)?).await?;
            json!({
                "applicationId": a.application_id,
                "personId": a.person_id,
                "applicant": real_name(person.as_ref()),
                "occupation": person.as_ref().map_or(Value::Null, |p| occupation(&p.work)),
                "appliedOn": a.applied_on,
            })
        }
        ("organization", "EmploymentRegistrationFiled") => {
            let f: org::EmploymentRegistrationFiled = decode(e)?;
            let person = registry.person(person_id(e, &f.person_id)?).await?;
            json!({
                "filingId": f.filing_id,
                "personId": f.person_id,
                "applicant": real_name(person.as_ref()),
                "occupation": f.occupation,
                "work": person.as_ref().map_or(Value::Null, |p| occupation(&p.work)),
                "filedOn": f.filed_on,
            })
        }
        ("organization", "AccidentReported") => {
            let a: org::AccidentReported = decode(e)?;
            let person = registry.person(person_id(e, &a.person_id)?).await?;
            let kind = org::AccidentKind::try_from(a.kind)
                .map(|k| word(k.as_str_name(), "ACCIDENT_KIND_"))
                .unwrap_or_else(|_| "unspecified".to_owned());
            json!({
                "reportId": a.report_id,
                "personId": a.person_id,
                "worker": real_name(person.as_ref()),
                "accidentOn": a.accident_on,
                "platform": a.platform,
                "kind": kind,
                "reportedOn": a.reported_on,
            })
        }
        _ => {
            return Err(CommandError::Internal(
                format!("no partner mapping for {}", e.event_type).into(),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every type a partner may receive has its published schema and is
    /// named in the AsyncAPI document.
    #[test]
    fn every_entitlement_is_published() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/integration");
        let asyncapi = std::fs::read_to_string(docs.join("asyncapi.yaml")).unwrap_or_default();
        for e in CATALOGUE {
            let t = e.cloud_type();
            assert!(
                docs.join("schemas").join(format!("{t}.json")).is_file(),
                "no schema for {t}"
            );
            assert!(
                asyncapi.contains(&format!("name: {t}")),
                "{t} is not in asyncapi.yaml"
            );
            assert!(SOURCES.contains(&e.context));
        }
    }
}
