//! `.winebuild/artifacts/manifest.json` and `run_results.json`: written by every build, each
//! naming its format, and valid against the JSON Schemas `winebuild schema` prints (checked here
//! by a validator of the keywords schemars writes, which refuses any keyword it does not know).

use serde_json::Value;

use crate::support::Project;

/// Why `value` does not match `schema` (with `root` for `$ref`), or `None`.
fn violation(root: &Value, schema: &Value, value: &Value, at: &str) -> Option<String> {
    let Some(rules) = schema.as_object() else {
        return (schema == &Value::Bool(false)).then(|| format!("{at}: nothing is allowed"));
    };
    for (keyword, rule) in rules {
        let problem = match keyword.as_str() {
            // Annotations: they describe, they do not constrain.
            "$schema" | "title" | "description" | "$defs" | "format" | "default" => None,
            "$ref" => {
                let name = rule.as_str()?.strip_prefix("#/$defs/")?;
                violation(root, &root["$defs"][name], value, at)
            }
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                    other => vec![other.as_str()?],
                };
                let fits = |t: &str| match t {
                    "null" => value.is_null(),
                    "boolean" => value.is_boolean(),
                    "string" => value.is_string(),
                    "integer" => value.is_i64() || value.is_u64(),
                    "number" => value.is_number(),
                    "array" => value.is_array(),
                    "object" => value.is_object(),
                    _ => false,
                };
                (!types.iter().any(|t| fits(t))).then(|| format!("{at}: {value} is not {types:?}"))
            }
            "enum" => {
                (!rule.as_array()?.contains(value)).then(|| format!("{at}: {value} not in {rule}"))
            }
            "const" => (rule != value).then(|| format!("{at}: {value} is not {rule}")),
            "minimum" => value
                .as_f64()
                .filter(|v| *v < rule.as_f64().unwrap_or(f64::MIN))
                .map(|v| format!("{at}: {v} < {rule}")),
            "oneOf" => {
                let matching = rule
                    .as_array()?
                    .iter()
                    .filter(|s| violation(root, s, value, at).is_none())
                    .count();
                (matching != 1).then(|| format!("{at}: {value} matches {matching} of oneOf"))
            }
            "items" => value.as_array().and_then(|items| {
                items
                    .iter()
                    .enumerate()
                    .find_map(|(i, item)| violation(root, rule, item, &format!("{at}[{i}]")))
            }),
            "required" => value.as_object().and_then(|object| {
                rule.as_array()?
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|field| !object.contains_key(*field))
                    .map(|field| format!("{at}: `{field}` is required"))
            }),
            "properties" => value.as_object().and_then(|object| {
                object.iter().find_map(|(field, v)| {
                    let schema = rule.get(field)?;
                    violation(root, schema, v, &format!("{at}.{field}"))
                })
            }),
            "additionalProperties" => value.as_object().and_then(|object| {
                let known = schema.get("properties").and_then(Value::as_object);
                object
                    .keys()
                    .find(|field| known.is_none_or(|k| !k.contains_key(*field)))
                    .and_then(|field| {
                        violation(root, rule, &object[field], &format!("{at}.{field}"))
                    })
            }),
            other => Some(format!("{at}: the validator does not know `{other}`")),
        };
        if problem.is_some() {
            return problem;
        }
    }
    None
}

fn schema(project: &Project, artifact: &str) -> Value {
    let run = project.run(&["schema", artifact]);
    assert_eq!(run.code, 0, "{}", run.shown());
    serde_json::from_str(&run.stdout).unwrap()
}

fn assert_valid(project: &Project, artifact: &str, document: &Value) {
    let schema = schema(project, artifact);
    if let Some(problem) = violation(&schema, &schema, document, "$") {
        panic!("{artifact} does not match its schema: {problem}");
    }
}

fn artifact(project: &Project, file: &str) -> Value {
    serde_json::from_str(&project.read(&format!(".winebuild/artifacts/{file}"))).unwrap()
}

fn stage<'a>(list: &'a Value, field: &str, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s[field] == name)
        .unwrap_or_else(|| panic!("no `{name}` in {list}"))
}

