//! What reading one workbook may cost, at most: rows, columns, cells, inflated bytes, and how
//! much the zip may inflate. A workbook over a limit is refused with an error naming the file,
//! before the cost is paid: the zip's sizes are checked before anything is inflated, a cell
//! beyond the last row or column as soon as it is read, and the table's size before it is built.
//!
//! The defaults let any sheet Excel itself can hold through (1,048,576 rows, 16,384 columns), and
//! `[limits]` in winebuild.toml raises or lowers each one.

use std::io::Cursor;

use serde::Deserialize;

use super::SourceError;

/// Excel's own last row.
pub(crate) const EXCEL_ROWS: u32 = 1_048_576;
/// Excel's own last column (XFD).
pub(crate) const EXCEL_COLUMNS: u32 = 16_384;

/// The most a workbook may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Rows of a sheet, the header included.
    pub(crate) rows: u32,
    pub(crate) columns: u32,
    /// Cells of the table read from a sheet: data rows × columns.
    pub(crate) cells: u64,
    /// Bytes the workbook's zip inflates to, all entries together.
    pub(crate) inflated_bytes: u64,
    /// How many times larger than its compressed size one entry may inflate.
    pub(crate) ratio: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            rows: EXCEL_ROWS,
            columns: EXCEL_COLUMNS,
            cells: 50_000_000,
            inflated_bytes: 2 << 30,
            ratio: 100,
        }
    }
}

/// `[limits]` in winebuild.toml: each one optional, the default otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsDef {
    rows: Option<u32>,
    columns: Option<u32>,
    cells: Option<u64>,
    inflated_mb: Option<u64>,
    ratio: Option<u64>,
}

impl LimitsDef {
    pub(crate) fn limits(self) -> Limits {
        let defaults = Limits::default();
        Limits {
            rows: self.rows.unwrap_or(defaults.rows),
            columns: self.columns.unwrap_or(defaults.columns),
            cells: self.cells.unwrap_or(defaults.cells),
            inflated_bytes: self
                .inflated_mb
                .map_or(defaults.inflated_bytes, |mb| mb.saturating_mul(1 << 20)),
            ratio: self.ratio.unwrap_or(defaults.ratio),
        }
    }
}

/// Which limit a workbook went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    Rows,
    Columns,
    Cells,
    Inflated,
    Ratio,
}

impl Limit {
    /// The setting under `[limits]` that raises it.
    pub(crate) fn setting(self) -> &'static str {
        match self {
            Limit::Rows => "rows",
            Limit::Columns => "columns",
            Limit::Cells => "cells",
            Limit::Inflated => "inflated_mb",
            Limit::Ratio => "ratio",
        }
    }
}

/// Entries smaller than this may inflate as they like: tiny XML parts compress oddly well.
const RATIO_FROM_BYTES: u64 = 1 << 20;

/// Refuses a zip whose entries would inflate past the limits, from the sizes its directory
/// declares (the zip reader never inflates an entry past its declared size); returns the bytes
/// all its entries inflate to. Bytes that are not a zip pass (inflating to 0 bytes): the workbook
/// reader says what is wrong with them.
pub(crate) fn check_zip(file: &str, bytes: &[u8], limits: &Limits) -> Result<u64, SourceError> {
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return Ok(0);
    };
    let too_big = |limit: Limit, found: String, allowed: String| SourceError::TooBig {
        file: file.to_string(),
        limit,
        found,
        allowed,
    };
    let mut inflated: u64 = 0;
    for index in 0..archive.len() {
        let Ok(entry) = archive.by_index_raw(index) else {
            continue;
        };
        let (size, compressed) = (entry.size(), entry.compressed_size().max(1));
        inflated = inflated.saturating_add(size);
        if size >= RATIO_FROM_BYTES && size / compressed > limits.ratio {
            return Err(too_big(
                Limit::Ratio,
                format!(
                    "`{}` inflates {}× (from {} to {})",
                    entry.name().unwrap_or_default(),
                    size / compressed,
                    crate::text::bytes(compressed),
                    crate::text::bytes(size)
                ),
                format!("{}×", limits.ratio),
            ));
        }
    }
    if inflated > limits.inflated_bytes {
        return Err(too_big(
            Limit::Inflated,
            format!("it inflates to {}", crate::text::bytes(inflated)),
            crate::text::bytes(limits.inflated_bytes),
        ));
    }
    Ok(inflated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_override_each_default() {
        let def: LimitsDef = toml::from_str("rows = 10\ninflated_mb = 3").unwrap();
        let limits = def.limits();
        assert_eq!(limits.rows, 10);
        assert_eq!(limits.inflated_bytes, 3 << 20);
        assert_eq!(limits.columns, EXCEL_COLUMNS);
        assert!(toml::from_str::<LimitsDef>("row = 10").is_err());
    }
}
