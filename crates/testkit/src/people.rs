//! Test data for the people registry.

/// A valid resident ID number of 齐河县 (371425) born on `birth`
/// ("YYYYMMDD") with sequence `seq`, its check character computed per
/// GB 11643.
pub fn id_number(birth: &str, seq: u16) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let body = format!("371425{birth}{seq:03}");
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{body}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_check_character_follows_the_standard() {
        // The weighted sum of 37142519900101001 is 231 = 21 × 11: the
        // remainder 0 gives the check character '1'.
        assert_eq!(super::id_number("19900101", 1), "371425199001010011");
    }
}
