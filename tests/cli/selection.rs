//! dbt's selection grammar through the real binary: unions and intersections, graph operators,
//! `tag:`, `source:`, `path:`, `state:modified` against an archived build, `result:` from the
//! last build, `--exclude`, and errors for selectors that match nothing.

use std::fmt::Write as _;

use crate::support;

use support::{Project, snapshot_settings};

/// The csv fixture with tags on a model, a source and an export, and `total` in a subfolder.
fn tagged() -> Project {
    let project = Project::csv();
    let toml = project.read("winebuild.toml");
    project.write(
        "winebuild.toml",
        &toml
            .replace(
                "[sources.sales]\nfile = \"sales.csv\"\n",
                "[sources.sales]\nfile = \"sales.csv\"\ntags = [\"daily\"]\n",
            )
            .replace(
                "model = \"joined\"\n",
                "model = \"joined\"\ntags = [\"finance\"]\n",
            ),
    );
    std::fs::remove_file(project.file("models/total.sql")).unwrap();
    project.write(
        "models/finance/total.sql",
        "-- inputs = [\"joined\"]\n-- tags = [\"finance\", \"monthly\"]\nSELECT SUM(ca) AS ca_total FROM joined\n",
    );
    project
}

/// The stages `plan --force` would run for these arguments: exactly the selection.
fn selected(project: &Project, args: &[&str]) -> Vec<String> {
    let mut command = vec!["plan", "--force", "--format", "json"];
    command.extend_from_slice(args);
    let run = project.run(&command);
    assert_eq!(run.code, 0, "{args:?}: {}", run.shown());
    let mut names = run.field_where("run", "stage");
    names.sort();
    names
}

fn names(list: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = list.iter().map(ToString::to_string).collect();
    names.sort();
    names
}

#[test]
fn union_intersection_and_graph_operators_read_as_dbt_reads_them() {
    let project = tagged();
    project.build_json(&[], 0);
    let pick = |args: &[&str]| selected(&project, args);
    // Spaces and repeated values are unions; a comma intersects.
    assert_eq!(
        pick(&["--select", "items_clean sales_count"]),
        names(&["items_clean", "sales_count"])
    );
    assert_eq!(
        pick(&["--select", "items_clean", "--select", "sales_count"]),
        names(&["items_clean", "sales_count"])
    );
    assert_eq!(
        pick(&["--select", "items_clean+,+total"]),
        names(&["items_clean", "joined", "total"])
    );
    assert_eq!(
        pick(&["--select", "1+joined"]),
        names(&["items_clean", "sales", "joined"])
    );
    assert_eq!(
        pick(&["--select", "sales+1"]),
        names(&["sales", "joined", "sales_count"])
    );
    assert_eq!(
        pick(&["--select", "@items_clean"]),
        names(&["items", "items_clean", "sales", "joined", "total", "report"])
    );
    assert_eq!(
        pick(&["--select", "+report", "--exclude", "source:*"]),
        names(&["items_clean", "joined", "report"])
    );
}

#[test]
fn tags_sources_and_paths_select_from_headers_and_winebuild_toml() {
    let project = tagged();
    project.build_json(&[], 0);
    let pick = |args: &[&str]| selected(&project, args);
    assert_eq!(
        pick(&["--select", "tag:finance"]),
        names(&["total", "report"])
    );
    assert_eq!(
        pick(&["--select", "tag:daily+1"]),
        names(&["sales", "joined", "sales_count"])
    );
    assert_eq!(
        pick(&["--select", "source:items+1"]),
        names(&["items", "items_clean"])
    );
    assert_eq!(
        pick(&["--select", "path:models/finance"]),
        names(&["total"])
    );
    assert_eq!(
        pick(&["--select", "path:winebuild.toml"]),
        names(&["items", "sales", "report"])
    );
    // Tags are for people and selection: adding one reruns nothing.
    let before = project.build_json(&[], 0);
    assert!(before.with_action("ran").is_empty(), "{}", before.shown());
}

