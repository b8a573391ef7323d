//! The sample project: this repository's `winebuild.toml` and `models/`, plus three generated
//! months of the merchant's three workbooks with every quirk of the real files.
//!
//! Rules it keeps:
//! - deterministic: a fixed seed, no clock, no hash-map order; the same options always write the
//!   same workbooks, byte for byte (the repository's `data/` is this generator's output);
//! - the reference month (`2026-09`) at scale 1 reproduces the seven reference figures exactly
//!   (825, 825, 1428, 714, 714, 70 568,60 €, 30 premium); the generator checks them itself and
//!   fails rather than write a month that misses them;
//! - the months around it change the way a shop does: prices move, wines come and go, sales
//!   accumulate, wines enter and leave the premium list, one export is shuffled.

mod generate;
mod workbooks;

use std::path::{Path, PathBuf};

use crate::error::Hint;
use generate::{MonthData, Product, generate_months, premium_count};
use workbooks::{erp_workbook, liaison_workbook, web_workbook};

/// The sample months, oldest first; the middle one is the reference month.
pub(crate) const SAMPLE_MONTHS: [&str; 3] = ["2026-08", "2026-09", "2026-10"];

/// The reference month's CA total, in tenths of a euro... times ten: cents.
const REFERENCE_CA_CENTS: i64 = 7_056_860;
const REFERENCE_PREMIUM: usize = 30;

