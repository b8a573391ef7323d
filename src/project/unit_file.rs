//! A model's unit tests, `models/<name>.tests.toml` beside `models/<name>.sql`: fixtures (rows
//! given for each input) and the rows the model must return.
//!
//! ```toml
//! [[tests]]
//! name = "drops-rows-without-sku"
//! given.web = """
//! sku,total_sales
//! A1,3
//! ,5
//! """
//! expect = """
//! sku,total_sales
//! A1,3
//! """
//! ```
//!
//! Rules it keeps: rows are inline CSV (a header line, then rows; an empty cell is null; types
//! inferred as a csv source's are) or a TOML array of tables (`[{ sku = "A1", total_sales = 3 }]`,
//! types as written, a missing key is null); every input of the model is given and nothing
//! else; `expect` may name a subset of the output's columns; mistakes name the file, the test and
//! the field. What a test is (its [`UnitTest::definition`]) is what its cached result is keyed on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ProjectError;
use super::model_file::ModelDef;
use crate::error::did_you_mean;

/// Rows of a fixture or of an expectation, as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rows {
    /// A header line, then one line per row.
    Csv(String),
    /// One table per row.
    Toml(Vec<toml::Table>),
}

impl Rows {
    fn from_value(value: toml::Value) -> Result<Rows, String> {
        match value {
            toml::Value::String(csv) => Ok(Rows::Csv(csv)),
            toml::Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    toml::Value::Table(row) => Ok(row),
                    other => Err(format!(
                        "row {} is {}, not a table like {{ sku = \"A1\", total_sales = 3 }}",
                        i + 1,
                        with_article(other.type_str())
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Rows::Toml),
            other => Err(format!(
                "rows are a CSV string or an array of tables, not {}",
                with_article(other.type_str())
            )),
        }
    }

    /// The rows as JSON, for the test's definition.
    fn definition(&self) -> serde_json::Value {
        match self {
            Rows::Csv(csv) => serde_json::json!({ "csv": csv }),
            Rows::Toml(rows) => serde_json::json!({ "rows": rows }),
        }
    }
}

/// `an integer`, `a string`: a TOML type in words.
fn with_article(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {type_name}")
}

/// One unit test of a model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UnitTest {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    /// Rows for each input of the model, by input name.
    pub(crate) given: BTreeMap<String, Rows>,
    /// The rows the model must return (all of them; only the columns named).
    pub(crate) expect: Rows,
}

impl UnitTest {
    /// What the test's cached result is keyed on, with the model's own definition.
    pub(crate) fn definition(&self) -> serde_json::Value {
        let given: BTreeMap<&String, serde_json::Value> = self
            .given
            .iter()
            .map(|(input, rows)| (input, rows.definition()))
            .collect();
        serde_json::json!({
            "name": self.name,
            "given": given,
            "expect": self.expect.definition(),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestsFile {
    #[serde(default)]
    tests: Vec<TestEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestEntry {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    given: BTreeMap<String, toml::Value>,
    expect: toml::Value,
}

/// The path of a model's unit-test file: beside the model, `<name>.tests.toml`.
pub(crate) fn tests_path(model_path: &Path) -> PathBuf {
    model_path.with_extension("tests.toml")
}

/// Reads the unit tests of `model` from `text` (the content of [`tests_path`]).
pub(crate) fn parse_tests(model: &ModelDef, text: &str) -> Result<Vec<UnitTest>, ProjectError> {
    let path = tests_path(&model.path);
    let error = |test: Option<&str>, message: String| ProjectError::BadUnitTest {
        path: path.clone(),
        test: test.map(str::to_string),
        message,
    };
    let file: TestsFile = toml::from_str(text).map_err(|e| {
        error(
            None,
            e.message().to_string() + &super::toml_location(text, e.span()),
        )
    })?;
    let mut tests: Vec<UnitTest> = Vec::with_capacity(file.tests.len());
    for entry in file.tests {
        let name = entry.name.clone();
        let fail = |message: String| error(Some(&name), message);
        if tests.iter().any(|t| t.name == name) {
            return Err(fail("another test of this model has the same name".into()));
        }
        let mut given = BTreeMap::new();
        for (input, value) in entry.given {
            if !model.inputs.contains(&input) {
                return Err(fail(format!(
                    "`given.{input}`: `{input}` is not an input of `{}`; {}",
                    model.name,
                    did_you_mean(&input, model.inputs.iter(), "its inputs are in its header")
                )));
            }
            let rows =
                Rows::from_value(value).map_err(|e| fail(format!("`given.{input}`: {e}")))?;
            given.insert(input, rows);
        }
        if let Some(missing) = model.inputs.iter().find(|i| !given.contains_key(*i)) {
            return Err(fail(format!(
                "no rows are given for `{missing}`: every input of `{}` needs `given.{missing}` (an empty CSV header, for no rows)",
                model.name
            )));
        }
        let expect = Rows::from_value(entry.expect).map_err(|e| fail(format!("`expect`: {e}")))?;
        tests.push(UnitTest {
            name: entry.name,
            description: entry.description,
            given,
            expect,
        });
    }
    Ok(tests)
}
