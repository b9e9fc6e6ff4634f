//! The service centre 服务中心: a catalogue of items, each answered by a
//! partner department with a promised turnaround, and workers' requests
//! through it: filed → accepted → completed, or declined with a reason;
//! rated by the worker once closed.

use chrono::{DateTime, Days, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::care::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{bad, day, id, optional_day};

// ---- Catalogue ---------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub item_id: Uuid,
    pub name: String,
    pub department: String,
    pub function: String,
    pub turnaround_days: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemCommand {
    Define(Item),
    Retire,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemEvent {
    Defined(Item),
    Retired { item_id: Uuid },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemState(pub Option<(Item, bool)>);

#[derive(Clone, Copy, Debug, Default)]
pub struct ItemDecider;

impl Decider for ItemDecider {
    type State = ItemState;
    type Command = ItemCommand;
    type Event = ItemEvent;
    const CATEGORY: &'static str = "catalogue_item";

    fn decide(
        &self,
        state: &ItemState,
        command: &ItemCommand,
        _now: DateTime<Utc>,
    ) -> Result<Vec<ItemEvent>, CommandError> {
        match command {
            ItemCommand::Define(item) => {
                let mut v = text_violations("name", &item.name, 100);
                v.extend(text_violations("department", &item.department, 50));
                v.extend(text_violations("function", &item.function, 50));
                if !(1..=365).contains(&item.turnaround_days) {
                    v.push(FieldViolation::new("turnaround_days", "1 to 365 days"));
                }
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                let clean = Item {
                    name: item.name.trim().to_owned(),
                    department: item.department.trim().to_owned(),
                    function: item.function.trim().to_owned(),
                    ..item.clone()
                };
                match &state.0 {
                    None => Ok(vec![ItemEvent::Defined(clean)]),
                    Some((existing, _)) if *existing == clean => Ok(vec![]),
                    Some(_) => Err(CommandError::rejected(format!(
                        "catalogue item {} is already defined differently",
                        item.item_id
                    ))),
                }
            }
            ItemCommand::Retire => match &state.0 {
                None => Err(CommandError::not_found("no such catalogue item")),
                Some((_, true)) => Ok(vec![]),
                Some((item, false)) => Ok(vec![ItemEvent::Retired {
                    item_id: item.item_id,
                }]),
            },
        }
    }

    fn evolve(&self, state: ItemState, event: &ItemEvent) -> ItemState {
        match event {
            ItemEvent::Defined(item) => ItemState(Some((item.clone(), false))),
            ItemEvent::Retired { .. } => ItemState(state.0.map(|(i, _)| (i, true))),
        }
    }
}

impl DomainEvent for ItemEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Defined(_) => "CatalogueItemDefined",
            Self::Retired { .. } => "CatalogueItemRetired",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Defined(i) => pb::CatalogueItemDefined {
                item_id: i.item_id.to_string(),
                name: i.name.clone(),
                department: i.department.clone(),
                function: i.function.clone(),
                turnaround_days: i.turnaround_days,
            }
            .encode_to_vec(),
            Self::Retired { item_id } => pb::CatalogueItemRetired {
                item_id: item_id.to_string(),
            }
            .encode_to_vec(),
        }
    }

    fn decode(t: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        match (t, version) {
            ("CatalogueItemDefined", 1) => {
                let e = pb::CatalogueItemDefined::decode(payload).map_err(bad(t))?;
                Ok(Self::Defined(Item {
                    item_id: id(t, &e.item_id)?,
                    name: e.name,
                    department: e.department,
                    function: e.function,
                    turnaround_days: e.turnaround_days,
                }))
            }
            ("CatalogueItemRetired", 1) => {
                let e = pb::CatalogueItemRetired::decode(payload).map_err(bad(t))?;
                Ok(Self::Retired {
                    item_id: id(t, &e.item_id)?,
                })
            }
            _ => Err(DecodeError::unknown(t, version)),
        }
    }
}

impl ItemState {
    pub fn to_wire(&self, version: u64) -> Option<pb::CatalogueItem> {
        self.0.as_ref().map(|(i, retired)| pb::CatalogueItem {
            item_id: i.item_id.to_string(),
            name: i.name.clone(),
            department: i.department.clone(),
            function: i.function.clone(),
            turnaround_days: i.turnaround_days,
            retired: *retired,
            version,
        })
    }
}