#[test]
fn a_build_writes_a_manifest_and_run_results_that_match_their_schemas() {
    let project = Project::sample();
    project.build_json(&["2026-09"], 0);
    let manifest = artifact(&project, "manifest.json");
    assert_valid(&project, "manifest", &manifest);
    assert_eq!(manifest["schema"], "winebuild/manifest/v1");
    assert_eq!(manifest["month"], "2026-09");
    let stages = &manifest["stages"];
    assert_eq!(stages.as_array().unwrap().len(), 16);
    let fusion = stage(stages, "name", "fusion");
    assert_eq!(
        fusion["inputs"],
        serde_json::json!(["erp_clean", "liaison_clean", "web_dedup"])
    );
    assert_eq!(fusion["path"], "models/fusion.sql");
    assert_eq!(
        fusion["unit_tests"][0],
        "matches-keys-stored-as-numbers-and-as-text"
    );
    assert_eq!(fusion["key"].as_str().unwrap().len(), 64);
    let ca = stage(stages, "name", "ca");
    assert_eq!(ca["tags"], serde_json::json!(["finance"]));
    assert_eq!(
        ca["description"],
        "Revenue (chiffre d'affaires) per product, largest first."
    );
    assert_eq!(stage(&ca["columns"], "name", "ca")["type"], "Float64");
    let erp_clean = stage(stages, "name", "erp_clean");
    assert_eq!(
        stage(&erp_clean["checks"], "name", "test-nettoyage-erp")["kind"],
        "row_count"
    );
    let report = stage(stages, "name", "rapport_ca");
    assert_eq!(report["file"], "rapport_ca.xlsx");
    assert_eq!(report["path"], "winebuild.toml");

    let results = artifact(&project, "run_results.json");
    assert_valid(&project, "run-results", &results);
    assert_eq!(results["schema"], "winebuild/run_results/v1");
    assert_eq!(
        (results["status"].as_str(), results["exit_code"].as_i64()),
        (Some("success"), Some(0))
    );
    let ran = results["results"].as_array().unwrap();
    assert_eq!(ran.len(), 16);
    assert!(ran.iter().all(|r| r["status"] == "ran"), "{results}");
    assert_eq!(stage(&results["results"], "stage", "premium")["rows"], 30);
}

#[test]
fn a_failed_build_leaves_run_results_that_say_so() {
    let project = Project::sample();
    let expect = project
        .read("data/2026-09/expect.toml")
        .replace("test-nettoyage-erp = 825", "test-nettoyage-erp = 826");
    project.write("data/2026-09/expect.toml", &expect);
    project.build_json(&["2026-09"], 1);
    let results = artifact(&project, "run_results.json");
    assert_valid(&project, "run-results", &results);
    assert_eq!(results["status"], "checks_failed");
    assert_eq!(results["exit_code"], 1);
    let erp_clean = stage(&results["results"], "stage", "erp_clean");
    let check = stage(&erp_clean["checks"], "name", "test-nettoyage-erp");
    assert_eq!(check["status"], "fail");
    assert_eq!(check["message"], "ERP: 825 lignes au lieu de 826");
}

#[test]
fn the_validator_refuses_what_the_schema_does_not_allow() {
    let project = Project::sample();
    project.build_json(&["2026-09"], 0);
    let schema = schema(&project, "run-results");
    let good = artifact(&project, "run_results.json");
    assert!(violation(&schema, &schema, &good, "$").is_none());
    for (field, value) in [
        ("exit_code", serde_json::json!("zero")),
        ("status", serde_json::json!("fine")),
        ("schema", serde_json::json!("winebuild/run_results/v2")),
        ("surprise", serde_json::json!(1)),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        assert!(
            violation(&schema, &schema, &bad, "$").is_some(),
            "{field} accepted"
        );
    }
    let mut bad = good.clone();
    bad.as_object_mut().unwrap().remove("results");
    assert_eq!(
        violation(&schema, &schema, &bad, "$"),
        Some("$: `results` is required".to_string())
    );
}
