//! Checks for free text from people: Chinese first-class, counted in
//! characters, never control characters.

use crate::FieldViolation;

/// The trimmed text if it is 1 to `max_chars` characters with no control
/// characters; otherwise what is wrong, for a field violation.
pub fn check_text(raw: &str, max_chars: usize) -> Result<&str, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if text.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(text)
}

/// [`check_text`] as a list of violations of `field` (empty when fine).
pub fn text_violations(field: &str, raw: &str, max_chars: usize) -> Vec<FieldViolation> {
    match check_text(raw, max_chars) {
        Ok(_) => Vec::new(),
        Err(description) => vec![FieldViolation::new(field, description)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(check_text(" 齐河县 ", 3), Ok("齐河县"));
        assert!(check_text("齐河县城", 3).is_err());
        assert!(check_text("  ", 3).is_err());
        assert!(check_text("a\u{7}b", 3).is_err());
        assert_eq!(text_violations("name", "", 3)[0].field, "name");
    }
}