// ---- Requests ----------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestState {
    Filed,
    Accepted,
    Completed,
    Declined,
}

impl RequestState {
    fn to_wire(self) -> pb::RequestState {
        match self {
            Self::Filed => pb::RequestState::Filed,
            Self::Accepted => pb::RequestState::Accepted,
            Self::Completed => pb::RequestState::Completed,
            Self::Declined => pb::RequestState::Declined,
        }
    }

    fn from_wire(raw: i32) -> Option<Self> {
        match pb::RequestState::try_from(raw).ok()? {
            pb::RequestState::Filed => Some(Self::Filed),
            pb::RequestState::Accepted => Some(Self::Accepted),
            pb::RequestState::Completed => Some(Self::Completed),
            pb::RequestState::Declined => Some(Self::Declined),
            pb::RequestState::Unspecified => None,
        }
    }

    fn closed(self) -> bool {
        matches!(self, Self::Completed | Self::Declined)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filing {
    pub request_id: Uuid,
    pub item_id: Uuid,
    pub person_id: Uuid,
    pub department: String,
    pub text: String,
    pub filed_on: NaiveDate,
    pub due_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestCommand {
    /// The item's department and turnaround come from the catalogue.
    File {
        request_id: Uuid,
        item: Item,
        person_id: Uuid,
        text: String,
        filed_on: NaiveDate,
    },
    Progress {
        to: RequestState,
        on: NaiveDate,
        note: String,
    },
    /// A note while working on it.
    Note {
        on: NaiveDate,
        note: String,
    },
    Rate {
        rating: u32,
        comment: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestEvent {
    Filed(Filing),
    Progressed {
        request_id: Uuid,
        state: RequestState,
        on: NaiveDate,
        note: String,
    },
    Rated {
        request_id: Uuid,
        rating: u32,
        comment: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub filing: Filing,
    pub state: RequestState,
    pub closed_on: Option<NaiveDate>,
    pub rating: u32,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestStateView(pub Option<Request>);

#[derive(Clone, Copy, Debug, Default)]
pub struct RequestDecider;

impl Decider for RequestDecider {
    type State = RequestStateView;
    type Command = RequestCommand;
    type Event = RequestEvent;
    const CATEGORY: &'static str = "service_request";

    fn decide(
        &self,
        state: &RequestStateView,
        command: &RequestCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<RequestEvent>, CommandError> {
        let today = beijing_today(now);
        match command {
            RequestCommand::File {
                request_id,
                item,
                person_id,
                text,
                filed_on,
            } => {
                let mut v = text_violations("text", text, 2000);
                if *filed_on > today {
                    v.push(FieldViolation::new("filed_on", "must not be in the future"));
                }
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                let filing = Filing {
                    request_id: *request_id,
                    item_id: item.item_id,
                    person_id: *person_id,
                    department: item.department.clone(),
                    text: text.trim().to_owned(),
                    filed_on: *filed_on,
                    due_on: *filed_on + Days::new(u64::from(item.turnaround_days)),
                };
                match &state.0 {
                    None => Ok(vec![RequestEvent::Filed(filing)]),
                    Some(r) if r.filing == filing => Ok(vec![]),
                    Some(_) => Err(CommandError::rejected(format!(
                        "request {request_id} is already filed differently"
                    ))),
                }
            }
            RequestCommand::Progress { to, on, note } => {
                let r = state
                    .0
                    .as_ref()
                    .ok_or_else(|| CommandError::not_found("no such request"))?;
                if *on > today || *on < r.filing.filed_on {
                    return Err(CommandError::invalid(
                        "on",
                        "must fall between the filing and today",
                    ));
                }
                if r.state == *to {
                    return Ok(vec![]);
                }
                let allowed = matches!(
                    (r.state, to),
                    (RequestState::Filed, RequestState::Accepted)
                        | (
                            RequestState::Filed | RequestState::Accepted,
                            RequestState::Declined
                        )
                        | (RequestState::Accepted, RequestState::Completed)
                );
                if !allowed {
                    return Err(CommandError::rejected(format!(
                        "a request that is {:?} cannot become {:?}",
                        r.state, to
                    )));
                }
                if *to == RequestState::Declined && note.trim().is_empty() {
                    return Err(CommandError::invalid("note", "a declined request says why"));
                }
                if note.chars().count() > 1000 {
                    return Err(CommandError::invalid("note", "at most 1000 characters"));
                }
                Ok(vec![RequestEvent::Progressed {
                    request_id: r.filing.request_id,
                    state: *to,
                    on: *on,
                    note: note.trim().to_owned(),
                }])
            }
            RequestCommand::Note { on, note } => {
                let r = state
                    .0
                    .as_ref()
                    .ok_or_else(|| CommandError::not_found("no such request"))?;
                let v = text_violations("note", note, 1000);
                if !v.is_empty() {
                    return Err(CommandError::Invalid(v));
                }
                if r.state != RequestState::Accepted {
                    return Err(CommandError::rejected(
                        "notes are kept while the request is in hand",
                    ));
                }
                Ok(vec![RequestEvent::Progressed {
                    request_id: r.filing.request_id,
                    state: RequestState::Accepted,
                    on: *on,
                    note: note.trim().to_owned(),
                }])
            }
            RequestCommand::Rate { rating, comment } => {
                let r = state
                    .0
                    .as_ref()
                    .ok_or_else(|| CommandError::not_found("no such request"))?;
                if !(1..=5).contains(rating) {
                    return Err(CommandError::invalid("rating", "1 to 5"));
                }
                if comment.chars().count() > 500 {
                    return Err(CommandError::invalid("comment", "at most 500 characters"));
                }
                if !r.state.closed() {
                    return Err(CommandError::rejected(
                        "a request is rated once it is closed",
                    ));
                }
                if r.rating != 0 {
                    return Err(CommandError::rejected("the request is already rated"));
                }
                Ok(vec![RequestEvent::Rated {
                    request_id: r.filing.request_id,
                    rating: *rating,
                    comment: comment.trim().to_owned(),
                }])
            }
        }
    }

    fn evolve(&self, state: RequestStateView, event: &RequestEvent) -> RequestStateView {
        match event {
            RequestEvent::Filed(f) => RequestStateView(Some(Request {
                filing: f.clone(),
                state: RequestState::Filed,
                closed_on: None,
                rating: 0,
                notes: Vec::new(),
            })),
            RequestEvent::Progressed {
                state: s, on, note, ..
            } => RequestStateView(state.0.map(|mut r| {
                r.state = *s;
                if s.closed() {
                    r.closed_on = Some(*on);
                }
                if !note.is_empty() {
                    r.notes.push(note.clone());
                }
                r
            })),
            RequestEvent::Rated { rating, .. } => RequestStateView(state.0.map(|mut r| {
                r.rating = *rating;
                r
            })),
        }
    }
}

impl Request {
    pub fn to_wire(&self, version: u64, today: NaiveDate) -> pb::ServiceRequest {
        let f = &self.filing;
        pb::ServiceRequest {
            request_id: f.request_id.to_string(),
            item_id: f.item_id.to_string(),
            person_id: f.person_id.to_string(),
            department: f.department.clone(),
            state: self.state.to_wire() as i32,
            filed_on: format_day(f.filed_on),
            due_on: format_day(f.due_on),
            overdue: self.closed_on.unwrap_or(today) > f.due_on
                && self.state != RequestState::Declined,
            closed_on: self.closed_on.map(format_day).unwrap_or_default(),
            rating: self.rating,
            notes: self.notes.clone(),
            version,
        }
    }
}

impl DomainEvent for RequestEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Filed(_) => "ServiceRequestFiled",
            Self::Progressed { .. } => "ServiceRequestProgressed",
            Self::Rated { .. } => "ServiceRequestRated",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Filed(f) => pb::ServiceRequestFiled {
                request_id: f.request_id.to_string(),
                item_id: f.item_id.to_string(),
                person_id: f.person_id.to_string(),
                department: f.department.clone(),
                filed_on: format_day(f.filed_on),
                due_on: format_day(f.due_on),
                text: f.text.clone(),
            }
            .encode_to_vec(),
            Self::Progressed {
                request_id,
                state,
                on,
                note,
            } => pb::ServiceRequestProgressed {
                request_id: request_id.to_string(),
                state: state.to_wire() as i32,
                on: format_day(*on),
                note: note.clone(),
            }
            .encode_to_vec(),
            Self::Rated {
                request_id,
                rating,
                comment,
            } => pb::ServiceRequestRated {
                request_id: request_id.to_string(),
                rating: *rating,
                comment: comment.clone(),
            }
            .encode_to_vec(),
        }
    }

    fn decode(t: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        match (t, version) {
            ("ServiceRequestFiled", 1) => {
                let e = pb::ServiceRequestFiled::decode(payload).map_err(bad(t))?;
                Ok(Self::Filed(Filing {
                    request_id: id(t, &e.request_id)?,
                    item_id: id(t, &e.item_id)?,
                    person_id: id(t, &e.person_id)?,
                    department: e.department,
                    text: e.text,
                    filed_on: day(t, &e.filed_on)?,
                    due_on: day(t, &e.due_on)?,
                }))
            }
            ("ServiceRequestProgressed", 1) => {
                let e = pb::ServiceRequestProgressed::decode(payload).map_err(bad(t))?;
                Ok(Self::Progressed {
                    request_id: id(t, &e.request_id)?,
                    state: RequestState::from_wire(e.state)
                        .ok_or_else(|| DecodeError::malformed(t, "unknown state"))?,
                    on: optional_day(t, &e.on)?
                        .ok_or_else(|| DecodeError::malformed(t, "no day"))?,
                    note: e.note,
                })
            }
            ("ServiceRequestRated", 1) => {
                let e = pb::ServiceRequestRated::decode(payload).map_err(bad(t))?;
                Ok(Self::Rated {
                    request_id: id(t, &e.request_id)?,
                    rating: e.rating,
                    comment: e.comment,
                })
            }
            _ => Err(DecodeError::unknown(t, version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use hongxin_testkit::given::given;

    use super::*;

    fn item() -> Item {
        Item {
            item_id: Uuid::from_u128(1),
            name: "灵活就业登记".into(),
            department: "县人社局".into(),
            function: "就业服务".into(),
            turnaround_days: 5,
        }
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2022, 5, d).unwrap_or_default()
    }

    fn filed() -> RequestEvent {
        RequestEvent::Filed(Filing {
            request_id: Uuid::from_u128(2),
            item_id: Uuid::from_u128(1),
            person_id: Uuid::from_u128(3),
            department: "县人社局".into(),
            text: "想办理灵活就业登记".into(),
            filed_on: day(2),
            due_on: day(7),
        })
    }

    fn progress(to: RequestState, d: u32, note: &str) -> RequestCommand {
        RequestCommand::Progress {
            to,
            on: day(d),
            note: note.into(),
        }
    }

    #[test]
    fn a_request_is_due_after_the_items_turnaround() {
        given(RequestDecider, [])
            .when(RequestCommand::File {
                request_id: Uuid::from_u128(2),
                item: item(),
                person_id: Uuid::from_u128(3),
                text: " 想办理灵活就业登记 ".into(),
                filed_on: day(2),
            })
            .then([filed()]);
    }

    #[test]
    fn a_request_moves_in_order_and_is_rated_once_closed() {
        let accepted = RequestEvent::Progressed {
            request_id: Uuid::from_u128(2),
            state: RequestState::Accepted,
            on: day(3),
            note: String::new(),
        };
        given(RequestDecider, [filed()])
            .when(progress(RequestState::Completed, 3, ""))
            .then_rejected("cannot become Completed");
        given(RequestDecider, [filed()])
            .when(progress(RequestState::Declined, 3, " "))
            .then_invalid("note");
        given(RequestDecider, [filed()])
            .when(RequestCommand::Rate {
                rating: 5,
                comment: String::new(),
            })
            .then_rejected("once it is closed");
        let completed = RequestEvent::Progressed {
            request_id: Uuid::from_u128(2),
            state: RequestState::Completed,
            on: day(9),
            note: "已办结".into(),
        };
        let state = given(RequestDecider, [filed(), accepted.clone()])
            .when(progress(RequestState::Completed, 9, "已办结"))
            .then([completed.clone()]);
        let r = state.0.expect("request");
        assert!(r.to_wire(3, day(20)).overdue, "completed after the due day");
        given(RequestDecider, [filed(), accepted, completed])
            .when(RequestCommand::Rate {
                rating: 6,
                comment: String::new(),
            })
            .then_invalid("rating");
    }

    #[test]
    fn an_item_has_a_department_and_a_turnaround() {
        given(ItemDecider, [])
            .when(ItemCommand::Define(Item {
                turnaround_days: 0,
                ..item()
            }))
            .then_invalid("turnaround_days");
        given(ItemDecider, [ItemEvent::Defined(item())])
            .when(ItemCommand::Retire)
            .then([ItemEvent::Retired {
                item_id: Uuid::from_u128(1),
            }]);
    }
}
