//! Where a remote lives: an `s3://`, `gs://`, `az://` or `file://` URL, checked when the project
//! loads, and the object store client built for it from the standard environment variables.
//!
//! Rules it keeps: credentials and endpoints come only from the environment (`AWS_*`,
//! `GOOGLE_*`, `AZURE_*`), never from winebuild.toml; every client has bounded timeouts and
//! retries, so an unreachable server costs seconds, never a hang.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::path::Path as StorePath;

/// The kinds of object storage a remote can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    S3,
    Gcs,
    Azure,
    File,
}

impl Scheme {
    fn parse(word: &str) -> Option<Scheme> {
        match word {
            "s3" | "s3a" => Some(Scheme::S3),
            "gs" => Some(Scheme::Gcs),
            "az" | "abfs" | "abfss" => Some(Scheme::Azure),
            "file" => Some(Scheme::File),
            _ => None,
        }
    }

    /// The environment variables that configure this kind of store, for hints.
    pub(crate) fn credential_variables(self) -> &'static str {
        match self {
            Scheme::S3 => {
                "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL (and AWS_ALLOW_HTTP=true for a local http server)"
            }
            Scheme::Gcs => "GOOGLE_SERVICE_ACCOUNT (or GOOGLE_APPLICATION_CREDENTIALS)",
            Scheme::Azure => "AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY",
            Scheme::File => "none (a folder's permissions)",
        }
    }
}

/// A checked remote URL: its scheme, its bucket (or folder) and the prefix under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteUrl {
    text: String,
    scheme: Scheme,
    /// The bucket or container; for `file://`, the folder.
    bucket: String,
    /// The path under the bucket, without leading or trailing `/`.
    prefix: String,
}

/// Why a URL cannot name a remote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UrlProblem {
    #[error("it has no scheme; write it as s3://bucket/prefix, gs://, az:// or file:///folder")]
    NoScheme,
    #[error("`{0}://` is not a kind of object storage winebuild reads (s3, gs, az, file)")]
    UnknownScheme(String),
    #[error("it names no bucket")]
    NoBucket,
    #[error("a file:// URL must name an absolute folder (file:///srv/winebuild)")]
    RelativeFolder,
    #[error("it holds a character a URL cannot carry here (a space, a line break, `?` or `#`)")]
    BadCharacter,
}

impl RemoteUrl {
    pub(crate) fn parse(text: &str) -> Result<RemoteUrl, UrlProblem> {
        let text = text.trim();
        if text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
        {
            return Err(UrlProblem::BadCharacter);
        }
        let (scheme_word, rest) = text.split_once("://").ok_or(UrlProblem::NoScheme)?;
        let scheme = Scheme::parse(&scheme_word.to_ascii_lowercase())
            .ok_or_else(|| UrlProblem::UnknownScheme(scheme_word.to_string()))?;
        let (bucket, prefix) = if scheme == Scheme::File {
            if !rest.starts_with('/') {
                return Err(UrlProblem::RelativeFolder);
            }
            (rest.trim_end_matches('/').to_string(), String::new())
        } else {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            (bucket.to_string(), prefix.trim_matches('/').to_string())
        };
        if bucket.is_empty() || (scheme != Scheme::File && bucket.contains("..")) {
            return Err(UrlProblem::NoBucket);
        }
        if prefix.split('/').any(|part| part == "..") {
            return Err(UrlProblem::BadCharacter);
        }
        Ok(RemoteUrl {
            text: text.trim_end_matches('/').to_string(),
            scheme,
            bucket,
            prefix,
        })
    }

    pub(crate) fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub(crate) fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The path under the bucket where `name` (a store name such as `v1/objects/ab/abc…`) lives.
    pub(crate) fn path(&self, name: &str) -> StorePath {
        if self.prefix.is_empty() {
            StorePath::from(name)
        } else {
            StorePath::from(format!("{}/{name}", self.prefix))
        }
    }

    /// The URL of `name` on this remote, as another process (a cluster's executor) names it.
    pub(crate) fn object_url(&self, name: &str) -> String {
        let scheme = match self.scheme {
            Scheme::S3 => "s3",
            Scheme::Gcs => "gs",
            Scheme::Azure => "az",
            Scheme::File => "file",
        };
        format!("{scheme}://{}/{}", self.bucket, self.path(name))
    }

