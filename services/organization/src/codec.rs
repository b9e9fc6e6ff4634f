//! Helpers for decoding the context's stored event payloads.

use hongxin_domain::DecodeError;
use uuid::Uuid;

pub(crate) fn malformed(event_type: &str, reason: impl std::fmt::Display) -> DecodeError {
    DecodeError::malformed(event_type, reason)
}

/// A UUID field of a stored payload.
pub(crate) fn decode_id(event_type: &str, raw: &str) -> Result<Uuid, DecodeError> {
    Uuid::parse_str(raw).map_err(|_| malformed(event_type, format!("{raw:?} is not a UUID")))
}

/// An optional UUID field (empty string = none).
pub(crate) fn decode_optional_id(event_type: &str, raw: &str) -> Result<Option<Uuid>, DecodeError> {
    if raw.is_empty() {
        Ok(None)
    } else {
        decode_id(event_type, raw).map(Some)
    }
}
