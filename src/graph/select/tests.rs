//! The grammar on the wine project's own graph, with fake facts.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::graph::Node;

fn wine() -> Graph {
    let stages: [(&str, StageKind, &[&str]); 16] = [
        ("erp", StageKind::Source, &[]),
        ("liaison", StageKind::Source, &[]),
        ("web", StageKind::Source, &[]),
        ("erp_clean", StageKind::Model, &["erp"]),
        ("liaison_clean", StageKind::Model, &["liaison"]),
        ("web_clean", StageKind::Model, &["web"]),
        ("web_dedup", StageKind::Model, &["web_clean"]),
        (
            "fusion",
            StageKind::Model,
            &["erp_clean", "liaison_clean", "web_dedup"],
        ),
        ("ca", StageKind::Model, &["fusion"]),
        ("ca_total", StageKind::Model, &["ca"]),
        ("price_zscore", StageKind::Model, &["fusion"]),
        ("premium", StageKind::Model, &["price_zscore"]),
        ("ordinaires", StageKind::Model, &["price_zscore"]),
        ("rapport_ca", StageKind::Export, &["ca", "premium"]),
        ("vins_premium", StageKind::Export, &["premium"]),
        ("vins_ordinaires", StageKind::Export, &["ordinaires"]),
    ];
    let index: BTreeMap<String, StageId> = stages
        .iter()
        .enumerate()
        .map(|(i, (name, _, _))| ((*name).to_string(), StageId(i)))
        .collect();
    let nodes = stages
        .iter()
        .map(|(name, kind, inputs)| Node {
            name: (*name).to_string(),
            kind: *kind,
            inputs: inputs.iter().map(|i| index[*i]).collect(),
        })
        .collect();
    Graph { nodes, index }
}

struct FakeFacts<'a> {
    graph: &'a Graph,
}

impl Facts for FakeFacts<'_> {
    fn tags(&self, id: StageId) -> Vec<String> {
        match self.graph.name(id) {
            "ca" | "ca_total" | "rapport_ca" => vec!["finance".into()],
            "erp" => vec!["erp_export".into()],
            _ => Vec::new(),
        }
    }

    fn path(&self, id: StageId) -> String {
        let name = self.graph.name(id);
        match self.graph.node(id).kind {
            StageKind::Model if name.starts_with("web") => format!("models/staging/{name}.sql"),
            StageKind::Model => format!("models/{name}.sql"),
            _ => "winebuild.toml".into(),
        }
    }

    fn state(&self, method: StateMethod) -> Result<BTreeSet<StageId>, String> {
        match method {
            StateMethod::Modified => Ok(self.ids(&["web_clean", "web_dedup"])),
            StateMethod::New => Ok(BTreeSet::new()),
        }
    }

    fn results(&self, result: RunResult) -> Result<BTreeSet<StageId>, String> {
        match result {
            RunResult::Fail => Ok(self.ids(&["erp_clean"])),
            RunResult::Error => Err("no build of 2026-09 is recorded".into()),
            _ => Ok(BTreeSet::new()),
        }
    }
}

impl FakeFacts<'_> {
    fn ids(&self, names: &[&str]) -> BTreeSet<StageId> {
        names.iter().map(|n| self.graph.id(n).unwrap()).collect()
    }
}

/// The names `select` (and `exclude`) pick, sorted.
fn pick(select: &[&str], exclude: &[&str]) -> Result<Vec<String>, SelectError> {
    let graph = wine();
    let facts = FakeFacts { graph: &graph };
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    let select = Selector::parse(&strings(select))?;
    let exclude = Selector::parse(&strings(exclude))?;
    let mut ids = select.resolve(&graph, &facts)?;
    if !exclude.is_empty() {
        for id in exclude.resolve(&graph, &facts)? {
            ids.remove(&id);
        }
    }
    let mut names: Vec<String> = ids.iter().map(|&id| graph.name(id).to_string()).collect();
    names.sort();
    Ok(names)
}

fn names(select: &str) -> Vec<String> {
    pick(&[select], &[]).unwrap_or_else(|e| panic!("{select}: {e}"))
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| (*s).to_string()).collect();
    v.sort();
    v
}

#[test]
fn no_selector_selects_everything() {
    assert_eq!(pick(&[], &[]).unwrap().len(), 16);
}

#[test]
fn space_and_separate_values_are_a_union() {
    assert_eq!(names("ca premium"), sorted(&["ca", "premium"]));
    assert_eq!(
        pick(&["ca", "premium"], &[]).unwrap(),
        sorted(&["ca", "premium"])
    );
}

#[test]
fn comma_intersects() {
    // dbt: `fusion+,+ca` is what is both downstream of fusion and upstream of ca.
    assert_eq!(names("fusion+,+ca"), sorted(&["ca", "fusion"]));
    assert_eq!(names("tag:finance,ca_total"), sorted(&["ca_total"]));
    assert_eq!(names("ca,premium"), Vec::<String>::new());
}