    /// The name a store path stands for, relative to the prefix.
    pub(crate) fn name_of<'a>(&self, path: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            Some(path)
        } else {
            path.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
        }
    }

    /// A client for this URL, configured from the environment, with bounded timeouts.
    pub(crate) fn client(
        &self,
        timeouts: Timeouts,
    ) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
        use object_store::client::ClientConfigKey;
        use object_store::{BackoffConfig, RetryConfig};
        // Set as configuration keys, on top of what the environment set (AWS_ALLOW_HTTP, a
        // proxy…): replacing the client options would drop those.
        let connect = (
            ClientConfigKey::ConnectTimeout,
            format!("{}s", timeouts.connect.as_secs()),
        );
        let request = (
            ClientConfigKey::Timeout,
            format!("{}s", timeouts.request.as_secs()),
        );
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: timeouts.retries,
            retry_timeout: timeouts.retry_budget,
        };
        let bucket_url = match self.scheme {
            Scheme::S3 => format!("s3://{}", self.bucket),
            Scheme::Gcs => format!("gs://{}", self.bucket),
            Scheme::Azure => format!("az://{}", self.bucket),
            Scheme::File => String::new(),
        };
        Ok(match self.scheme {
            Scheme::S3 => Arc::new(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_url(bucket_url)
                    .with_config(
                        object_store::aws::AmazonS3ConfigKey::Client(connect.0),
                        connect.1,
                    )
                    .with_config(
                        object_store::aws::AmazonS3ConfigKey::Client(request.0),
                        request.1,
                    )
                    .with_retry(retry)
                    .build()?,
            ),
            Scheme::Gcs => Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(bucket_url)
                    .with_config(
                        object_store::gcp::GoogleConfigKey::Client(connect.0),
                        connect.1,
                    )
                    .with_config(
                        object_store::gcp::GoogleConfigKey::Client(request.0),
                        request.1,
                    )
                    .with_retry(retry)
                    .build()?,
            ),
            Scheme::Azure => Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(bucket_url)
                    .with_config(
                        object_store::azure::AzureConfigKey::Client(connect.0),
                        connect.1,
                    )
                    .with_config(
                        object_store::azure::AzureConfigKey::Client(request.0),
                        request.1,
                    )
                    .with_retry(retry)
                    .build()?,
            ),
            Scheme::File => {
                let folder = PathBuf::from(&self.bucket);
                std::fs::create_dir_all(&folder).map_err(|e| object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(e),
                })?;
                Arc::new(object_store::local::LocalFileSystem::new_with_prefix(
                    folder,
                )?)
            }
        })
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// How long the remote may take: bounded everywhere, so a server that went away costs seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) request: Duration,
    pub(crate) retries: usize,
    /// The most time spent retrying one request.
    pub(crate) retry_budget: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            request: Duration::from_mins(1),
            retries: 3,
            retry_budget: Duration::from_secs(20),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        let url = RemoteUrl::parse("s3://cave-ci/winebuild/").unwrap();
        assert_eq!(url.scheme(), Scheme::S3);
        assert_eq!(url.bucket(), "cave-ci");
        assert_eq!(
            url.path("v1/stages/k.json").as_ref(),
            "winebuild/v1/stages/k.json"
        );
        assert_eq!(url.name_of("winebuild/v1/x"), Some("v1/x"));
        assert_eq!(url.to_string(), "s3://cave-ci/winebuild");
        let bare = RemoteUrl::parse("gs://bucket").unwrap();
        assert_eq!(bare.path("v1/x").as_ref(), "v1/x");
        let folder = RemoteUrl::parse("file:///srv/shared").unwrap();
        assert_eq!(folder.bucket(), "/srv/shared");
    }

    #[test]
    fn objects_have_urls_another_process_can_read() {
        let url = RemoteUrl::parse("s3://bucket/team/store/").unwrap();
        assert_eq!(
            url.object_url("v1/objects/ab/abc"),
            "s3://bucket/team/store/v1/objects/ab/abc"
        );
        let url = RemoteUrl::parse("file:///srv/winebuild").unwrap();
        assert_eq!(
            url.object_url("v1/objects/ab/abc"),
            "file:///srv/winebuild/v1/objects/ab/abc"
        );
    }

    #[test]
    fn bad_urls_say_why() {
        assert_eq!(RemoteUrl::parse("cave-ci"), Err(UrlProblem::NoScheme));
        assert_eq!(
            RemoteUrl::parse("ftp://x"),
            Err(UrlProblem::UnknownScheme("ftp".into()))
        );
        assert_eq!(RemoteUrl::parse("s3://"), Err(UrlProblem::NoBucket));
        assert_eq!(
            RemoteUrl::parse("file://relative/x"),
            Err(UrlProblem::RelativeFolder)
        );
        assert_eq!(
            RemoteUrl::parse("s3://b/a b"),
            Err(UrlProblem::BadCharacter)
        );
        assert_eq!(
            RemoteUrl::parse("s3://b/../x"),
            Err(UrlProblem::BadCharacter)
        );
    }
}
