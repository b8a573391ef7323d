//! `winebuild schedule`: the monthly run, as a crontab line or a systemd service and timer, on the
//! 15th of every month at 09:00, building the month just ended (`--month previous`).
//!
//! Rules it keeps: printing never changes anything; `--install` replaces only its own entry (the
//! crontab line it tags, the two unit files it names), so installing twice leaves one schedule.

use crate::error::Hint;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::project::Project;

/// The cron expression of the schedule: minute 0, hour 9, day 15, every month.
pub(crate) const CRON: &str = "0 9 15 * *";
/// The same moment for systemd.
pub(crate) const ON_CALENDAR: &str = "*-*-15 09:00:00";

#[derive(Debug, thiserror::Error)]
pub(crate) enum ScheduleError {
    #[error("cannot find the winebuild executable: {message}")]
    Executable { message: String },
    #[error("`crontab` failed: {message}")]
    Crontab { message: String },
    #[error("cannot write `{path}`: {message}")]
    Write { path: PathBuf, message: String },
    #[error("cannot schedule `{}`: its path holds a line break or another control character", path.display())]
    UnsafePath { path: PathBuf },
}

impl Hint for ScheduleError {
    fn hint(&self) -> Option<String> {
        match self {
            ScheduleError::Executable { .. } => {
                Some("install winebuild with `cargo install --path .` and run it from there".into())
            }
            ScheduleError::Crontab { .. } => Some(
                "install cron (Debian: `apt-get install cron`), or use `--systemd` for a systemd timer"
                    .into(),
            ),
            ScheduleError::Write { .. } => {
                Some("check the permissions of your systemd user folder".into())
            }
            ScheduleError::UnsafePath { .. } => Some(
                "a crontab line or a unit file ends at a line break: rename the folder without one"
                    .into(),
            ),
        }
    }
}

/// What `schedule` prints or installs.
pub(crate) struct Schedule {
    pub(crate) root: PathBuf,
    pub(crate) exe: PathBuf,
    pub(crate) name: String,
}

impl Schedule {
    pub(crate) fn new(project: &Project) -> Result<Schedule, ScheduleError> {
        let exe = std::env::current_exe().map_err(|e| ScheduleError::Executable {
            message: e.to_string(),
        })?;
        let root = std::fs::canonicalize(&project.root).unwrap_or_else(|_| project.root.clone());
        for path in [&root, &exe] {
            if path.to_string_lossy().chars().any(char::is_control) {
                return Err(ScheduleError::UnsafePath { path: path.clone() });
            }
        }
        Ok(Schedule {
            root,
            exe,
            name: project.name.clone(),
        })
    }

    fn tag(&self) -> String {
        format!("# winebuild: {}", self.root.display())
    }

    /// One crontab line, tagged so `--install` can find and replace it.
    pub(crate) fn cron_line(&self) -> String {
        let root = quote(&self.root);
        format!(
            "{CRON} cd {root} && {} build --month previous -q >> {} 2>&1 {}",
            quote(&self.exe),
            quote(&self.root.join(".winebuild").join("schedule.log")),
            self.tag()
        )
    }

    pub(crate) fn unit_name(&self) -> String {
        format!(
            "winebuild-{}",
            self.name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        )
    }

    pub(crate) fn service(&self) -> String {
        format!(
            "[Unit]\nDescription=winebuild: build the month just ended for {name}\n\n\
             [Service]\nType=oneshot\nWorkingDirectory={root}\nExecStart={exe} build --month previous\n",
            name = self.name,
            root = self.root.display(),
            exe = systemd_word(&self.exe),
        )
    }

    pub(crate) fn timer(&self) -> String {
        format!(
            "[Unit]\nDescription=winebuild: monthly build of {name}, the 15th at 09:00\n\n\
             [Timer]\nOnCalendar={ON_CALENDAR}\nPersistent=true\nUnit={unit}.service\n\n\
             [Install]\nWantedBy=timers.target\n",
            name = self.name,
            unit = self.unit_name(),
        )
    }

    /// Writes the service and timer into the user's systemd folder; returns the two paths.
    pub(crate) fn install_systemd(&self) -> Result<Vec<PathBuf>, ScheduleError> {
        let dir = systemd_user_dir();
        std::fs::create_dir_all(&dir).map_err(|e| ScheduleError::Write {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        let mut written = Vec::new();
        for (extension, text) in [("service", self.service()), ("timer", self.timer())] {
            let path = dir.join(format!("{}.{extension}", self.unit_name()));
            std::fs::write(&path, text).map_err(|e| ScheduleError::Write {
                path: path.clone(),
                message: e.to_string(),
            })?;
            written.push(path);
        }
        Ok(written)
    }

    /// Replaces this project's line in the user's crontab (or adds it).
    pub(crate) fn install_cron(&self) -> Result<(), ScheduleError> {
        let error = |message: String| ScheduleError::Crontab { message };
        let current = Command::new("crontab")
            .arg("-l")
            .output()
            .map_err(|e| error(e.to_string()))?;
        // `crontab -l` fails when the user has no crontab yet: that is an empty one.
        let existing = if current.status.success() {
            String::from_utf8_lossy(&current.stdout).into_owned()
        } else {
            String::new()
        };
        let mut lines: Vec<&str> = existing
            .lines()
            .filter(|line| !line.ends_with(&self.tag()))
            .collect();
        let line = self.cron_line();
        lines.push(&line);
        let mut child = Command::new("crontab")
            .arg("-")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| error(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            writeln!(stdin, "{}", lines.join("\n")).map_err(|e| error(e.to_string()))?;
        }
        let output = child.wait_with_output().map_err(|e| error(e.to_string()))?;
        if !output.status.success() {
            return Err(error(
                String::from_utf8_lossy(&output.stderr).trim().to_string(),
            ));
        }
        Ok(())
    }
}

/// `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`.
pub(crate) fn systemd_user_dir() -> PathBuf {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".config")
        });
    config.join("systemd").join("user")
}

/// A path as one word of a systemd command line: quoted when it holds a space or a quote.
fn systemd_word(path: &Path) -> String {
    let text = path.display().to_string();
    if text.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\\' | '\'' | ';')) {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text
    }
}

/// A path as one shell word.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
