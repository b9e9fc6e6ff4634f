//! A partner's file as a table of text cells: CSV in UTF-8 (with or without
//! a byte-order mark) or GBK/GB18030, or an Excel workbook's first sheet.

use calamine::{Data, Reader as _};
use chrono::{Days, NaiveDate};

/// Why a file could not be read at all (as opposed to a bad row).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(
        "the file is neither UTF-8 nor GBK/GB18030 text; save it as CSV UTF-8 or as an Excel workbook"
    )]
    UnknownEncoding,
    #[error("the file is UTF-16 text; save it as CSV UTF-8 or as an Excel workbook")]
    Utf16,
    #[error("the CSV file cannot be read: {0}")]
    Csv(#[from] csv::Error),
    #[error("the Excel workbook cannot be read: {0}")]
    Workbook(String),
    #[error("the file has no header row")]
    Empty,
    #[error("the header row lacks the column {0}")]
    MissingColumn(String),
    #[error("the column {0} appears twice in the header row")]
    RepeatedColumn(String),
}

/// Which encoding a text file turned out to be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf8WithBom,
    Gb18030,
}

/// Decodes a text file: a UTF-8 byte-order mark is dropped; valid UTF-8 is
/// taken as it is (checked strictly first, since GB18030 would decode most
/// UTF-8 bytes into the wrong characters); otherwise GB18030, the superset
/// of GBK that Chinese office software writes. Bytes that are neither are
/// refused rather than guessed.
pub fn decode_text(bytes: &[u8]) -> Result<(String, Encoding), FileError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest)
            .map(|s| (s.to_owned(), Encoding::Utf8WithBom))
            .map_err(|_| FileError::UnknownEncoding);
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(FileError::Utf16);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((text.to_owned(), Encoding::Utf8));
    }
    encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .filter(|text| !text.contains('\0'))
        .map(|text| (text.into_owned(), Encoding::Gb18030))
        .ok_or(FileError::UnknownEncoding)
}

/// A file's header and rows, every cell as trimmed text. `line` is the row's
/// number as a spreadsheet shows it (the header is line 1).
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Whether the file is an Excel workbook (a ZIP container), by its first
/// bytes rather than its name.
pub fn is_workbook(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// Reads CSV text or a workbook, whichever the bytes are.
pub fn read(bytes: &[u8]) -> Result<(Table, Option<Encoding>), FileError> {
    if is_workbook(bytes) {
        return read_workbook(bytes).map(|t| (t, None));
    }
    let (text, encoding) = decode_text(bytes)?;
    read_csv(&text).map(|t| (t, Some(encoding)))
}

fn read_csv(text: &str) -> Result<Table, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut table = Table::default();
    for (i, record) in reader.records().enumerate() {
        let cells: Vec<String> = record?.iter().map(|c| c.trim().to_owned()).collect();
        if i == 0 {
            table.headers = cells;
        } else if cells.iter().any(|c| !c.is_empty()) {
            table.rows.push((i + 1, cells));
        }
    }
    if table.headers.iter().all(String::is_empty) {
        return Err(FileError::Empty);
    }
    Ok(table)
}

fn read_workbook(bytes: &[u8]) -> Result<Table, FileError> {
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes.to_vec()))
        .map_err(|e| FileError::Workbook(e.to_string()))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or(FileError::Empty)?
        .map_err(|e| FileError::Workbook(e.to_string()))?;
    let mut table = Table::default();
    for (i, row) in range.rows().enumerate() {
        let cells: Vec<String> = row.iter().map(cell_text).collect();
        if i == 0 {
            table.headers = cells;
        } else if cells.iter().any(|c| !c.is_empty()) {
            table
                .rows
                .push((range.start().map_or(0, |(r, _)| r as usize) + i + 1, cells));
        }
    }
    if table.headers.iter().all(String::is_empty) {
        return Err(FileError::Empty);
    }
    Ok(table)
}

/// Marks a number too long for Excel's 15 significant digits: an ID number
/// typed into a number cell has already lost its last digits.
pub(crate) const LOST_DIGITS: &str = "\u{1}number";

/// A cell as text. Whole numbers are written without a decimal point;
/// dates as "YYYY-MM-DD" (from Excel's day count since 1899-12-30).
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.trim().to_owned(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Data::Float(f) if f.abs() >= 1e15 => LOST_DIGITS.to_owned(),
        // Amounts typed as numbers: two decimals is what yuan carry; a
        // third decimal shows and is refused by the amount's check.
        Data::Float(f) => {
            let text = format!("{f:.3}");
            text.strip_suffix('0').map_or(text.clone(), str::to_owned)
        }
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => excel_day(d.as_f64())
            .map(hongxin_domain::time::format_day)
            .unwrap_or_default(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

fn excel_day(serial: f64) -> Option<NaiveDate> {
    if !(1.0..=2_958_465.0).contains(&serial) {
        return None;
    }
    NaiveDate::from_ymd_opt(1899, 12, 30)?.checked_add_days(Days::new(serial.floor() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_and_without_a_bom_and_gbk_are_read() {
        let text = "姓名,身份证号\n张三,110105194912310020\n";
        let (t, e) = decode_text(text.as_bytes()).expect("utf-8");
        assert_eq!((t.as_str(), e), (text, Encoding::Utf8));
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(
            decode_text(&bom).expect("bom"),
            (text.to_owned(), Encoding::Utf8WithBom)
        );
        let (gbk, _, unmappable) = encoding_rs::GBK.encode(text);
        assert!(!unmappable);
        assert!(
            std::str::from_utf8(&gbk).is_err(),
            "GBK bytes are not UTF-8"
        );
        assert_eq!(
            decode_text(&gbk).expect("gbk"),
            (text.to_owned(), Encoding::Gb18030)
        );
    }

    #[test]
    fn what_cannot_be_decoded_is_refused() {
        // 0xFF is no GB18030 lead byte, nor UTF-8.
        assert!(matches!(
            decode_text(b"a,b\n\xFF\n"),
            Err(FileError::UnknownEncoding)
        ));
        assert!(matches!(decode_text(b"\xFF\xFEa\0"), Err(FileError::Utf16)));
        // A BOM followed by bytes that are not UTF-8.
        assert!(matches!(
            decode_text(b"\xEF\xBB\xBF\xC4\xE3"),
            Err(FileError::UnknownEncoding)
        ));
    }

    #[test]
    fn csv_rows_keep_their_line_numbers_and_skip_blank_lines() {
        let (t, _) = read("a,b\n1,2\n,\n 3 , 4 \n".as_bytes()).expect("csv");
        assert_eq!(t.headers, ["a", "b"]);
        assert_eq!(
            t.rows,
            vec![
                (2, vec!["1".to_owned(), "2".to_owned()]),
                (4, vec!["3".to_owned(), "4".to_owned()])
            ]
        );
        assert!(matches!(read(b""), Err(FileError::Empty)));
    }

    #[test]
    fn excel_days_count_from_1899_12_30() {
        assert_eq!(excel_day(45_000.0), NaiveDate::from_ymd_opt(2023, 3, 15));
        assert_eq!(excel_day(0.0), None);
    }
}
