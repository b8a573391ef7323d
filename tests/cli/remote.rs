//! The shared store on a real S3 server (SeaweedFS): machines sharing one bucket, archives
//! claimed by two machines at once, kills during uploads, a server that goes away, forged
//! records, read-only mode, data on object storage, and `remote status | push`, `gc --remote`.

use crate::s3server::{Bucket, S3Server};
use crate::support::{Project, Run};

const BUCKET: &str = "cave";

/// A server with the bucket, and the variables a build needs to share through `prefix` of it.
fn shared(prefix: &str) -> Option<(S3Server, Vec<(&'static str, String)>)> {
    let server = S3Server::start()?;
    server.bucket(BUCKET);
    let mut env = server.env();
    env.push(("WINEBUILD_REMOTE", format!("s3://{BUCKET}/{prefix}")));
    Some((server, env))
}

fn build(project: &Project, env: &[(&str, String)], month: &str) -> Run {
    let run = project.run_env(env, &["build", month, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    run
}

/// Every object of the bucket hashes to its name, and every stage record names an object that
/// is there: what a reader of the bucket relies on.
fn assert_bucket_consistent(bucket: &Bucket, prefix: &str) {
    let listed = bucket.list(prefix);
    let objects: Vec<&String> = listed
        .iter()
        .map(|(key, _)| key)
        .filter(|key| key.contains("/v1/objects/"))
        .collect();
    for key in &objects {
        let name = key.rsplit('/').next().unwrap();
        let bytes = bucket.get(key);
        assert_eq!(
            blake3::hash(&bytes).to_hex().as_str(),
            name,
            "object {key} does not hash to its name"
        );
    }
    for (key, _) in listed.iter().filter(|(key, _)| key.contains("/v1/stages/")) {
        let record: serde_json::Value = serde_json::from_slice(&bucket.get(key)).unwrap();
        let object = record["object"].as_str().unwrap();
        assert!(
            objects.iter().any(|k| k.ends_with(object)),
            "record {key} names object {object}, which the bucket lacks"
        );
    }
}

#[test]
fn a_second_machine_fetches_every_stage_and_diffs_months_it_never_built() {
    let Some((server, env)) = shared("team") else {
        return;
    };
    let ci = Project::sample();
    build(&ci, &env, "2026-09");
    let first = build(&ci, &env, "2026-10");
    assert_eq!(first.with_action("ran").len(), 16, "{}", first.shown());
    assert_bucket_consistent(&server.client(BUCKET), "team");

    let laptop = Project::sample();
    let second = build(&laptop, &env, "2026-10");
    assert!(second.with_action("ran").is_empty(), "{}", second.shown());
    assert_eq!(
        second.with_action("fetched").len(),
        16,
        "{}",
        second.shown()
    );
    let remote = &second.json()["remote"];
    assert!(remote["fetched"].as_u64().unwrap() >= 13, "{remote}");
    assert_eq!(laptop.exports("2026-10"), ci.exports("2026-10"));
    // The archive CI made is the laptop's too: no second revision, the same manifest.
    assert_eq!(second.json()["archived"]["revision"], 1);

    // 2026-09 was only ever built by CI.
    assert!(!laptop.file("archive/2026-09").exists());
    let ours = laptop.run_env(&env, &["diff", "2026-09", "2026-10", "--format", "json"]);
    assert_eq!(ours.code, 0, "{}", ours.shown());
    let theirs = ci.run(&["diff", "2026-09", "2026-10", "--format", "json"]);
    assert_eq!(ours.json()["summary"], theirs.json()["summary"]);
    assert_eq!(ours.json()["models"], theirs.json()["models"]);
    assert_eq!(
        laptop.read("archive/2026-09/r1/manifest.json"),
        ci.read("archive/2026-09/r1/manifest.json")
    );
}

#[test]
fn two_machines_archiving_different_data_for_one_month_get_r1_and_r2() {
    let Some((server, env)) = shared("race") else {
        return;
    };
    let a = Project::sample();
    let b = Project::sample();
    // B's ERP export differs by one stock figure.
    crate::support::edit_xlsx(&b.file("data/2026-09/erp.xlsx"), |rows| {
        rows[1][3] = calamine::Data::Float(77.0);
    });
    let spawn = |project: &Project| {
        let mut command = project.command(&["build", "2026-09", "--format", "json"]);
        command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command.spawn().unwrap()
    };
    let (first, second) = (spawn(&a), spawn(&b));
    let outputs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let mut revisions = Vec::new();
    for output in &outputs {
        let shown = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{shown}");
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        revisions.push(report["archived"]["revision"].as_u64().unwrap());
    }
    revisions.sort_unstable();
    assert_eq!(revisions, [1, 2]);
    let manifests: Vec<String> = server
        .client(BUCKET)
        .list("race/v1/archive/2026-09")
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(
        manifests,
        [
            "race/v1/archive/2026-09/r1.json",
            "race/v1/archive/2026-09/r2.json"
        ]
    );
    // Each machine's local revision is the one it claimed, and a third sees both.
    let c = Project::sample();
    let list = c.run_env(&env, &["archive", "list", "--format", "json"]);
    assert_eq!(list.code, 0, "{}", list.shown());
    let listed = list.json();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
}

#[test]
fn kills_during_uploads_never_leave_an_object_that_does_not_match_its_name() {
    let Some((server, env)) = shared("kills") else {
        return;
    };
    let bucket = server.client(BUCKET);
    let points: u64 = std::env::var("WINEBUILD_KILL_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    for point in 0..points {
        let project = Project::sample();
        let mut command = project.command(&["build", "2026-10", "-q"]);
        command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let mut child = command.spawn().unwrap();
        // Spread over the build: early (sources uploading) to late (archive claim).
        std::thread::sleep(std::time::Duration::from_millis(40 + point * 60));
        let _ = child.kill();
        let _ = child.wait();
        assert_bucket_consistent(&bucket, "kills");
    }
    // What the killed builds left is good to reuse.
    let last = Project::sample();
    let run = build(&last, &env, "2026-10");
    let clean = Project::sample();
    clean.build_json(&["2026-10"], 0);
    assert_eq!(
        last.exports("2026-10"),
        clean.exports("2026-10"),
        "{}",
        run.shown()
    );
}

#[test]
fn a_server_that_goes_away_is_one_warning_and_the_build_finishes_locally() {
    let Some((mut server, env)) = shared("away") else {
        return;
    };
    let project = Project::sample();
    build(&project, &env, "2026-08");
    server.stop();
    let run = project.run_env(&env, &["build", "2026-09"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: remote"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.shown());
    assert!(
        warnings[0].contains("s3://cave/away` is unreachable"),
        "{}",
        run.shown()
    );
    assert!(
        run.stderr.contains("hint: check the address"),
        "{}",
        run.shown()
    );
    assert!(project.file("out/2026-09/rapport_ca.xlsx").is_file());
    assert!(project.file("archive/2026-09/r1/manifest.json").is_file());
}

#[test]
fn a_server_stopped_in_the_middle_of_a_build_leaves_the_build_whole() {
    let Some((mut server, env)) = shared("middle") else {
        return;
    };
    let project = Project::empty();
    // Big enough that the build outlasts the server by a second or more.
    let sample = project.run(&["sample", ".", "--scale", "20", "--month", "2026-09", "-q"]);
    assert_eq!(sample.code, 0, "{}", sample.shown());
    let mut command = project.command(&["build", "2026-09", "--format", "json"]);
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    server.stop();
    let output = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["status"], "success", "{report}");
    let fault = report["remote"]["fault"].as_str().unwrap_or_default();
    assert!(fault.contains("is unreachable"), "{report}");
    // Whatever reached the server, the month is built and archived here.
    let clean = Project::empty();
    clean.run(&["sample", ".", "--scale", "20", "--month", "2026-09", "-q"]);
    clean.build_json(&["2026-09"], 0);
    assert_eq!(project.exports("2026-09"), clean.exports("2026-09"));
}

#[test]
fn with_a_key_a_forged_or_unsealed_record_is_a_miss_and_a_warning() {
    let Some((server, mut env)) = shared("sealed") else {
        return;
    };
    env.push(("WINEBUILD_REMOTE_KEY", "team secret".into()));
    let ci = Project::sample();
    build(&ci, &env, "2026-10");
    let bucket = server.client(BUCKET);
    let records: Vec<String> = bucket
        .list("sealed/v1/stages")
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert!(
        records
            .iter()
            .all(|key| bucket.get(key).starts_with(b"winebuild-seal "))
    );
    // Forge the record of `ca_total`: claim another object, keep the seal line.
    let ca_total = records
        .iter()
        .find(|key| String::from_utf8_lossy(&bucket.get(key)).contains("\"stage\": \"ca_total\""))
        .unwrap()
        .clone();
    let forged =
        String::from_utf8_lossy(&bucket.get(&ca_total)).replace("\"rows\": 1", "\"rows\": 2");
    bucket.put(&ca_total, forged.as_bytes());
    // And strip the seal off the record of `premium`.
    let premium = records
        .iter()
        .find(|key| String::from_utf8_lossy(&bucket.get(key)).contains("\"stage\": \"premium\""))
        .unwrap()
        .clone();
    let sealed = bucket.get(&premium);
    let body = &sealed[sealed.iter().position(|&b| b == b'\n').unwrap() + 1..];
    bucket.put(&premium, body);

    let laptop = Project::sample();
    let run = build(&laptop, &env, "2026-10");
    let mut ran = run.with_action("ran");
    ran.sort();
    assert_eq!(ran, ["ca_total", "premium"], "{}", run.shown());
    let warnings = run.json()["remote"]["warnings"].to_string();
    assert!(warnings.contains("its seal does not match"), "{warnings}");
    assert!(warnings.contains("it carries no seal"), "{warnings}");
    assert_eq!(laptop.exports("2026-10"), ci.exports("2026-10"));
}

#[test]
fn read_only_mode_fetches_and_never_writes() {
    let Some((server, mut env)) = shared("readonly") else {
        return;
    };
    let ci = Project::sample();
    build(&ci, &env, "2026-10");
    let bucket = server.client(BUCKET);
    let before = bucket.list("readonly");
    env.push(("WINEBUILD_REMOTE_WRITE", "0".into()));
    let laptop = Project::sample();
    let fetched = build(&laptop, &env, "2026-10");
    assert_eq!(
        fetched.with_action("fetched").len(),
        16,
        "{}",
        fetched.shown()
    );
    let built = build(&laptop, &env, "2026-09");
    assert_eq!(built.with_action("ran").len(), 16, "{}", built.shown());
    assert_eq!(bucket.list("readonly"), before);
    let push = laptop.run_env(&env, &["remote", "push"]);
    assert_eq!(push.code, 2, "{}", push.shown());
    assert!(
        push.stderr.contains("is read-only here"),
        "{}",
        push.shown()
    );
}

#[test]
fn wrong_credentials_and_a_missing_bucket_are_warnings_that_name_them() {
    let Some((_server, env)) = shared("creds") else {
        return;
    };
    let project = Project::sample();
    let mut wrong = env.clone();
    wrong.push(("AWS_SECRET_ACCESS_KEY", "not-the-secret".into()));
    let run = project.run_env(&wrong, &["build", "2026-10"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    assert!(
        run.stderr
            .contains("warning: remote `s3://cave/creds` refused the credentials"),
        "{}",
        run.shown()
    );
    assert!(
        run.stderr
            .contains("AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"),
        "{}",
        run.shown()
    );
    let mut missing = env.clone();
    missing.push(("WINEBUILD_REMOTE", "s3://no-such-bucket/x".into()));
    let run = project.run_env(&missing, &["build", "2026-09"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    assert!(
        run.stderr.contains("no bucket `no-such-bucket` there"),
        "{}",
        run.shown()
    );
    assert!(
        run.stderr
            .contains("hint: create the bucket `no-such-bucket`"),
        "{}",
        run.shown()
    );
    let status = project.run_env(&missing, &["remote", "status"]);
    assert_eq!(status.code, 2, "{}", status.shown());
}

#[test]
fn month_folders_on_object_storage_are_read_hashed_and_rebuilt_when_they_change() {
    let Some((server, env)) = shared("unused") else {
        return;
    };
    let bucket = server.client(BUCKET);
    let local = Project::sample();
    for month in ["2026-09", "2026-10"] {
        for file in ["erp.xlsx", "liaison.xlsx", "web.xlsx", "expect.toml"] {
            let bytes = std::fs::read(local.file(&format!("data/{month}/{file}"))).unwrap();
            bucket.put(&format!("exports/{month}/{file}"), &bytes);
        }
    }
    let remote = Project::sample();
    remote.remove("data");
    let toml = remote.read("winebuild.toml").replace(
        "data = \"data/{month}\"",
        "data = \"s3://cave/exports/{month}\"",
    );
    remote.write("winebuild.toml", &toml);
    let env: Vec<(&str, String)> = env
        .into_iter()
        .filter(|(k, _)| *k != "WINEBUILD_REMOTE")
        .collect();
    let first = build(&remote, &env, "2026-10");
    assert_eq!(first.with_action("ran").len(), 16, "{}", first.shown());
    local.build_json(&["2026-10"], 0);
    assert_eq!(remote.exports("2026-10"), local.exports("2026-10"));
    // Unchanged objects are not read again; a rewritten one is.
    let again = build(&remote, &env, "2026-10");
    assert!(again.with_action("ran").is_empty(), "{}", again.shown());
    let web_09 = std::fs::read(local.file("data/2026-09/web.xlsx")).unwrap();
    bucket.put("exports/2026-10/web.xlsx", &web_09);
    let changed = remote.run_env(&env, &["build", "2026-10", "--format", "json"]);
    assert!(
        changed.with_action("ran").contains(&"web".to_string()),
        "{}",
        changed.shown()
    );
    let latest = remote.run_env(&env, &["plan", "--format", "json"]);
    assert_eq!(latest.json()["month"], "2026-10", "{}", latest.shown());
    let missing = remote.run_env(&env, &["build", "2026-11"]);
    assert_eq!(missing.code, 2, "{}", missing.shown());
    assert!(
        missing
            .stderr
            .contains("`s3://cave/exports/2026-11` does not exist"),
        "{}",
        missing.shown()
    );
}

#[test]
fn push_uploads_what_was_built_offline_and_gc_keeps_what_is_referenced() {
    let Some((server, env)) = shared("push") else {
        return;
    };
    let offline = Project::sample();
    offline.build_json(&["2026-09"], 0);
    offline.build_json(&["2026-10"], 0);
    let push = offline.run_env(&env, &["remote", "push"]);
    assert_eq!(push.code, 0, "{}", push.shown());
    assert!(
        push.stdout.contains("archived 2026-09 r1 on the remote"),
        "{}",
        push.shown()
    );
    let status = offline.run_env(&env, &["remote", "status", "--format", "json"]);
    assert_eq!(status.code, 0, "{}", status.shown());
    let status = status.json();
    assert_eq!(
        status["contents"]["months"],
        serde_json::json!(["2026-09", "2026-10"])
    );
    assert_eq!(status["archive"].as_array().unwrap().len(), 2, "{status}");
    assert_eq!(status["contents"]["stage_records"], 32, "{status}");
    assert_bucket_consistent(&server.client(BUCKET), "push");

    // An object nothing names, then gc: it goes, everything named stays.
    let bucket = server.client(BUCKET);
    let stray = b"nobody names me";
    let name = blake3::hash(stray).to_hex().to_string();
    bucket.put(&format!("push/v1/objects/{}/{name}", &name[..2]), stray);
    let kept = offline.run_env(&env, &["gc", "--remote", "--format", "json"]);
    assert_eq!(
        kept.json()["remote"]["objects"],
        0,
        "young objects stay: {}",
        kept.shown()
    );
    let gc = offline.run_env(
        &env,
        &["gc", "--remote", "--grace", "0", "--format", "json"],
    );
    assert_eq!(gc.code, 0, "{}", gc.shown());
    assert_eq!(gc.json()["remote"]["objects"], 1, "{}", gc.shown());
    let laptop = Project::sample();
    let fetched = build(&laptop, &env, "2026-10");
    assert_eq!(
        fetched.with_action("fetched").len(),
        16,
        "{}",
        fetched.shown()
    );
}
