//! Property: for any sequence of edits (cells, SQL, settings, adding and removing a model), the
//! incremental build's outputs equal a clean build's, compared as sorted rows.
//!
//! How many sequences and how long each is come from the environment, so a long run is one
//! command away: `WINEBUILD_PROPERTY_CASES=1000 WINEBUILD_PROPERTY_STEPS=20 cargo test
//! incremental_builds_equal_clean_builds` (the defaults, 12 and 5, are what CI runs).

use proptest::prelude::*;

use crate::support::Project;

const MONTH: &str = "2026-01";

#[derive(Debug, Clone)]
enum Edit {
    /// Set the price of item `row` (0..3).
    Price(usize, u8),
    /// Set the quantity of sale `row` (0..3).
    Quantity(usize, u8),
    /// Append a duplicate of item `row` (cleaning must absorb it).
    DuplicateItem(usize),
    /// Rewrite items.csv with the same bytes (a touch: new mtime, same content).
    Touch,
    /// Switch joined's revenue formula between variants.
    JoinedSql(u8),
    /// Switch joined's key setting.
    JoinedKey(bool),
    /// Add or remove the `cheap` model.
    CheapModel(bool),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..3usize, 1..60u8).prop_map(|(r, p)| Edit::Price(r, p)),
        (0..3usize, 0..20u8).prop_map(|(r, q)| Edit::Quantity(r, q)),
        (0..3usize).prop_map(Edit::DuplicateItem),
        Just(Edit::Touch),
        (0..3u8).prop_map(Edit::JoinedSql),
        any::<bool>().prop_map(Edit::JoinedKey),
        any::<bool>().prop_map(Edit::CheapModel),
    ]
}

/// Replaces the value of `column` in data line `row` of a csv file.
fn set_cell(project: &Project, file: &str, row: usize, column: usize, value: &str) {
    let text = project.read(file);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut cells: Vec<String> = lines[row + 1].split(',').map(str::to_string).collect();
    cells[column] = value.to_string();
    lines[row + 1] = cells.join(",");
    project.write(file, &(lines.join("\n") + "\n"));
}

fn apply(project: &Project, edit: &Edit) {
    let items = format!("data/{MONTH}/items.csv");
    let sales = format!("data/{MONTH}/sales.csv");
    match edit {
        Edit::Price(row, price) => set_cell(project, &items, *row, 2, &format!("{price}.5")),
        Edit::Quantity(row, quantity) => set_cell(project, &sales, *row, 1, &quantity.to_string()),
        Edit::DuplicateItem(row) => {
            let text = project.read(&items);
            let line = text.lines().nth(row + 1).unwrap().to_string();
            project.write(&items, &format!("{text}{line}\n"));
        }
        Edit::Touch => {
            let text = project.read(&items);
            project.write(&items, &text);
        }
        Edit::JoinedSql(variant) => {
            let formula =
                ["i.price * s.qty", "s.qty * i.price", "i.price * s.qty * 2"][*variant as usize];
            let sql = project.read("models/joined.sql");
            let start = sql.find("SELECT").unwrap();
            let header = &sql[..start];
            project.write(
                "models/joined.sql",
                &format!("{header}SELECT i.id, i.name, i.price, s.qty, {formula} AS ca\nFROM items_clean i JOIN sales s ON s.id = i.id\nORDER BY i.id\n"),
            );
        }
        Edit::JoinedKey(wide) => {
            let key = if *wide {
                "[\"id\", \"name\"]"
            } else {
                "[\"id\"]"
            };
            let sql = project.read("models/joined.sql");
            let rest: Vec<&str> = sql.lines().filter(|l| !l.starts_with("-- key")).collect();
            let mut lines = vec![rest[0].to_string(), format!("-- key = {key}")];
            lines.extend(rest[1..].iter().map(std::string::ToString::to_string));
            project.write("models/joined.sql", &(lines.join("\n") + "\n"));
        }
        Edit::CheapModel(present) => {
            let path = "models/cheap.sql";
            if *present {
                project.write(
                    path,
                    "-- inputs = [\"joined\"]\nSELECT id, ca FROM joined WHERE price < 20\n",
                );
            } else if project.file(path).exists() {
                project.remove(path);
            }
        }
    }
}

/// Copies the project's own files (not its store nor outputs) into a fresh project.
fn clean_copy(project: &Project) -> Project {
    let copy = Project::empty();
    for relative in [
        "winebuild.toml",
        &format!("data/{MONTH}/items.csv"),
        &format!("data/{MONTH}/sales.csv"),
    ] {
        copy.write(relative, &project.read(relative));
    }
    for entry in std::fs::read_dir(project.file("models")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        copy.write(
            &format!("models/{name}"),
            &project.read(&format!("models/{name}")),
        );
    }
    copy
}

fn model_names(project: &Project) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project.file("models"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .into_string()
                .unwrap()
                .trim_end_matches(".sql")
                .to_string()
        })
        .collect();
    names.sort();
    names
}

/// A count from the environment, or `default`.
pub(crate) fn from_env(variable: &str, default: u32) -> u32 {
    std::env::var(variable)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cases() -> u32 {
    from_env("WINEBUILD_PROPERTY_CASES", 12)
}

fn steps() -> usize {
    from_env("WINEBUILD_PROPERTY_STEPS", 5).max(1) as usize
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn incremental_builds_equal_clean_builds(edits in proptest::collection::vec(edit(), 1..=steps())) {
        let project = Project::csv();
        project.build_json(&[], 0);
        for edit in &edits {
            apply(&project, edit);
            project.build_json(&[], 0);
            let clean = clean_copy(&project);
            clean.build_json(&[], 0);
            for model in model_names(&project).iter().chain(["items".to_string(), "sales".to_string()].iter()) {
                prop_assert_eq!(
                    project.sorted_rows(model, MONTH),
                    clean.sorted_rows(model, MONTH),
                    "model {} after {:?}", model, edits
                );
            }
            prop_assert_eq!(
                project.read("out/2026-01/report.csv"),
                clean.read("out/2026-01/report.csv")
            );
        }
    }
}
