//! Models on a real Ballista cluster: `winebuild cluster scheduler` and two `winebuild cluster
//! executor` processes on free loopback ports, with the shared store on SeaweedFS. The sample
//! month built there equals a local build byte for byte, and a laptop without the cluster reuses
//! it; an executor killed in the middle of a query; a scheduler that is down, or has no executor.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::s3server::{S3Server, free_port};
use crate::support::{BIN, Project, Run, snapshot_settings, stage};

const BUCKET: &str = "cave";
const MONTH: &str = "2026-10";

/// A query the cluster never answers fails after this, so a test cannot hang CI.
const QUERIES_END: &str = "\n[build]\nstage_timeout = \"3m\"\n";

/// Two free ports in a row, for an executor's Flight and gRPC ports.
fn free_port_pair() -> u16 {
    loop {
        let port = free_port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// A scheduler and its executors, each a `winebuild cluster …` process, killed when dropped.
struct Cluster {
    url: String,
    http: String,
    scheduler: Child,
    executors: Vec<Child>,
    env: Vec<(&'static str, String)>,
    logs: tempfile::TempDir,
}

impl Cluster {
    /// A scheduler that takes a silent executor for dead after 4 s, and `executors` executors.
    fn start(env: &[(&'static str, String)], executors: usize) -> Cluster {
        let port = free_port();
        let logs = tempfile::tempdir().unwrap();
        let scheduler = Command::new(BIN)
            .args(["cluster", "scheduler", "--executor-timeout", "4", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(logs.path().join("scheduler.log")).unwrap())
            .spawn()
            .unwrap();
        let mut cluster = Cluster {
            url: format!("df://127.0.0.1:{port}"),
            http: format!("http://127.0.0.1:{port}"),
            scheduler,
            executors: Vec::new(),
            env: env.to_vec(),
            logs,
        };
        for _ in 0..executors {
            cluster.add_executor();
        }
        cluster.wait_for_executors(executors);
        cluster
    }

    fn add_executor(&mut self) {
        let port = free_port_pair();
        let n = self.executors.len();
        let child = Command::new(BIN)
            .args([
                "cluster",
                "executor",
                "--slots",
                "2",
                "--scheduler",
                &self.url,
                "--bind",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.logs.path().join(format!("executor{n}.log"))).unwrap(),
            )
            .spawn()
            .unwrap();
        self.executors.push(child);
    }

    /// The scheduler's REST API, as JSON.
    fn api(&self, path: &str) -> Option<serde_json::Value> {
        let mut response = ureq::get(&format!("{}{path}", self.http)).call().ok()?;
        response.body_mut().read_json().ok()
    }

    fn wait_for_executors(&self, count: usize) {
        let started = Instant::now();
        loop {
            let registered = self
                .api("/api/executors")
                .and_then(|v| v.as_array().map(Vec::len));
            if registered == Some(count) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_mins(1),
                "the cluster never had {count} executors (has {registered:?}):\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the scheduler runs a job.
    fn wait_for_a_running_job(&self) {
        let started = Instant::now();
        loop {
            let running = self.api("/api/jobs").is_some_and(|jobs| {
                jobs.as_array()
                    .is_some_and(|jobs| jobs.iter().any(|j| j["status"] == "Running"))
            });
            if running {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_mins(2),
                "no job ever ran:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logs(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(self.logs.path()).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            let _ = writeln!(
                all,
                "--- {}\n{}",
                path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        all
    }

    /// The variables a build needs to send its models here.
    fn build_env(&self, prefix: &str) -> Vec<(&'static str, String)> {
        let mut env = self.env.clone();
        env.push(("WINEBUILD_REMOTE", format!("s3://{BUCKET}/{prefix}")));
        env.push(("WINEBUILD_CLUSTER", self.url.clone()));
        env
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A SeaweedFS server with the bucket, and the variables that reach it.
fn s3() -> Option<(S3Server, Vec<(&'static str, String)>)> {
    let server = S3Server::start()?;
    server.bucket(BUCKET);
    let env = server.env();
    Some((server, env))
}

/// The engine `.winebuild/artifacts/run_results.json` gives `stage`.
fn engine_in_run_results(project: &Project, stage: &str) -> String {
    let results: serde_json::Value =
        serde_json::from_str(&project.read(".winebuild/artifacts/run_results.json")).unwrap();
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == stage)
        .and_then(|s| s["engine"].as_str())
        .unwrap()
        .to_string()
}

/// Each stage's (action, engine, object) in a `--format json` build.
fn stages(run: &Run) -> BTreeMap<String, (String, String, String)> {
    run.json()["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_string(),
                (
                    s["action"].as_str().unwrap().to_string(),
                    s["engine"].as_str().unwrap().to_string(),
                    s["object"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn the_sample_month_built_on_a_cluster_equals_a_local_build_and_a_laptop_reuses_it() {
    let Some((_server, env)) = s3() else { return };
    let cluster = Cluster::start(&env, 2);

    let local = Project::sample();
    let here = local.run(&["build", MONTH, "--format", "json"]);
    assert_eq!(here.code, 0, "{}", here.shown());

    let project = Project::sample();
    project.write(
        "winebuild.toml",
        &(project.read("winebuild.toml") + QUERIES_END),
    );
    let built = project.run_env(
        &cluster.build_env("team"),
        &["build", MONTH, "--format", "json"],
    );
    assert_eq!(built.code, 0, "{}\n{}", built.shown(), cluster.logs());
    let on_cluster = stages(&built);
    let at_home = stages(&here);
    for (name, (action, engine, object)) in &on_cluster {
        let kind = stage(&built.json(), name)["kind"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(action, "ran", "{name}");
        let expected = if kind == "model" { "cluster" } else { "local" };
        assert_eq!(engine, expected, "{name} ({kind})");
        // The same bytes, so the same objects and keys as a build on one machine.
        assert_eq!(
            object, &at_home[name].2,
            "{name}'s output differs from a local build's"
        );
    }
    assert_eq!(project.exports(MONTH), local.exports(MONTH));
    assert_eq!(engine_in_run_results(&project, "fusion"), "cluster");
    assert_eq!(engine_in_run_results(&project, "web"), "local");

    // What people see: the models a cluster built are marked, in the build and in the log.
    let text = project.run_env(
        &cluster.build_env("team"),
        &["build", MONTH, "--force", "--quiet"],
    );
    assert_eq!(text.code, 0, "{}", text.shown());
    let log = project.run(&["log", "last"]);
    assert!(log.stdout.contains("ran  fusion"), "{}", log.stdout);
    let marked: Vec<&str> = log
        .stdout
        .lines()
        .filter(|l| l.ends_with("[cluster]"))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        marked,
        [
            "erp_clean",
            "liaison_clean",
            "web_clean",
            "web_dedup",
            "fusion",
            "ca",
            "price_zscore",
            "ca_total",
            "ordinaires",
            "premium"
        ]
    );
    let report = project.run(&["report", MONTH]);
    assert_eq!(report.code, 0, "{}", report.shown());
    let html = project.read(&format!("out/{MONTH}/report.html"));
    assert_eq!(html.matches("engine-cluster").count(), 10, "one per model");

    // A laptop with the shared store and no cluster reuses every stage the cluster built.
    let laptop = Project::sample();
    let mut laptop_env = env.clone();
    laptop_env.push(("WINEBUILD_REMOTE", format!("s3://{BUCKET}/team")));
    let fetched = laptop.run_env(&laptop_env, &["build", MONTH, "--format", "json"]);
    assert_eq!(fetched.code, 0, "{}", fetched.shown());
    for (name, (action, engine, object)) in stages(&fetched) {
        if on_cluster[&name].1 == "cluster" {
            assert_eq!(
                (action.as_str(), engine.as_str()),
                ("fetched", "cluster"),
                "{name}"
            );
        }
        assert_eq!(object, on_cluster[&name].2, "{name}");
    }
    assert_eq!(laptop.exports(MONTH), local.exports(MONTH));

    let status = project.run_env(&cluster.build_env("team"), &["cluster", "status"]);
    assert_eq!(status.code, 0, "{}", status.shown());
    let mut settings = snapshot_settings(&project);
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    // After the hash filters, which take a UUID's last group for a short hash.
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-(\[hash\]|[0-9a-f]{12})",
        "[executor]",
    );
    settings.add_filter(r"heard [0-9.]+ m?s ago", "heard [time] ago");
    settings.bind(|| insta::assert_snapshot!("cluster_status", status.stdout));
}

/// The sample project with `lent`, a model that runs for seconds (a cross join), the only one
/// sent to the cluster: the others are below `cluster_min_rows`.
fn slow_model_project() -> Project {
    let project = Project::sample();
    let toml = project.read("winebuild.toml")
        + "\n[engine]\ncluster_min_rows = 1000000000\n"
        + QUERIES_END;
    project.write("winebuild.toml", &toml);
    project.write(
        "models/lent.sql",
        "-- inputs = [\"web_clean\"]\n-- engine = \"cluster\"\n\nSELECT COUNT(*) AS pairs\nFROM web_clean AS a\nCROSS JOIN web_clean AS b\nCROSS JOIN (SELECT total_sales FROM web_clean ORDER BY sku LIMIT 400) AS c\nWHERE a.total_sales + b.total_sales > c.total_sales\n",
    );
    project
}

/// `build --format json` started in the background.
fn spawn_build(project: &Project, env: &[(&'static str, String)]) -> Child {
    let mut build = project.command(&["build", MONTH, "--format", "json"]);
    build.envs(env.iter().map(|(k, v)| (k, v)));
    build
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finished(child: Child) -> Run {
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn an_executor_killed_in_the_middle_of_a_query_costs_a_rerun_on_another_not_a_wrong_result() {
    let Some((_server, env)) = s3() else { return };
    let mut cluster = Cluster::start(&env, 1);
    let project = slow_model_project();
    let running = spawn_build(&project, &cluster.build_env("kill"));

    // The one executor runs `lent`; a second one joins; the first dies mid-query.
    cluster.wait_for_a_running_job();
    cluster.add_executor();
    cluster.wait_for_executors(2);
    cluster.executors[0].kill().unwrap();
    let run = finished(running);
    assert_eq!(run.code, 0, "{}\n{}", run.shown(), cluster.logs());
    let report = run.json();
    assert_eq!(stage(&report, "lent")["engine"], "cluster");
    assert_eq!(stage(&report, "fusion")["engine"], "local");
    cluster.wait_for_executors(1);

    // The rerun counted what a local run counts.
    let local = Project::sample();
    local.write("models/lent.sql", &project.read("models/lent.sql"));
    let here = local.run(&["build", MONTH, "--select", "+lent", "--format", "json"]);
    assert_eq!(here.code, 0, "{}", here.shown());
    assert_eq!(
        stage(&report, "lent")["object"],
        stage(&here.json(), "lent")["object"]
    );
    assert_eq!(project.show("lent", MONTH), local.show("lent", MONTH));
}

#[test]
fn a_scheduler_that_is_down_or_has_no_executor_fails_the_models_naming_it_or_falls_back() {
    let store = tempfile::tempdir().unwrap();
    let remote = format!("file://{}", store.path().display());
    let project = Project::sample();
    let down = format!("df://127.0.0.1:{}", free_port());
    let env = vec![
        ("WINEBUILD_REMOTE", remote.clone()),
        ("WINEBUILD_CLUSTER", down.clone()),
    ];
    let run = project.run_env(&env, &["build", MONTH]);
    assert_eq!(run.code, 2, "{}", run.shown());
    let mut settings = snapshot_settings(&project);
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    settings.add_filter(r"os error \d+", "os error [n]");
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:") || l.starts_with("hint:"))
        .take(2)
        .collect();
    let errors = errors.join("\n") + "\n";
    settings.bind(|| insta::assert_snapshot!("cluster_scheduler_down", errors));
    // Nothing of the models was stored: the next build without the cluster runs them all.
    let json = project.run_env(&env, &["build", MONTH, "--format", "json"]);
    for (name, (action, _, _)) in stages(&json) {
        let kind = stage(&json.json(), &name)["kind"]
            .as_str()
            .unwrap()
            .to_string();
        if kind == "model" {
            assert!(
                action == "failed" || action == "skipped",
                "{name}: {action}"
            );
        }
    }
    let status = project.run_env(&env, &["cluster", "status"]);
    assert_eq!(status.code, 2, "{}", status.shown());
    assert!(
        status.stderr.contains("is unreachable"),
        "{}",
        status.stderr
    );

    // With `fallback = "local"`, the models run here, with one warning.
    let toml = project.read("winebuild.toml") + "\n[engine]\nfallback = \"local\"\n";
    project.write("winebuild.toml", &toml);
    let fell_back = project.run_env(&env, &["build", MONTH, "--format", "json"]);
    assert_eq!(fell_back.code, 0, "{}", fell_back.shown());
    let warnings: Vec<String> = fell_back.json()["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["warnings"].as_array().unwrap().iter())
        .filter_map(|w| {
            w.as_str()
                .filter(|w| w.contains("cluster"))
                .map(str::to_string)
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("models run here instead"),
        "{warnings:?}"
    );
    assert!(
        stages(&fell_back)
            .values()
            .all(|(_, engine, _)| engine == "local")
    );
    let local = Project::sample();
    assert_eq!(local.run(&["build", MONTH]).code, 0);
    assert_eq!(project.exports(MONTH), local.exports(MONTH));

    // A scheduler with no executor is said so, before any query waits on it.
    let cluster = Cluster::start(&[], 0);
    let other = Project::sample();
    let empty_store = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "WINEBUILD_REMOTE",
            format!("file://{}", empty_store.path().display()),
        ),
        ("WINEBUILD_CLUSTER", cluster.url.clone()),
    ];
    let run = other.run_env(&env, &["build", MONTH]);
    assert_eq!(run.code, 2, "{}", run.shown());
    assert!(
        run.stderr.contains(&format!(
            "error: the cluster scheduler {} has no executor",
            cluster.url
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: start one with `winebuild cluster executor --scheduler")
    );
}

#[test]
fn a_scheduler_or_executor_that_cannot_start_says_why_with_exit_code_2() {
    let project = Project::empty();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let run = project.run(&["cluster", "scheduler", "--bind", &address]);
    assert_eq!(run.code, 2, "{}", run.shown());
    assert!(
        run.stderr
            .contains(&format!("error: cannot start the scheduler: {address}: ")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: is --bind free"),
        "{}",
        run.stderr
    );

    let run = project.run(&["cluster", "executor", "--scheduler", "http://x:1"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    assert!(
        run.stderr.contains(
            "error: --scheduler `http://x:1` is not a scheduler address: it must start with df://"
        ),
        "{}",
        run.stderr
    );
    let run = project.run(&["cluster", "status"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    assert!(run.stderr.contains("winebuild.toml"), "{}", run.stderr);
}

#[test]
fn a_scheduler_killed_in_the_middle_of_a_query_fails_the_model_and_keeps_nothing() {
    let Some((_server, env)) = s3() else { return };
    let mut cluster = Cluster::start(&env, 1);
    let project = slow_model_project();
    let running = spawn_build(&project, &cluster.build_env("gone"));
    cluster.wait_for_a_running_job();
    cluster.scheduler.kill().unwrap();
    let run = finished(running);
    assert_eq!(run.code, 2, "{}", run.shown());
    let lent = stage(&run.json(), "lent").clone();
    assert_eq!(lent["action"], "failed");
    let error = lent["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "model `lent` failed on the cluster {}: ",
            cluster.url
        )),
        "{error}"
    );
    assert!(
        lent["hint"]
            .as_str()
            .unwrap()
            .contains("nothing of this stage was kept")
    );
    // Nothing of it was stored: built here next, it runs (and everything else is reused).
    let mut here = cluster.build_env("gone");
    here.retain(|(name, _)| *name != "WINEBUILD_CLUSTER");
    let next = project.run_env(&here, &["build", MONTH, "--format", "json"]);
    assert_eq!(next.code, 0, "{}", next.shown());
    assert_eq!(next.with_action("ran"), ["lent"]);
}
