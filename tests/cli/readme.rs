//! The README kept true: every `console` block of README.md runs, in order, in one fresh
//! sample project, and prints what the block shows; every `toml` block parses.
//!
//! In a console block, a line `$ command` runs the command (`cargo run --` and `winebuild` are
//! this build's binary, through `sh`, in the project folder); the lines after it, up to the next
//! `$`, are what it prints, stdout and stderr as a terminal shows them. A line `...` stands for
//! any number of lines, `[..]` for any text within a line; durations, hashes, run ids and times
//! match whatever they are. An HTML comment just before a block, invisible on the rendered page,
//! can prepare it: `<!-- readme-test: run: <shell command> -->`, or skip it with a reason:
//! `<!-- readme-test: skip: <why> -->`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{BIN, Project};

/// One `console` block, what prepares it, and where it starts in the README.
struct Block {
    line: usize,
    prepare: Vec<String>,
    skip: Option<String>,
    steps: Vec<(String, Vec<String>)>,
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The blocks of `info` type (`console`, `toml`) with their line numbers, and the directives
/// before each.
fn fenced(text: &str, info: &str) -> Vec<(usize, Vec<String>, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut directives = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        if let Some(directive) = line
            .trim()
            .strip_prefix("<!-- readme-test:")
            .and_then(|d| d.strip_suffix("-->"))
        {
            directives.push(directive.trim().to_string());
            continue;
        }
        if let Some(kind) = line.strip_prefix("```") {
            let body: Vec<String> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| !l.starts_with("```"))
                .map(str::to_string)
                .collect();
            if kind.trim() == info {
                blocks.push((number + 1, std::mem::take(&mut directives), body));
            }
            directives.clear();
            continue;
        }
        assert!(
            line.trim().is_empty() || directives.is_empty(),
            "README line {}: a readme-test directive must come right before a code block",
            number + 1
        );
    }
    blocks
}

fn console_blocks(text: &str) -> Vec<Block> {
    fenced(text, "console")
        .into_iter()
        .map(|(line, directives, body)| {
            let mut block = Block {
                line,
                prepare: Vec::new(),
                skip: None,
                steps: Vec::new(),
            };
            for directive in directives {
                if let Some(command) = directive.strip_prefix("run:") {
                    block.prepare.push(command.trim().to_string());
                } else if let Some(why) = directive.strip_prefix("skip:") {
                    block.skip = Some(why.trim().to_string());
                } else {
                    panic!("README line {line}: unknown directive `{directive}`");
                }
            }
            for text in body {
                match text.strip_prefix("$ ") {
                    Some(command) => block.steps.push((command.to_string(), Vec::new())),
                    None => match block.steps.last_mut() {
                        Some((_, expected)) => expected.push(text),
                        None => panic!("README line {line}: output before any `$` command"),
                    },
                }
            }
            block
        })
        .collect()
}

/// Runs `command` through `sh` in `dir`, with `winebuild` on the PATH; returns what it printed,
/// stdout and stderr in the order it printed them.
fn run(dir: &Path, bin_dir: &Path, command: &str) -> String {
    let command = command.replace("cargo run -- ", "winebuild ");
    let (mut reader, writer) = std::io::pipe().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&command)
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("CLICOLOR_FORCE")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .unwrap();
    let mut printed = String::new();
    reader.read_to_string(&mut printed).unwrap();
    child.wait().unwrap();
    printed
}

/// Durations, hashes, run ids and timestamps, as placeholders: they differ from run to run.
fn normalize(text: &str) -> String {
    let patterns = [
        (r"\s*\b\d+(\.\d+)? m?s\b", " [time]"),
        (r"\b[0-9a-f]{64}\b", "[hash]"),
        (r"\b[0-9a-f]{12}\b", "[hash]"),
        (r"\d{8}T\d{6}\.\d{6}Z", "[run]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[timestamp]"),
    ];
    let mut text = text.trim_end().to_string();
    for (pattern, placeholder) in patterns {
        text = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&text, placeholder)
            .into_owned();
    }
    text
}

/// Whether `actual` is one of the lines `expected` stands for (`[..]` is any text).
fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split("[..]").collect();
    let mut rest = actual;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(after) = rest.strip_prefix(part) else {
                return false;
            };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    rest.is_empty()
}

/// Whether `actual` matches `expected`, where a `...` line stands for any number of lines.
fn lines_match(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first.trim() == "..." => {
            (0..=actual.len()).any(|skip| lines_match(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(line, more)| line_matches(first, line) && lines_match(rest, more)),
    }
}

#[test]
fn every_console_example_of_the_readme_prints_what_it_shows() {
    let text = readme();
    let blocks = console_blocks(&text);
    assert!(blocks.len() > 10, "the README shows its commands");
    let parent = tempfile::tempdir().unwrap();
    let bin_dir = parent.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(BIN, bin_dir.join("winebuild")).unwrap();
    let project = Project::sample();
    let dir: PathBuf = project.path().to_path_buf();
    let mut failures = Vec::new();
    for block in &blocks {
        if block.skip.is_some() {
            continue;
        }
        for command in &block.prepare {
            run(&dir, &bin_dir, command);
        }
        for (command, expected) in &block.steps {
            let printed = run(&dir, &bin_dir, command);
            let actual: Vec<String> =
                normalize(&printed.replace(&dir.display().to_string(), "/srv/cave"))
                    .lines()
                    .map(|l| l.trim_end().to_string())
                    .collect();
            let expected: Vec<String> = normalize(&expected.join("\n"))
                .lines()
                .map(|l| l.trim_end().to_string())
                .collect();
            if !lines_match(&expected, &actual) {
                failures.push(format!(
                    "README line {}: `$ {command}` printed:\n{}\n--- but the README shows:\n{}\n",
                    block.line,
                    actual.join("\n"),
                    expected.join("\n")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_toml_example_of_the_readme_parses() {
    for (line, _, body) in fenced(&readme(), "toml") {
        let text = body.join("\n");
        if let Err(e) = text.parse::<toml::Table>() {
            panic!("README line {line}: the TOML example does not parse: {e}\n{text}");
        }
    }
}

#[test]
fn the_matcher_reads_elisions_and_wildcards() {
    let lines = |text: &str| text.lines().map(str::to_string).collect::<Vec<_>>();
    assert!(lines_match(&lines("a\n...\nd"), &lines("a\nb\nc\nd")));
    assert!(lines_match(&lines("a\n...\nb"), &lines("a\nb")));
    assert!(!lines_match(&lines("a\nc"), &lines("a\nb\nc")));
    assert!(line_matches("wrote [..].csv", "wrote out/x.csv"));
    assert!(!line_matches("wrote [..].csv", "wrote out/x.xlsx"));
    assert_eq!(
        normalize("ran  erp   21 ms  first"),
        "ran  erp [time]  first"
    );
}
