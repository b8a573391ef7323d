//! [`Month`]: the unit of work of every build, archive and diff, written `YYYY-MM`.
//!
//! Rules it keeps: a `Month` is always valid (month 01 to 12, four-digit year), so nothing past
//! parsing checks it again; months order by time; the text form is the folder name and the form
//! every command prints and every file stores.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar month, `2026-09`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Month {
    year: u16,
    month: u8,
}

/// Text that is not `YYYY-MM`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a month; months are written YYYY-MM")]
pub(crate) struct NotAMonth {
    pub(crate) given: String,
}

impl Month {
    /// `YYYY-MM` with a month from 01 to 12.
    pub(crate) fn parse(text: &str) -> Result<Month, NotAMonth> {
        let bad = || NotAMonth {
            given: text.to_string(),
        };
        let bytes = text.as_bytes();
        let shaped = bytes.len() == 7
            && bytes[4] == b'-'
            && bytes[..4].iter().all(u8::is_ascii_digit)
            && bytes[5..].iter().all(u8::is_ascii_digit);
        if !shaped {
            return Err(bad());
        }
        let year: u16 = text[..4].parse().map_err(|_| bad())?;
        let month: u8 = text[5..].parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    /// The month before this one.
    pub(crate) fn previous(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year.saturating_sub(1),
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The calendar month before today's (local time): what a schedule on the 15th builds.
    pub(crate) fn before_today() -> Month {
        use chrono::Datelike;
        let today = chrono::Local::now().date_naive();
        let this = Month {
            year: u16::try_from(today.year()).unwrap_or(0),
            month: u8::try_from(today.month()).unwrap_or(1),
        };
        this.previous()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = NotAMonth;

    fn from_str(text: &str) -> Result<Month, NotAMonth> {
        Month::parse(text)
    }
}

impl Serialize for Month {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Month, D::Error> {
        let text = String::deserialize(deserializer)?;
        Month::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What `--month` asks for: a month, the month before today's, or (absent) the latest month
/// folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum MonthChoice {
    #[default]
    Latest,
    /// `--month previous`.
    Previous,
    Given(Month),
}

/// The word `--month` takes for the month before today's.
pub(crate) const PREVIOUS: &str = "previous";

impl MonthChoice {
    /// Reads `--month`: absent, `previous` or `YYYY-MM`.
    pub(crate) fn parse(given: Option<&str>) -> Result<MonthChoice, NotAMonth> {
        match given {
            None => Ok(MonthChoice::Latest),
            Some(PREVIOUS) => Ok(MonthChoice::Previous),
            Some(text) => Month::parse(text).map(MonthChoice::Given),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_print_and_order() {
        let september = Month::parse("2026-09").unwrap();
        assert_eq!(september.to_string(), "2026-09");
        assert!(Month::parse("2026-10").unwrap() > september);
        assert_eq!(september.previous().to_string(), "2026-08");
        assert_eq!(
            Month::parse("2027-01").unwrap().previous().to_string(),
            "2026-12"
        );
        for bad in [
            "2025-13", "2025-00", "25-01", "2025-1", "2025/01", "../2026", "",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            serde_json::to_string(&september).unwrap(),
            "\"2026-09\"".to_string()
        );
        assert!(serde_json::from_str::<Month>("\"../../x\"").is_err());
    }

    #[test]
    fn month_choices() {
        assert_eq!(MonthChoice::parse(None), Ok(MonthChoice::Latest));
        assert_eq!(
            MonthChoice::parse(Some("previous")),
            Ok(MonthChoice::Previous)
        );
        assert!(MonthChoice::parse(Some("2025-13")).is_err());
    }
}
