//! Supplies campaigns such as summer cooling 夏送清凉: stock in at a unit
//! value in fen, hand-outs to workers or stations; stock never goes below
//! zero and every value is exact.

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::care::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::codec::{bad, day, id};

/// Most units one stock-in or hand-out moves.
pub const MAX_QUANTITY: i64 = 10_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    pub campaign_id: Uuid,
    pub name: String,
    pub item: String,
    pub unit_value_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Open(Opening),
    StockIn {
        quantity: i64,
        on: NaiveDate,
    },
    HandOut {
        recipient: Uuid,
        to_station: bool,
        quantity: i64,
        on: NaiveDate,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Opened(Opening),
    Stocked {
        campaign_id: Uuid,
        quantity: i64,
        on: NaiveDate,
    },
    HandedOut {
        campaign_id: Uuid,
        recipient: Uuid,
        to_station: bool,
        quantity: i64,
        value_fen: i64,
        on: NaiveDate,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Campaign {
    pub opening: Opening,
    pub stock: i64,
    pub handed_out: i64,
    pub value_handed_out_fen: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Campaign>);

#[derive(Clone, Copy, Debug, Default)]
pub struct CampaignDecider;

impl Decider for CampaignDecider {
    type State = State;
    type Command = Command;
    type Event = Event;
    const CATEGORY: &'static str = "campaign";

    fn decide(
        &self,
        state: &State,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CommandError> {
        let today = beijing_today(now);
        if let Command::Open(o) = command {
            let mut v = text_violations("name", &o.name, 100);
            v.extend(text_violations("item", &o.item, 100));
            if !(1..=100_000_000).contains(&o.unit_value_fen) {
                v.push(FieldViolation::new(
                    "unit_value_fen",
                    "1 to 100000000 fen (¥1 million) a unit",
                ));
            }
            if !v.is_empty() {
                return Err(CommandError::Invalid(v));
            }
            let clean = Opening {
                name: o.name.trim().to_owned(),
                item: o.item.trim().to_owned(),
                ..o.clone()
            };
            return match &state.0 {
                None => Ok(vec![Event::Opened(clean)]),
                Some(c) if c.opening == clean => Ok(vec![]),
                Some(_) => Err(CommandError::rejected(format!(
                    "campaign {} is already open with other terms",
                    o.campaign_id
                ))),
            };
        }
        let c = state
            .0
            .as_ref()
            .ok_or_else(|| CommandError::not_found("no such campaign"))?;
        let campaign_id = c.opening.campaign_id;
        let check = |quantity: i64, on: NaiveDate| {
            let mut v = Vec::new();
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                v.push(FieldViolation::new("quantity", "1 to 10000000 units"));
            }
            if on > today {
                v.push(FieldViolation::new("on", "must not be in the future"));
            }
            if v.is_empty() {
                Ok(())
            } else {
                Err(CommandError::Invalid(v))
            }
        };
        match command {
            Command::Open(_) => unreachable!("handled above"),
            Command::StockIn { quantity, on } => {
                check(*quantity, *on)?;
                Ok(vec![Event::Stocked {
                    campaign_id,
                    quantity: *quantity,
                    on: *on,
                }])
            }
            Command::HandOut {
                recipient,
                to_station,
                quantity,
                on,
            } => {
                check(*quantity, *on)?;
                if *quantity > c.stock {
                    return Err(CommandError::rejected(format!(
                        "{} in stock; cannot hand out {quantity}",
                        c.stock
                    )));
                }
                Ok(vec![Event::HandedOut {
                    campaign_id,
                    recipient: *recipient,
                    to_station: *to_station,
                    quantity: *quantity,
                    value_fen: quantity * c.opening.unit_value_fen,
                    on: *on,
                }])
            }
        }
    }

    fn evolve(&self, state: State, event: &Event) -> State {
        match event {
            Event::Opened(o) => State(Some(Campaign {
                opening: o.clone(),
                stock: 0,
                handed_out: 0,
                value_handed_out_fen: 0,
            })),
            Event::Stocked { quantity, .. } => State(state.0.map(|mut c| {
                c.stock += quantity;
                c
            })),
            Event::HandedOut {
                quantity,
                value_fen,
                ..
            } => State(state.0.map(|mut c| {
                c.stock -= quantity;
                c.handed_out += quantity;
                c.value_handed_out_fen += value_fen;
                c
            })),
        }
    }
}

impl Campaign {
    pub fn to_wire(&self, version: u64) -> pb::Campaign {
        pb::Campaign {
            campaign_id: self.opening.campaign_id.to_string(),
            name: self.opening.name.clone(),
            item: self.opening.item.clone(),
            unit_value_fen: self.opening.unit_value_fen,
            stock: self.stock,
            handed_out: self.handed_out,
            value_handed_out_fen: self.value_handed_out_fen,
            version,
        }
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Opened(_) => "CampaignOpened",
            Self::Stocked { .. } => "CampaignStocked",
            Self::HandedOut { .. } => "CampaignHandedOut",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Opened(o) => pb::CampaignOpened {
                campaign_id: o.campaign_id.to_string(),
                name: o.name.clone(),
                item: o.item.clone(),
                unit_value_fen: o.unit_value_fen,
            }
            .encode_to_vec(),
            Self::Stocked {
                campaign_id,
                quantity,
                on,
            } => pb::CampaignStocked {
                campaign_id: campaign_id.to_string(),
                quantity: *quantity,
                on: format_day(*on),
            }
            .encode_to_vec(),
            Self::HandedOut {
                campaign_id,
                recipient,
                to_station,
                quantity,
                value_fen,
                on,
            } => pb::CampaignHandedOut {
                campaign_id: campaign_id.to_string(),
                recipient_id: recipient.to_string(),
                to_station: *to_station,
                quantity: *quantity,
                value_fen: *value_fen,
                on: format_day(*on),
            }
            .encode_to_vec(),
        }
    }

    fn decode(t: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        match (t, version) {
            ("CampaignOpened", 1) => {
                let e = pb::CampaignOpened::decode(payload).map_err(bad(t))?;
                Ok(Self::Opened(Opening {
                    campaign_id: id(t, &e.campaign_id)?,
                    name: e.name,
                    item: e.item,
                    unit_value_fen: e.unit_value_fen,
                }))
            }
            ("CampaignStocked", 1) => {
                let e = pb::CampaignStocked::decode(payload).map_err(bad(t))?;
                Ok(Self::Stocked {
                    campaign_id: id(t, &e.campaign_id)?,
                    quantity: e.quantity,
                    on: day(t, &e.on)?,
                })
            }
            ("CampaignHandedOut", 1) => {
                let e = pb::CampaignHandedOut::decode(payload).map_err(bad(t))?;
                Ok(Self::HandedOut {
                    campaign_id: id(t, &e.campaign_id)?,
                    recipient: id(t, &e.recipient_id)?,
                    to_station: e.to_station,
                    quantity: e.quantity,
                    value_fen: e.value_fen,
                    on: day(t, &e.on)?,
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

    fn opened() -> Event {
        Event::Opened(Opening {
            campaign_id: Uuid::from_u128(1),
            name: "夏送清凉".into(),
            item: "防暑降温包".into(),
            unit_value_fen: 3_550,
        })
    }

    fn on() -> NaiveDate {
        NaiveDate::from_ymd_opt(2022, 5, 20).unwrap_or_default()
    }

    #[test]
    fn stock_never_goes_negative_and_values_are_exact() {
        let stocked = Event::Stocked {
            campaign_id: Uuid::from_u128(1),
            quantity: 10,
            on: on(),
        };
        given(CampaignDecider, [opened(), stocked.clone()])
            .when(Command::HandOut {
                recipient: Uuid::from_u128(7),
                to_station: true,
                quantity: 11,
                on: on(),
            })
            .then_rejected("10 in stock");
        let state = given(CampaignDecider, [opened(), stocked])
            .when(Command::HandOut {
                recipient: Uuid::from_u128(7),
                to_station: true,
                quantity: 10,
                on: on(),
            })
            .then([Event::HandedOut {
                campaign_id: Uuid::from_u128(1),
                recipient: Uuid::from_u128(7),
                to_station: true,
                quantity: 10,
                value_fen: 35_500,
                on: on(),
            }]);
        let c = state.0.expect("campaign");
        assert_eq!((c.stock, c.value_handed_out_fen), (0, 35_500));
    }

    #[test]
    fn absurd_quantities_and_values_are_refused() {
        given(CampaignDecider, [opened()])
            .when(Command::StockIn {
                quantity: -5,
                on: on(),
            })
            .then_invalid("quantity");
        given(CampaignDecider, [])
            .when(Command::Open(Opening {
                campaign_id: Uuid::from_u128(1),
                name: "夏送清凉".into(),
                item: "水".into(),
                unit_value_fen: 0,
            }))
            .then_invalid("unit_value_fen");
    }
}
