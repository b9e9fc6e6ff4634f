//! Cell values as partners write them: dates in the forms Chinese offices
//! use, amounts in yuan turned into whole fen exactly (decimal text, never
//! floating point), statuses in Chinese or English.

use chrono::NaiveDate;

/// A day written "2022-03-01", "2022/3/1", "2022.3.1", "2022年3月1日" or
/// "20220301".
pub fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    let text = raw.trim();
    let bad = || format!("日期格式不正确 (malformed date): {text:?}");
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(text, "%Y%m%d").map_err(|_| bad());
    }
    let normalised: String = text
        .trim_end_matches('日')
        .chars()
        .map(|c| match c {
            '/' | '.' | '年' | '月' => '-',
            c => c,
        })
        .collect();
    let parts: Vec<&str> = normalised.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let number = |s: &str, max_len: usize| -> Option<u32> {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (number(y, 4), number(m, 2), number(d, 2)) {
        (Some(y), Some(m), Some(d)) if y >= 1900 => {
            NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

/// Largest amount a row may carry, in yuan: ¥1 million.
const MAX_YUAN: i64 = 1_000_000;

/// "1,234.5", "¥1234.50", "1234元" → 123450 fen. At most two decimals;
/// the arithmetic is on the digits, so no amount is rounded.
pub fn yuan_to_fen(raw: &str) -> Result<i64, String> {
    let text = raw.trim();
    let bad = |why: &str| format!("金额不正确 (bad amount): {why}");
    let digits: String = text
        .trim_start_matches(['¥', '￥'])
        .trim_end_matches('元')
        .chars()
        .filter(|c| !matches!(c, ',' | '，' | ' '))
        .collect();
    if digits.is_empty() {
        return Err(bad("empty"));
    }
    if digits.starts_with('-') {
        return Err(bad("must not be negative"));
    }
    let (whole, fraction) = digits.split_once('.').unwrap_or((&digits, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad("must be a number of yuan, e.g. 1500.00"));
    }
    if fraction.len() > 2 {
        return Err(bad("at most two decimals (fen)"));
    }
    if whole.len() > 7 {
        return Err(bad("at most ¥1,000,000"));
    }
    let yuan: i64 = whole.parse().map_err(|_| bad("too large"))?;
    let fen: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad("fen"))?;
    let total = yuan * 100 + fen;
    if total > MAX_YUAN * 100 {
        return Err(bad("at most ¥1,000,000"));
    }
    Ok(total)
}

/// Finds `raw` among each status's Chinese and English names.
pub fn parse_status<T: Copy>(raw: &str, names: &[(T, &[&str])]) -> Result<T, String> {
    let wanted = normalise(raw);
    names
        .iter()
        .find(|(_, aliases)| aliases.iter().any(|a| normalise(a) == wanted))
        .map(|(status, _)| *status)
        .ok_or_else(|| {
            let known: Vec<&str> = names
                .iter()
                .filter_map(|(_, a)| a.first().copied())
                .collect();
            format!(
                "状态不认识 (unknown status) {:?}; one of {}",
                raw.trim(),
                known.join("、")
            )
        })
}

/// Case, spaces, underscores and full-width brackets do not distinguish
/// names.
pub(crate) fn normalise(raw: &str) -> String {
    raw.trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_the_forms_offices_write() {
        let day = NaiveDate::from_ymd_opt(2022, 3, 1);
        for raw in [
            "2022-03-01",
            "2022/3/1",
            "2022.03.01",
            "2022年3月1日",
            "20220301",
        ] {
            assert_eq!(parse_date(raw).ok(), day, "{raw}");
        }
        for raw in [
            "2022-02-30",
            "22-3-1",
            "2022-3",
            "明天",
            "",
            "2022-3-1-1",
            "20221301",
        ] {
            assert!(parse_date(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn yuan_become_fen_exactly() {
        assert_eq!(yuan_to_fen("1500"), Ok(150_000));
        assert_eq!(yuan_to_fen("1,234.5"), Ok(123_450));
        assert_eq!(yuan_to_fen("¥0.07"), Ok(7));
        assert_eq!(yuan_to_fen("￥1234.56元"), Ok(123_456));
        // 0.1 + 0.2 in floating point is not 0.3; in digits it is.
        assert_eq!(yuan_to_fen("0.30"), Ok(30));
        assert_eq!(yuan_to_fen("1000000"), Ok(100_000_000));
        for raw in [
            "1.234",
            "-5",
            "abc",
            "",
            "1000000.01",
            "99999999",
            ".5",
            "1e3",
        ] {
            assert!(yuan_to_fen(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn statuses_by_any_of_their_names() {
        let names: &[(u8, &[&str])] = &[(1, &["已支付", "paid"]), (2, &["不予支付", "refused"])];
        assert_eq!(parse_status(" PAID ", names), Ok(1));
        assert_eq!(parse_status("不予支付", names), Ok(2));
        let err = parse_status("unknown", names).err().unwrap_or_default();
        assert!(err.contains("已支付、不予支付"), "{err}");
    }
}