#[test]
fn graph_operators_and_depths() {
    assert_eq!(
        names("+web_dedup"),
        sorted(&["web", "web_clean", "web_dedup"])
    );
    assert_eq!(names("1+web_dedup"), sorted(&["web_clean", "web_dedup"]));
    assert_eq!(
        names("price_zscore+"),
        sorted(&[
            "price_zscore",
            "premium",
            "ordinaires",
            "rapport_ca",
            "vins_premium",
            "vins_ordinaires"
        ])
    );
    assert_eq!(
        names("price_zscore+1"),
        sorted(&["price_zscore", "premium", "ordinaires"])
    );
    assert_eq!(
        names("2+ca+1"),
        sorted(&[
            "erp_clean",
            "liaison_clean",
            "web_dedup",
            "fusion",
            "ca",
            "ca_total",
            "rapport_ca"
        ])
    );
    assert_eq!(names("0+ca"), sorted(&["ca"]));
}

#[test]
fn at_takes_descendants_and_all_their_ancestors() {
    // @premium: premium, what reads it (rapport_ca, vins_premium), and everything those read,
    // which brings in ca's branch through rapport_ca.
    let picked = names("@premium");
    for name in [
        "premium",
        "rapport_ca",
        "vins_premium",
        "ca",
        "fusion",
        "erp",
        "web",
        "liaison",
    ] {
        assert!(
            picked.contains(&name.to_string()),
            "{name} missing from {picked:?}"
        );
    }
    assert!(!picked.contains(&"vins_ordinaires".to_string()));
    assert!(!picked.contains(&"ca_total".to_string()));
}

#[test]
fn methods() {
    assert_eq!(
        names("tag:finance"),
        sorted(&["ca", "ca_total", "rapport_ca"])
    );
    assert_eq!(names("tag:fin*"), sorted(&["ca", "ca_total", "rapport_ca"]));
    assert_eq!(names("source:*"), sorted(&["erp", "liaison", "web"]));
    assert_eq!(names("source:web+1"), sorted(&["web", "web_clean"]));
    assert_eq!(
        names("path:models/staging"),
        sorted(&["web_clean", "web_dedup"])
    );
    assert_eq!(names("path:models/ca.sql"), sorted(&["ca"]));
    // `*` matches any run of characters, `/` included, as fnmatch does.
    assert_eq!(
        names("path:models/*_clean.sql"),
        sorted(&["erp_clean", "liaison_clean", "web_clean"])
    );
    assert_eq!(names("web_*"), sorted(&["web_clean", "web_dedup"]));
    assert_eq!(names("state:modified"), sorted(&["web_clean", "web_dedup"]));
    assert_eq!(
        names("state:modified+1"),
        sorted(&["web_clean", "web_dedup", "fusion"])
    );
    assert_eq!(names("result:fail+1"), sorted(&["erp_clean", "fusion"]));
}

#[test]
fn exclude_uses_the_same_grammar() {
    assert_eq!(
        pick(&["fusion+"], &["tag:finance", "price_zscore+"]).unwrap(),
        sorted(&["fusion"])
    );
    assert_eq!(pick(&[], &["source:*"]).unwrap().len(), 13);
}

#[test]
fn state_and_result_may_match_nothing() {
    assert_eq!(names("state:new"), Vec::<String>::new());
    assert_eq!(names("result:warn"), Vec::<String>::new());
}

fn error(select: &str) -> (String, String) {
    let e = pick(&[select], &[]).expect_err(select);
    (e.to_string(), e.hint().unwrap_or_default())
}

#[test]
fn a_term_that_matches_nothing_is_an_error_with_a_suggestion() {
    assert_eq!(
        error("fusoin+"),
        (
            "`fusoin+` matches no stage".into(),
            "did you mean `fusion`?".into()
        )
    );
    assert_eq!(
        error("tag:finanse"),
        (
            "`tag:finanse` matches no tag".into(),
            "did you mean `finance`?".into()
        )
    );
    assert_eq!(
        error("source:ca"),
        (
            "`source:ca` matches no source".into(),
            "sources are declared in winebuild.toml's [sources]".into()
        )
    );
    assert_eq!(
        error("path:models/staging/ca.sql").0,
        "`path:models/staging/ca.sql` matches no file"
    );
    assert_eq!(error("tags:finance").1, "did you mean `tag:`?");
}

#[test]
fn malformed_selectors_are_errors() {
    assert_eq!(error("state:changed").0, "`state:changed`: not a state");
    assert_eq!(
        error("result:failed").1,
        "results are `success`, `error`, `fail`, `warn` and `skipped`"
    );
    assert_eq!(error("@+ca").0, "`@+ca`: `@` cannot be combined with `+`");
    assert_eq!(
        error("ca,,premium").0,
        "`ca,,premium`: an empty selector (two commas in a row, or a comma at an end)"
    );
    assert_eq!(error("+").0, "`+`: not a selector");
    assert_eq!(error("tag:").0, "`tag:`: `tag:` needs a value");
    assert_eq!(
        error("result:error"),
        (
            "`result:error`: no build of 2026-09 is recorded".into(),
            "`result:` reads the month's last build: build it first".into()
        )
    );
}

#[test]
fn wildcards() {
    assert!(wildcard_match("a*c", "abbc"));
    assert!(wildcard_match("*", ""));
    assert!(wildcard_match("a*b*c", "axxbyyc"));
    assert!(!wildcard_match("a*b*c", "axxcyyb"));
    assert!(!wildcard_match("ab*ba", "aba"));
}
