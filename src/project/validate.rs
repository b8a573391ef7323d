//! Whole-project validation: what no single entry can check on its own (names unique across
//! kinds, inputs that exist, checks that read only upstream models, summary models with keys).

use std::collections::BTreeMap;

use std::path::{Component, Path, PathBuf};

use super::{OutProblem, Project, ProjectError, SourceFormat};
use crate::error::did_you_mean;

impl Project {
    pub(super) fn validate(&self) -> Result<(), ProjectError> {
        if self.name.chars().any(char::is_control) {
            return Err(ProjectError::ProjectName {
                name: self.name.clone(),
            });
        }
        self.validate_out()?;
        self.validate_names()?;
        for (name, source) in &self.sources {
            validate_source(name, source)?;
        }
        for model in self.models.values() {
            for input in &model.inputs {
                self.check_input_exists(&format!("model `{}`", model.name), input)?;
            }
        }
        for (name, export) in &self.exports {
            for input in export.inputs() {
                self.check_input_exists(&format!("export `{name}`"), &input)?;
            }
        }
        self.validate_checks()?;
        self.validate_summary()
    }

    /// `out` names a folder per month, where exports cannot overwrite inputs or winebuild's own
    /// files, inside the project unless `out_outside_project = true` allows otherwise.
    fn validate_out(&self) -> Result<(), ProjectError> {
        let refuse = |problem| {
            Err(ProjectError::OutTemplate {
                template: self.out_template.clone(),
                problem,
            })
        };
        if !self.out_template.contains("{month}") {
            return refuse(OutProblem::NoMonth);
        }
        // Any month will do: both folders are the same template filled in the same way.
        let root = lexical(&std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone()));
        let folder = |template: &str| lexical(&root.join(template.replace("{month}", "2026-01")));
        let out = folder(&self.out_template);
        if !out.starts_with(&root) && !self.out_elsewhere_allowed {
            return refuse(OutProblem::OutsideProject);
        }
        // Data on object storage cannot be overwritten by a local `out`.
        let data = folder(&self.data_template);
        if matches!(self.data, super::DataPlace::Folder { .. }) && out.starts_with(&data) {
            return refuse(OutProblem::IntoData);
        }
        let own = [
            crate::store::STORE_DIR,
            crate::archive::ARCHIVE_DIR,
            super::MODELS_DIR,
        ];
        if own.iter().any(|dir| out.starts_with(root.join(dir))) || out == root {
            return refuse(OutProblem::IntoWinebuild);
        }
        Ok(())
    }

    fn validate_names(&self) -> Result<(), ProjectError> {
        let mut seen: BTreeMap<&str, String> = BTreeMap::new();
        let named = self
            .sources
            .keys()
            .map(|n| (n, "source"))
            .chain(self.models.keys().map(|n| (n, "model")))
            .chain(self.exports.keys().map(|n| (n, "export")));
        for (name, kind) in named {
            if !is_identifier(name) {
                return Err(ProjectError::BadName {
                    kind,
                    name: name.clone(),
                });
            }
            let described = format!("{kind} `{name}`");
            if let Some(tag) = self.tags(name).iter().find(|t| !is_tag(t)) {
                return Err(ProjectError::BadTag {
                    stage: described,
                    tag: tag.clone(),
                });
            }
            if let Some(first) = seen.insert(name, described.clone()) {
                return Err(ProjectError::DuplicateName {
                    name: name.clone(),
                    first,
                    second: described,
                });
            }
        }
        Ok(())
    }

    fn validate_checks(&self) -> Result<(), ProjectError> {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (model, check) in self.checks() {
            let bad = |message: String, hint: Option<String>| ProjectError::BadCheck {
                model: model.name.clone(),
                check: check.name.clone(),
                message,
                hint,
            };
            if !is_check_name(&check.name) {
                return Err(bad(
                    "check names use lowercase letters, digits, `_` and `-`".into(),
                    None,
                ));
            }
            if let Some(first) = seen.insert(&check.name, &model.name) {
                return Err(bad(
                    format!("the name is already used by a check of model `{first}`"),
                    Some("check names are unique across the project".into()),
                ));
            }
            let upstream: Vec<&str> = self.upstream_of(&model.name).into_iter().collect();
            for other in check.named_models() {
                if !upstream.contains(&other.as_str()) {
                    return Err(bad(
                        format!(
                            "`{other}` is not a source or model that `{}` reads",
                            model.name
                        ),
                        Some(did_you_mean(
                            other,
                            &upstream,
                            "a check may read its model and what the model reads, directly or not",
                        )),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_summary(&self) -> Result<(), ProjectError> {
        let summary = &self.summary;
        let named = summary
            .total
            .iter()
            .map(|t| (&t.label, &t.model, false))
            .chain(summary.lists.iter().map(|l| (&l.label, &l.model, true)))
            .chain(summary.movers.iter().map(|m| (&m.label, &m.model, true)));
        for (label, model, needs_key) in named {
            let bad = |message: String| ProjectError::BadSummary {
                label: label.clone(),
                message,
            };
            let Some(def) = self.models.get(model) else {
                return Err(bad(format!("`{model}` is not a model")));
            };
            if needs_key && def.key_columns.is_empty() {
                return Err(bad(format!(
                    "model `{model}` declares no `key`, so its rows cannot be matched month to month"
                )));
            }
        }
        Ok(())
    }
}

fn validate_source(name: &str, source: &super::SourceDef) -> Result<(), ProjectError> {
    let bad = |message: String| ProjectError::BadSource {
        source_name: name.to_string(),
        message,
    };
    match source.format() {
        None => Err(bad(format!(
            "cannot tell the format of `{}`: use a .xlsx, .csv or .parquet file",
            source.file
        ))),
        Some(format) if source.sheet.is_some() && format != SourceFormat::Xlsx => {
            Err(bad("`sheet` only applies to xlsx files".into()))
        }
        Some(_) => Ok(()),
    }
}

/// `path` with `.` and `..` resolved by its words alone (the folders need not exist yet).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Check names may also use `-`, as the earlier pipeline's did (`test-nettoyage-erp`).
pub(crate) fn is_check_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Tags must read as one word of the selection grammar (`tag:finance,ca+`).
fn is_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
}

/// Names must be usable unquoted in SQL and as file names.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.to_ascii_lowercase() == name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_lowercase_identifiers() {
        assert!(is_identifier("web_dedup"));
        assert!(!is_identifier("web-dedup"));
        assert!(!is_identifier("Web"));
        assert!(!is_identifier("1web"));
        assert!(is_check_name("test-nettoyage-erp"));
        assert!(!is_check_name("Test"));
    }
}