#[test]
fn state_modified_compares_keys_with_the_archived_build() {
    let project = tagged();
    project.build_json(&[], 0);
    let modified = |args: &[&str]| {
        let mut all = vec!["--select", "state:modified"];
        all.extend_from_slice(args);
        selected(&project, &all)
    };
    assert_eq!(modified(&[]), Vec::<String>::new());
    // A description is not part of any key: not modified.
    project.write(
        "models/finance/total.sql",
        "-- inputs = [\"joined\"]\n-- tags = [\"finance\", \"monthly\"]\n-- description = \"the month's CA\"\nSELECT SUM(ca) AS ca_total FROM joined\n",
    );
    assert_eq!(modified(&[]), Vec::<String>::new());
    // New SQL: the model; what reads it would see a new input, so it counts too.
    project.write(
        "models/items_clean.sql",
        "-- inputs = [\"items\"]\n-- key = [\"id\"]\nSELECT DISTINCT id, name, price FROM items WHERE price > 0 ORDER BY id\n",
    );
    assert_eq!(
        modified(&[]),
        names(&["items_clean", "joined", "total", "report"])
    );
    // A source file rewritten with new data.
    project.write("data/2026-01/sales.csv", "id,qty\n1,3\n2,5\n3,10\n");
    assert_eq!(
        modified(&[]),
        names(&[
            "sales",
            "sales_count",
            "items_clean",
            "joined",
            "total",
            "report"
        ])
    );
    // Build only what changed; the new build is archived as r2, and nothing is modified since.
    let run = project.build_json(&["--select", "state:modified"], 0);
    assert_eq!(run.with_action("ran").len(), 6, "{}", run.shown());
    assert_eq!(modified(&[]), Vec::<String>::new());
    // ... but everything that changed is modified against r1.
    assert_eq!(modified(&["--state", "2026-01@r1"]).len(), 6);
    // state:new: a model r1 did not have.
    project.write(
        "models/cheap.sql",
        "-- inputs = [\"items_clean\"]\nSELECT * FROM items_clean WHERE price < 20\n",
    );
    assert_eq!(
        selected(&project, &["--select", "state:new"]),
        names(&["cheap"])
    );
}

#[test]
fn result_selects_from_the_months_last_build() {
    let project = Project::csv();
    project.write(
        "models/joined.sql",
        "-- inputs = [\"items_clean\", \"sales\"]\n-- key = [\"id\"]\n-- [[checks]]\n-- name = \"three-wines\"\n-- kind = \"row_count\"\n-- equals = 4\nSELECT i.id, i.name, i.price, s.qty, i.price * s.qty AS ca\nFROM items_clean i JOIN sales s ON s.id = i.id\nORDER BY i.id\n",
    );
    project.write(
        "models/sales_count.sql",
        "-- inputs = [\"sales\"]\nSELECT COUNT(*) AS n, SUM(qtty) AS bottles FROM sales\n",
    );
    let first = project.run(&["build"]);
    assert_eq!(first.code, 2, "{}", first.shown());
    let pick = |select: &str| selected(&project, &["--select", select]);
    assert_eq!(pick("result:fail"), names(&["joined"]));
    assert_eq!(pick("result:error"), names(&["sales_count"]));
    assert_eq!(pick("result:skipped"), names(&["total", "report"]));
    assert_eq!(
        pick("result:success"),
        names(&["items", "items_clean", "sales"])
    );
    // Fix both, then rebuild just what failed and what it blocked.
    project.write(
        "models/sales_count.sql",
        "-- inputs = [\"sales\"]\nSELECT COUNT(*) AS n, SUM(qty) AS bottles FROM sales\n",
    );
    let fixed = project
        .read("models/joined.sql")
        .replace("equals = 4", "equals = 3");
    project.write("models/joined.sql", &fixed);
    assert_eq!(
        pick("result:fail+ result:error"),
        names(&["joined", "total", "report", "sales_count"])
    );
    let rerun = project.build_json(&["--select", "result:fail+ result:error"], 0);
    let mut ran = rerun.with_action("ran");
    ran.sort();
    assert!(
        ran.contains(&"sales_count".to_string()),
        "{}",
        rerun.shown()
    );
    assert_eq!(pick("result:fail"), Vec::<String>::new());
}

#[test]
fn selectors_that_match_nothing_are_errors_naming_them() {
    let project = tagged();
    let mut shown = String::new();
    for args in [
        vec!["build", "--select", "totl+"],
        vec!["build", "--select", "tag:financ"],
        vec!["plan", "--exclude", "source:joined"],
        vec!["test", "--select", "tags:finance"],
        vec!["build", "--select", "state:modified"],
        vec!["build", "--select", "items,,sales"],
        vec!["build", "--select", "result:failed"],
    ] {
        let run = project.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.shown());
        let _ = write!(shown, "$ winebuild {}\n{}", args.join(" "), run.stderr);
    }
    // A selection that is well formed but empty is not a mistake: a warning, nothing built.
    project.build_json(&[], 0);
    let run = project.run(&["build", "--select", "state:modified"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    let _ = write!(
        shown,
        "$ winebuild build --select state:modified\n{}",
        run.stderr
    );
    snapshot_settings(&project).bind(|| insta::assert_snapshot!("selection_errors", shown));
}

#[test]
fn models_may_sit_in_subfolders_but_their_names_stay_unique() {
    let project = tagged();
    let run = project.build_json(&[], 0);
    assert!(
        run.with_action("ran").contains(&"total".to_string()),
        "{}",
        run.shown()
    );
    project.write(
        "models/total.sql",
        "-- inputs = [\"joined\"]\nSELECT 1 AS one\n",
    );
    let clash = project.run(&["plan"]);
    assert_eq!(clash.code, 2, "{}", clash.shown());
    assert_eq!(
        clash.stderr,
        "error: the name `total` is used by both model `models/finance/total.sql` and model `models/total.sql`\nhint: rename one of them\n"
    );
}
