//! Which remote a command uses: `[remote]` in winebuild.toml, overridden by the environment.
//!
//! Rules it keeps: `WINEBUILD_REMOTE` wins over `[remote] url`, and set but empty turns the
//! remote off; `WINEBUILD_REMOTE_WRITE=0` makes it read-only whatever the file says; the seal key
//! comes only from `WINEBUILD_REMOTE_KEY`; credentials are never read from the file.

use serde::Deserialize;

use super::location::{RemoteUrl, Timeouts, UrlProblem};
use super::seal::SealKey;

pub(crate) const URL_VARIABLE: &str = "WINEBUILD_REMOTE";
pub(crate) const WRITE_VARIABLE: &str = "WINEBUILD_REMOTE_WRITE";
pub(crate) const KEY_VARIABLE: &str = "WINEBUILD_REMOTE_KEY";

/// `[remote]` as written in winebuild.toml.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoteDef {
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// Upload what this machine builds (default); `false` for a laptop that only reads.
    #[serde(default)]
    pub(crate) write: Option<bool>,
}

/// The remote a command uses.
#[derive(Debug, Clone)]
pub(crate) struct RemoteSettings {
    pub(crate) url: RemoteUrl,
    pub(crate) write: bool,
    pub(crate) seal: Option<SealKey>,
    pub(crate) timeouts: Timeouts,
}

/// A remote setting that cannot be used, naming where it was set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error("{origin} is not a remote URL: `{url}`: {problem}")]
    Url {
        origin: &'static str,
        url: String,
        problem: UrlProblem,
    },
    #[error("{WRITE_VARIABLE} is `{0}`; write 1 or 0 (true or false)")]
    Write(String),
}

impl SettingsError {
    pub(crate) fn hint(&self) -> String {
        match self {
            SettingsError::Url { .. } => format!(
                "for example s3://bucket/winebuild, gs://bucket/prefix, az://container/prefix or file:///srv/winebuild; an empty {URL_VARIABLE} turns the remote off"
            ),
            SettingsError::Write(_) => {
                format!("unset {WRITE_VARIABLE} to use `write` under [remote]")
            }
        }
    }
}

impl RemoteSettings {
    /// The remote from the project's `[remote]` and the environment, or `None` when there is
    /// none (or it is turned off).
    pub(crate) fn resolve(def: &RemoteDef) -> Result<Option<RemoteSettings>, SettingsError> {
        RemoteSettings::resolve_with(def, |name| std::env::var(name).ok())
    }

    /// [`RemoteSettings::resolve`] with the environment given, for tests.
    pub(crate) fn resolve_with(
        def: &RemoteDef,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<RemoteSettings>, SettingsError> {
        let (origin, text) = match env(URL_VARIABLE) {
            Some(text) if text.trim().is_empty() => return Ok(None),
            Some(text) => (URL_VARIABLE, text),
            None => match &def.url {
                Some(text) => ("`url` under [remote] in winebuild.toml", text.clone()),
                None => return Ok(None),
            },
        };
        let url = RemoteUrl::parse(&text).map_err(|problem| SettingsError::Url {
            origin,
            url: text.clone(),
            problem,
        })?;
        let write = match env(WRITE_VARIABLE) {
            None => def.write.unwrap_or(true),
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                _ => return Err(SettingsError::Write(value)),
            },
        };
        let seal = env(KEY_VARIABLE).and_then(|secret| SealKey::from_secret(&secret));
        Ok(Some(RemoteSettings {
            url,
            write,
            seal,
            timeouts: Timeouts::default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_string())
        }
    }

    #[test]
    fn the_environment_wins_and_empty_turns_the_remote_off() {
        let def = RemoteDef {
            url: Some("s3://team/cave".into()),
            write: Some(false),
        };
        let from_file = RemoteSettings::resolve_with(&def, env(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(from_file.url.to_string(), "s3://team/cave");
        assert!(!from_file.write);
        let from_env = RemoteSettings::resolve_with(
            &def,
            env(&[(URL_VARIABLE, "gs://other/x"), (WRITE_VARIABLE, "1")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(from_env.url.to_string(), "gs://other/x");
        assert!(from_env.write);
        assert!(
            RemoteSettings::resolve_with(&def, env(&[(URL_VARIABLE, "")]))
                .unwrap()
                .is_none()
        );
        assert!(
            RemoteSettings::resolve_with(&RemoteDef::default(), env(&[]))
                .unwrap()
                .is_none()
        );
        let sealed = RemoteSettings::resolve_with(&def, env(&[(KEY_VARIABLE, "k")]))
            .unwrap()
            .unwrap();
        assert!(sealed.seal.is_some());
    }

    #[test]
    fn bad_settings_name_their_origin() {
        let error =
            RemoteSettings::resolve_with(&RemoteDef::default(), env(&[(URL_VARIABLE, "bucket")]))
                .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("WINEBUILD_REMOTE is not a remote URL")
        );
        let def = RemoteDef {
            url: Some("s3://b".into()),
            write: None,
        };
        assert_eq!(
            RemoteSettings::resolve_with(&def, env(&[(WRITE_VARIABLE, "maybe")])).unwrap_err(),
            SettingsError::Write("maybe".into())
        );
    }
}
