//! Where every line goes: one printer decides stdout or stderr, quiet, verbose and JSON.
//!
//! The rule (cargo's): results a command exists to produce go to stdout (`show`'s rows, `diff`,
//! `plan`, `dag`, the files a build wrote, `--format json` documents); progress, logs, warnings
//! and errors go to stderr. `-q` silences what is neither a result nor a problem; `--format json`
//! prints one document on stdout and no text.

use std::cell::RefCell;
use std::io::Write;

/// How a command prints.
pub(crate) struct Printer {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
    pub(crate) verbose: bool,
    /// The first failure to write to stdout (a closed pipe, a full disk), reported at the end.
    stdout_error: RefCell<Option<std::io::Error>>,
}

impl Printer {
    pub(crate) fn new(json: bool, quiet: bool, verbose: bool) -> Printer {
        Printer {
            json,
            quiet,
            verbose,
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
            write_stderr(text);
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
            write_stderr(text);
        }
    }

    /// `warning: …` on stderr, in every format: a warning never changes a result.
    #[expect(
        clippy::unused_self,
        reason = "a method, like every other line the printer prints, so callers need not know"
    )]
    pub(crate) fn warning(&self, message: &str) {
        write_stderr(&format!("warning: {message}\n"));
    }

    /// An error ending the command: `error:` and `hint:` on stderr, or one JSON object on stdout.
    pub(crate) fn error(&self, message: &str, hint: Option<&str>) {
        if self.json {
            let value = serde_json::json!({"status": "error", "error": message, "hint": hint});
            self.json(&value);
        } else {
            write_stderr(&crate::render::build::error(message, hint));
        }
    }

    /// One JSON document, on stdout.
    pub(crate) fn json(&self, value: &impl serde::Serialize) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => self.result_line(&text),
            Err(e) => write_stderr(&format!("error: cannot print JSON: {e}\n")),
        }
    }

    /// The first failure to write a result, if any.
    pub(crate) fn take_stdout_error(&self) -> Option<std::io::Error> {
        self.stdout_error.borrow_mut().take()
    }
}

fn write_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
