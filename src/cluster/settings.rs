//! Whether models go to a cluster: `[engine]` in winebuild.toml, overridden by the environment.
//!
//! Rules it keeps: `WINEBUILD_CLUSTER` wins over `[engine] cluster`, and set but empty turns the
//! cluster off (as `WINEBUILD_REMOTE` does for the store); a cluster needs the shared store,
//! because executors read a model's inputs from it; the engine never enters a stage key, since a
//! cluster gives the same bytes as a local run.

use std::fmt;

use serde::Deserialize;

pub(crate) const CLUSTER_VARIABLE: &str = "WINEBUILD_CLUSTER";

/// The port a Ballista scheduler listens on unless told otherwise.
pub(crate) const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// `[engine]` as written in winebuild.toml.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EngineDef {
    /// The scheduler's URL, `df://host:port`.
    #[serde(default)]
    pub(crate) cluster: Option<String>,
    /// Models whose inputs hold fewer rows run locally.
    #[serde(default)]
    pub(crate) cluster_min_rows: Option<u64>,
    /// What to do when the scheduler cannot be reached.
    #[serde(default)]
    pub(crate) fallback: Option<Fallback>,
}

/// What a build does when the cluster cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Fallback {
    /// The models that needed it fail, naming the scheduler (the default: a month meant for a
    /// cluster may not fit this machine).
    #[default]
    Fail,
    /// They run locally, with a warning.
    Local,
}

/// A scheduler's address, from `df://host:port` (the port defaults to 50050).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterUrl {
    host: String,
    port: u16,
}

impl ClusterUrl {
    pub(crate) fn parse(text: &str) -> Result<ClusterUrl, String> {
        let text = text.trim();
        let rest = text
            .strip_prefix("df://")
            .ok_or("it must start with df:// (df://host:port)")?;
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
            return Err("write it as df://host:port, with no path".into());
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("`{port}` is not a port (1-65535)"))?,
            ),
            None => (rest, DEFAULT_SCHEDULER_PORT),
        };
        if host.is_empty() {
            return Err("it names no host".into());
        }
        Ok(ClusterUrl {
            host: host.to_string(),
            port,
        })
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The scheduler's HTTP address (its gRPC and REST API share the port).
    pub(crate) fn http(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

impl fmt::Display for ClusterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "df://{}:{}", self.host, self.port)
    }
}

/// The cluster a build sends models to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterSettings {
    pub(crate) url: ClusterUrl,
    pub(crate) min_rows: u64,
    pub(crate) fallback: Fallback,
}

/// A cluster setting that cannot be used, naming where it was set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClusterSettingsError {
    #[error("{origin} is not a cluster URL: `{url}`: {problem}")]
    Url {
        origin: &'static str,
        url: String,
        problem: String,
    },
    #[error("{origin} sends models to a cluster, but the project has no shared store")]
    NoRemote { origin: &'static str },
}

impl ClusterSettingsError {
    pub(crate) fn hint(&self) -> String {
        match self {
            ClusterSettingsError::Url { .. } => format!(
                "for example df://127.0.0.1:{DEFAULT_SCHEDULER_PORT}; an empty {CLUSTER_VARIABLE} turns the cluster off"
            ),
            ClusterSettingsError::NoRemote { .. } => format!(
                "executors read a model's inputs from the shared store: set `url` under [remote] or WINEBUILD_REMOTE (s3://bucket/prefix), or unset {CLUSTER_VARIABLE}"
            ),
        }
    }
}

impl ClusterSettings {
    /// The cluster from `[engine]` and the environment, or `None` when there is none.
    pub(crate) fn resolve(
        def: &EngineDef,
        has_remote: bool,
    ) -> Result<Option<ClusterSettings>, ClusterSettingsError> {
        ClusterSettings::resolve_with(def, has_remote, |name| std::env::var(name).ok())
    }

    /// [`ClusterSettings::resolve`] with the environment given, for tests.
    pub(crate) fn resolve_with(
        def: &EngineDef,
        has_remote: bool,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ClusterSettings>, ClusterSettingsError> {
        let (origin, text) = match env(CLUSTER_VARIABLE) {
            Some(text) if text.trim().is_empty() => return Ok(None),
            Some(text) => (CLUSTER_VARIABLE, text),
            None => match &def.cluster {
                Some(text) => ("`cluster` under [engine] in winebuild.toml", text.clone()),
                None => return Ok(None),
            },
        };
        let url = ClusterUrl::parse(&text).map_err(|problem| ClusterSettingsError::Url {
            origin,
            url: text.clone(),
            problem,
        })?;
        if !has_remote {
            return Err(ClusterSettingsError::NoRemote { origin });
        }
        Ok(Some(ClusterSettings {
            url,
            min_rows: def.cluster_min_rows.unwrap_or(0),
            fallback: def.fallback.unwrap_or_default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_host_and_a_port() {
        let url = ClusterUrl::parse("df://10.0.0.5:6000").unwrap();
        assert_eq!((url.host(), url.port()), ("10.0.0.5", 6000));
        assert_eq!(url.http(), "http://10.0.0.5:6000");
        let url = ClusterUrl::parse("df://scheduler/").unwrap();
        assert_eq!(url.to_string(), "df://scheduler:50050");
        for (bad, why) in [
            ("http://a:1", "df://"),
            ("df://", "no path"),
            ("df://a:0", "not a port"),
            ("df://a:x", "not a port"),
            ("df://a:1/db", "no path"),
            ("df://:5", "no host"),
        ] {
            let problem = ClusterUrl::parse(bad).unwrap_err();
            assert!(problem.contains(why), "{bad}: {problem}");
        }
    }

    #[test]
    fn the_environment_wins_and_a_cluster_needs_the_shared_store() {
        let def = EngineDef {
            cluster: Some("df://file:1".into()),
            cluster_min_rows: Some(1000),
            fallback: Some(Fallback::Local),
        };
        let from_env = |value: &'static str| {
            move |name: &str| (name == CLUSTER_VARIABLE).then(|| value.to_string())
        };
        let settings = ClusterSettings::resolve_with(&def, true, from_env("df://env:2"))
            .unwrap()
            .unwrap();
        assert_eq!(settings.url.to_string(), "df://env:2");
        assert_eq!(
            (settings.min_rows, settings.fallback),
            (1000, Fallback::Local)
        );
        assert_eq!(
            ClusterSettings::resolve_with(&def, true, from_env(" ")).unwrap(),
            None
        );
        let settings = ClusterSettings::resolve_with(&def, true, |_| None)
            .unwrap()
            .unwrap();
        assert_eq!(settings.url.to_string(), "df://file:1");
        assert_eq!(
            ClusterSettings::resolve_with(&def, false, |_| None),
            Err(ClusterSettingsError::NoRemote {
                origin: "`cluster` under [engine] in winebuild.toml"
            })
        );
        assert!(matches!(
            ClusterSettings::resolve_with(&EngineDef::default(), true, from_env("df://a:b")),
            Err(ClusterSettingsError::Url {
                origin: CLUSTER_VARIABLE,
                ..
            })
        ));
    }
}