/// The project files shipped with the sample, taken from this repository.
const PROJECT_FILES: &[(&str, &str)] = &[
    ("winebuild.toml", include_str!("../../winebuild.toml")),
    (
        "models/erp_clean.sql",
        include_str!("../../models/erp_clean.sql"),
    ),
    (
        "models/liaison_clean.sql",
        include_str!("../../models/liaison_clean.sql"),
    ),
    (
        "models/web_clean.sql",
        include_str!("../../models/web_clean.sql"),
    ),
    (
        "models/web_dedup.sql",
        include_str!("../../models/web_dedup.sql"),
    ),
    ("models/fusion.sql", include_str!("../../models/fusion.sql")),
    ("models/ca.sql", include_str!("../../models/ca.sql")),
    (
        "models/ca_total.sql",
        include_str!("../../models/ca_total.sql"),
    ),
    (
        "models/price_zscore.sql",
        include_str!("../../models/price_zscore.sql"),
    ),
    (
        "models/premium.sql",
        include_str!("../../models/premium.sql"),
    ),
    (
        "models/ordinaires.sql",
        include_str!("../../models/ordinaires.sql"),
    ),
    (
        "models/web_clean.tests.toml",
        include_str!("../../models/web_clean.tests.toml"),
    ),
    (
        "models/web_dedup.tests.toml",
        include_str!("../../models/web_dedup.tests.toml"),
    ),
    (
        "models/fusion.tests.toml",
        include_str!("../../models/fusion.tests.toml"),
    ),
    (
        "models/ca.tests.toml",
        include_str!("../../models/ca.tests.toml"),
    ),
    (
        "models/price_zscore.tests.toml",
        include_str!("../../models/price_zscore.tests.toml"),
    ),
    (
        "models/premium.tests.toml",
        include_str!("../../models/premium.tests.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub(crate) enum SampleError {
    #[error("cannot write `{path}`: {message}")]
    Write { path: PathBuf, message: String },
    #[error("`{month}` is not a sample month ({})", SAMPLE_MONTHS.join(", "))]
    UnknownMonth { month: String },
    #[error("`--scale` must be between 1 and 1000, not {scale}")]
    Scale { scale: u32 },
    #[error("the generated reference month misses its figures: {message}")]
    Reference { message: String },
    #[error("`{}` is not empty: a sample project would replace its files", dir.display())]
    NotEmpty { dir: PathBuf },
    #[error("`{}` exists: sample data would replace it", path.display())]
    MonthExists { path: PathBuf },
}

impl Hint for SampleError {
    fn hint(&self) -> Option<String> {
        match self {
            SampleError::Write { .. } => Some("check that the folder is writable".into()),
            SampleError::NotEmpty { .. } => Some(
                "choose an empty or new folder; --force writes over winebuild.toml, models/ and data/"
                    .into(),
            ),
            SampleError::MonthExists { .. } => Some(
                "choose another --month, or pass --force to write over that month's files".into(),
            ),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SampleOptions {
    pub(crate) scale: u32,
    pub(crate) data_only: bool,
    pub(crate) month: Option<String>,
    /// Write over what is there.
    pub(crate) force: bool,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            scale: 1,
            data_only: false,
            month: None,
            force: false,
        }
    }
}

/// Writes the sample project into `dir`; returns the files written.
pub(crate) fn write_sample(
    dir: &Path,
    options: &SampleOptions,
) -> Result<Vec<PathBuf>, SampleError> {
    if !(1..=1000).contains(&options.scale) {
        return Err(SampleError::Scale {
            scale: options.scale,
        });
    }
    if let Some(month) = &options.month
        && !SAMPLE_MONTHS.contains(&month.as_str())
    {
        return Err(SampleError::UnknownMonth {
            month: month.clone(),
        });
    }
    if !options.force {
        refuse_to_overwrite(dir, options)?;
    }
    let mut written = Vec::new();
    if !options.data_only {
        for (name, text) in PROJECT_FILES {
            let path = dir.join(name);
            write_file(&path, text.as_bytes())?;
            written.push(path);
        }
    }
    let months = generate_months(options.scale)?;
    for (month, data) in SAMPLE_MONTHS.iter().zip(&months) {
        if options.month.as_deref().is_some_and(|m| m != *month) {
            continue;
        }
        let month_dir = dir.join("data").join(month);
        let expect_path = month_dir.join(crate::checks::EXPECT_FILE);
        write_file(&expect_path, expect_toml(month, data).as_bytes())?;
        written.push(expect_path);
        for (file, bytes) in [
            ("erp.xlsx", erp_workbook(data)),
            ("liaison.xlsx", liaison_workbook(data)),
            ("web.xlsx", web_workbook(data)),
        ] {
            let path = month_dir.join(file);
            let bytes = bytes.map_err(|e| SampleError::Write {
                path: path.clone(),
                message: e.to_string(),
            })?;
            write_file(&path, &bytes)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// As `cargo new` does: a whole project goes only into an empty folder, and data only into
/// month folders that do not exist yet.
fn refuse_to_overwrite(dir: &Path, options: &SampleOptions) -> Result<(), SampleError> {
    if !options.data_only {
        let empty = std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none());
        return if empty {
            Ok(())
        } else {
            Err(SampleError::NotEmpty {
                dir: dir.to_path_buf(),
            })
        };
    }
    for month in SAMPLE_MONTHS {
        let path = dir.join("data").join(month);
        if options.month.as_deref().is_none_or(|m| m == month) && path.exists() {
            return Err(SampleError::MonthExists { path });
        }
    }
    Ok(())
}

/// The month's pinned figures, computed from the generator's own products (not by running the
/// pipeline), so a build that reproduces them checks the models against an independent count.
fn expect_toml(month: &str, data: &MonthData) -> String {
    let rows = data.products.len();
    let on_web: Vec<&Product> = data.products.iter().filter(|p| p.on_web).collect();
    let ca_cents: i64 = on_web.iter().map(|p| p.price_tenths * p.sales * 10).sum();
    format!(
        "# The figures the {month} build must reproduce: the earlier pipeline's seven checks.\n\
         # Each key names a check declared in models/; `winebuild test` compares.\n\
         test-nettoyage-erp = {rows}\n\
         test-nettoyage-liaison = {rows}\n\
         test-nettoyage-web-clean = {}\n\
         test-nettoyage-web-dedup = {}\n\
         test-fusion = {}\n\
         test-ca = {{ value = {}.{:02}, tolerance = 0.01 }}\n\
         test-premium = {}\n",
        2 * on_web.len(),
        on_web.len(),
        on_web.len(),
        ca_cents / 100,
        ca_cents % 100,
        premium_count(&data.products),
    )
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), SampleError> {
    let error = |e: std::io::Error| SampleError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    std::fs::write(path, bytes).map_err(error)
}
