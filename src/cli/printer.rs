//! Where every line goes: one printer decides stdout or stderr, quiet, verbose and JSON.
//!
//! The rule (cargo's): results a command exists to produce go to stdout (`show`'s rows, `diff`,
//! `plan`, `dag`, the files a build wrote, `--format json` documents); progress, logs, warnings
//! and errors go to stderr. `-q` silences what is neither a result nor a problem; `--format json`
//! prints one document on stdout and no text.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write;

/// How a command prints.
#[expect(
    clippy::struct_excessive_bools,
    reason = "four independent switches of how to print, each read where it matters"
)]
pub(crate) struct Printer {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
    pub(crate) verbose: bool,
    /// Colour `error:`, `warning:`, `hint:` and failing statuses on stderr: on a terminal unless
    /// `NO_COLOR` is set, or anywhere when `CLICOLOR_FORCE` is.
    color: bool,
    /// The first failure to write to stdout (a closed pipe, a full disk), reported at the end.
    stdout_error: RefCell<Option<std::io::Error>>,
}

impl Printer {
    pub(crate) fn new(json: bool, quiet: bool, verbose: bool) -> Printer {
        Printer {
            json,
            quiet,
            verbose,
            color: wants_color(),
            stdout_error: RefCell::new(None),
        }
    }

    /// True when the command prints text (not JSON).
    pub(crate) fn text(&self) -> bool {
        !self.json
    }

    /// A result, on stdout, as is (the caller ends its lines).
    pub(crate) fn result(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            self.stdout_error.borrow_mut().get_or_insert(e);
        }
    }

    /// A result line, on stdout.
    pub(crate) fn result_line(&self, line: &str) {
        self.result(&format!("{line}\n"));
    }

    /// A result people want unless `-q` (`wrote out/2026-10/rapport_ca.xlsx`), on stdout.
    pub(crate) fn info(&self, line: &str) {
        if self.text() && !self.quiet {
            self.result_line(line);
        }
    }

    /// Progress and logs, on stderr; not with `-q` or `--format json`.
    pub(crate) fn log(&self, text: &str) {
        if self.text() && !self.quiet {
            self.write_stderr(text);
        }
    }

    /// A log line, on stderr; not with `-q` or `--format json`.
    pub(crate) fn log_line(&self, line: &str) {
        self.log(&format!("{line}\n"));
    }

    /// A problem (a failed check, a damaged archive file), on stderr whatever `-q` says; not with
    /// `--format json`, where the document says it.
    pub(crate) fn problem(&self, text: &str) {
        if self.text() {
            self.write_stderr(text);
        }
    }

    /// `warning: …` on stderr, in every format: a warning never changes a result.
    pub(crate) fn warning(&self, message: &str) {
        self.write_stderr(&format!("warning: {message}\n"));
    }

    /// `warning: …` then `hint: …`, on stderr in every format.
    pub(crate) fn warning_with_hint(&self, message: &str, hint: &str) {
        self.write_stderr(&format!("warning: {message}\nhint: {hint}\n"));
    }

    /// An error ending the command: `error:` and `hint:` on stderr, or one JSON object on stdout.
    pub(crate) fn error(&self, message: &str, hint: Option<&str>) {
        if self.json {
            let value = serde_json::json!({"status": "error", "error": message, "hint": hint});
            self.json(&value);
        } else {
            self.write_stderr(&crate::render::build::error(message, hint));
        }
    }

    /// One JSON document, on stdout.
    pub(crate) fn json(&self, value: &impl serde::Serialize) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => self.result_line(&text),
            Err(e) => self.write_stderr(&format!("error: cannot print JSON: {e}\n")),
        }
    }

    fn write_stderr(&self, text: &str) {
        let text = if self.color {
            paint(text)
        } else {
            text.to_string()
        };
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// The first failure to write a result, if any.
    pub(crate) fn take_stdout_error(&self) -> Option<std::io::Error> {
        self.stdout_error.borrow_mut().take()
    }
}

/// Colour on stderr: `CLICOLOR_FORCE` (set, not `0`) asks for it anywhere; `NO_COLOR` (set, not
/// empty) refuses it; otherwise only on a terminal.
fn wants_color() -> bool {
    use std::io::IsTerminal;
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    if set("CLICOLOR_FORCE") {
        return true;
    }
    !set("NO_COLOR") && std::io::stderr().is_terminal()
}

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const CYAN: &str = "\x1b[1;36m";
const GREEN: &str = "\x1b[32m";
const RESET: &str = "\x1b[0m";

/// `text` with its line prefixes (`error:`, `warning:`, `hint:`) and status words (`failed`,
/// `fail`, `warn`, `ran`) coloured, as cargo colours its own.
fn paint(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    for line in text.split_inclusive('\n') {
        let colour = [("error:", RED), ("warning:", YELLOW), ("hint:", CYAN)]
            .iter()
            .find(|(prefix, _)| line.starts_with(prefix));
        if let Some((prefix, colour)) = colour {
            let _ = write!(out, "{colour}{prefix}{RESET}{}", &line[prefix.len()..]);
            continue;
        }
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let word = trimmed.split(' ').next().unwrap_or_default();
        let colour = match word {
            "failed" | "fail" => Some(RED),
            "warn" => Some(YELLOW),
            "ran" => Some(GREEN),
            _ => None,
        };
        match colour {
            Some(colour) if !indent.is_empty() || word == "failed" => {
                let _ = write!(
                    out,
                    "{indent}{colour}{word}{RESET}{}",
                    &trimmed[word.len()..]
                );
            }
            _ => out.push_str(line),
        }
    }
    out
}
