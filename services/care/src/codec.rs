//! Helpers for decoding stored payloads.

use chrono::NaiveDate;
use hongxin_domain::DecodeError;
use uuid::Uuid;

pub(crate) fn id(event_type: &str, raw: &str) -> Result<Uuid, DecodeError> {
    Uuid::parse_str(raw)
        .map_err(|_| DecodeError::malformed(event_type, format!("{raw:?} is not a UUID")))
}

pub(crate) fn optional_id(event_type: &str, raw: &str) -> Result<Option<Uuid>, DecodeError> {
    if raw.is_empty() {
        Ok(None)
    } else {
        id(event_type, raw).map(Some)
    }
}

pub(crate) fn day(event_type: &str, raw: &str) -> Result<NaiveDate, DecodeError> {
    hongxin_domain::time::parse_day(raw)
        .ok_or_else(|| DecodeError::malformed(event_type, format!("{raw:?} is not a day")))
}

pub(crate) fn optional_day(event_type: &str, raw: &str) -> Result<Option<NaiveDate>, DecodeError> {
    if raw.is_empty() {
        Ok(None)
    } else {
        day(event_type, raw).map(Some)
    }
}

pub(crate) fn bad(event_type: &str) -> impl Fn(prost::DecodeError) -> DecodeError + '_ {
    move |e| DecodeError::malformed(event_type, e)
}
