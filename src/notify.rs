//! Notifications after a build: a JSON webhook, or an e-mail through Resend's HTTP API.
//!
//! Rules it keeps:
//! - a notification never changes a build's outcome or exit code: failures to deliver are
//!   reported as warnings;
//! - each delivery is tried up to [`ATTEMPTS`] times with exponential backoff, except when the
//!   server refuses the request itself (a 4xx other than 429), which no retry can fix;
//! - the Resend token comes from an environment variable, never from the project file.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::build::{Action, BuildReport, ExitStatus};
use crate::checks::CheckStatus;
use crate::project::spec::Channel;
use crate::project::{NotifyKind, NotifyTarget, Project};

/// One try and up to three retries.
pub(crate) const ATTEMPTS: u32 = 4;
/// Delay before the first retry; doubled before each next one.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const TIMEOUT: Duration = Duration::from_secs(15);

/// What became of one notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Delivery {
    pub(crate) kind: NotifyKind,
    /// The URL posted to (never the token).
    pub(crate) target: String,
    pub(crate) delivered: bool,
    pub(crate) attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// Sends every notification the project asks for after `report`; returns what happened to each.
pub(crate) fn notify(project: &Project, report: &BuildReport) -> Vec<Delivery> {
    let failed = report.exit_status() != ExitStatus::Success;
    let payload = payload(project, report);
    project
        .notify
        .iter()
        .filter(|target| failed || target.on_success)
        .map(|target| deliver(target, &payload))
        .collect()
}

/// Says that a build could not run at all (no data for the month, a project that does not
/// load): the most likely failure of a scheduled build, and the one most worth hearing about.
/// `project` is the project's name; `month` the month asked for, if any.
pub(crate) fn notify_error(
    project: &str,
    targets: &[NotifyTarget],
    month: Option<&str>,
    error: &str,
    hint: Option<&str>,
) -> Vec<Delivery> {
    let subject = format!(
        "winebuild {project}{}: the build could not run",
        month.map(|m| format!(" {m}")).unwrap_or_default()
    );
    let mut text = format!("{subject}\n\n✗ {error}\n");
    if let Some(hint) = hint {
        let _ = writeln!(text, "  {hint}");
    }
    let payload = json!({
        "project": project,
        "month": month,
        "status": "error",
        "run_id": null,
        "stages": {},
        "failed_checks": [],
        "errors": [{"stage": null, "error": error, "hint": hint}],
        "warnings": [],
        "subject": subject,
        "text": text,
    });
    targets
        .iter()
        .map(|target| deliver(target, &payload))
        .collect()
}

/// The JSON a webhook receives: what failed, with each failed check's alert, and the warnings.
pub(crate) fn payload(project: &Project, report: &BuildReport) -> Value {
    let failed_checks: Vec<Value> = report
        .checks()
        .filter(|c| c.status == CheckStatus::Fail)
        .map(|c| json!({"check": c.check, "model": c.model, "message": c.message, "examples": c.examples}))
        .collect();
    let warnings: Vec<Value> = report
        .checks()
        .filter(|c| c.status == CheckStatus::Warn)
        .map(|c| json!({"check": c.check, "model": c.model, "message": c.message}))
        .collect();
    let errors: Vec<Value> = report
        .stages
        .iter()
        .filter(|s| s.error.is_some())
        .map(|s| json!({"stage": s.stage, "error": s.error, "hint": s.hint}))
        .collect();
    json!({
        "project": project.name,
        "month": report.month,
        "status": report.status,
        "run_id": report.run_id,
        "started_at": report.started_at,
        "duration_ms": report.duration_ms,
        "stages": {
            "ran": report.count(Action::Ran),
            "reused": report.count(Action::Reused),
            "fetched": report.count(Action::Fetched),
            "failed": report.count(Action::Failed),
            "skipped": report.count(Action::Skipped),
        },
        "failed_checks": failed_checks,
        "errors": errors,
        "warnings": warnings,
        "subject": subject(project, report),
        "text": text(project, report),
    })
}

fn subject(project: &Project, report: &BuildReport) -> String {
    let failed = report
        .checks()
        .filter(|c| c.status == CheckStatus::Fail)
        .count();
    let outcome = match report.exit_status() {
        ExitStatus::Success => "built".to_string(),
        ExitStatus::Problems => format!("{failed} check(s) failed"),
        ExitStatus::Error => format!("{} stage(s) could not run", report.errors()),
    };
    format!("winebuild {} {}: {outcome}", project.name, report.month)
}

/// The plain-text body of an e-mail: the same facts as the payload, for people.
fn text(project: &Project, report: &BuildReport) -> String {
    let mut lines = vec![subject(project, report), String::new()];
    for check in report.checks().filter(|c| c.status == CheckStatus::Fail) {
        lines.push(format!(
            "✗ {} ({}): {}",
            check.check, check.model, check.message
        ));
        lines.extend(check.examples.iter().map(|e| format!("    {e}")));
    }
    for stage in report.stages.iter().filter(|s| s.error.is_some()) {
        lines.push(format!(
            "✗ {}: {}",
            stage.stage,
            stage.error.as_deref().unwrap_or_default()
        ));
    }
    for check in report.checks().filter(|c| c.status == CheckStatus::Warn) {
        lines.push(format!(
            "! {} ({}): {}",
            check.check, check.model, check.message
        ));
    }
    lines.push(String::new());
    lines.push(format!(
        "{} ran, {} reused, {} failed, {} skipped · run {}",
        report.count(Action::Ran),
        report.count(Action::Reused) + report.count(Action::Fetched),
        report.count(Action::Failed),
        report.count(Action::Skipped),
        report.run_id
    ));
    lines.join("\n")
}

fn deliver(target: &NotifyTarget, payload: &Value) -> Delivery {
    let kind = target.kind();
    let (url, body, token) = match &target.channel {
        Channel::Webhook { url } => (url.clone(), payload.clone(), None),
        Channel::Resend {
            url,
            from,
            to,
            token_env,
        } => {
            let Ok(token) = std::env::var(token_env) else {
                return Delivery {
                    kind,
                    target: url.clone(),
                    delivered: false,
                    attempts: 0,
                    error: Some(format!(
                        "the environment variable {token_env} holding the Resend token is not set"
                    )),
                };
            };
            let body = json!({
                "from": from,
                "to": to,
                "subject": payload["subject"],
                "text": payload["text"],
            });
            (url.clone(), body, Some(token))
        }
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(true)
        .build()
        .into();
    let mut backoff = FIRST_BACKOFF;
    let mut last_error = String::new();
    for attempt in 1..=ATTEMPTS {
        let mut request = agent.post(&url);
        if let Some(token) = &token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        match request.send_json(&body) {
            Ok(_) => {
                return Delivery {
                    kind,
                    target: url,
                    delivered: true,
                    attempts: attempt,
                    error: None,
                };
            }
            Err(error) => {
                last_error = error.to_string();
                let permanent = matches!(error, ureq::Error::StatusCode(code) if (400..500).contains(&code) && code != 429);
                if permanent {
                    return Delivery {
                        kind,
                        target: url,
                        delivered: false,
                        attempts: attempt,
                        error: Some(last_error),
                    };
                }
                if attempt < ATTEMPTS {
                    std::thread::sleep(backoff);
                    backoff *= 2;
                }
            }
        }
    }
    Delivery {
        kind,
        target: url,
        delivered: false,
        attempts: ATTEMPTS,
        error: Some(last_error),
    }
}
