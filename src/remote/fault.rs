//! What went wrong with a remote, as a kind the build can act on (go on locally) and words a
//! person can act on (which variable, which bucket).
//!
//! Rules it keeps: the kind is read from the client's typed errors and HTTP statuses, never from
//! their wording; a fault never fails a build, it turns the remote off for the rest of it.

use std::fmt;

use object_store::client::{HttpError, HttpErrorKind};

use super::location::{RemoteUrl, Scheme};

/// Why the remote cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    /// No answer: connection refused, DNS, timeouts.
    Unreachable,
    /// The server answered that the credentials are missing, wrong or not allowed.
    Denied,
    /// The bucket (or container) does not exist.
    NoBucket,
    /// The client could not even be configured (a bad variable).
    Misconfigured,
    /// Any other refusal.
    Failed,
}

/// A fault of the remote, with what the client said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) kind: FaultKind,
    pub(crate) url: String,
    pub(crate) scheme: Scheme,
    pub(crate) bucket: String,
    pub(crate) detail: String,
}

impl Fault {
    pub(crate) fn new(url: &RemoteUrl, kind: FaultKind, detail: impl Into<String>) -> Fault {
        Fault {
            kind,
            url: url.to_string(),
            scheme: url.scheme(),
            bucket: url.bucket().to_string(),
            detail: detail.into(),
        }
    }

    /// The fault an object store error stands for. `NotFound` on a listing means the bucket.
    pub(crate) fn of(url: &RemoteUrl, error: &object_store::Error, listing: bool) -> Fault {
        use object_store::Error as E;
        let kind = match error {
            E::Unauthenticated { .. } | E::PermissionDenied { .. } => FaultKind::Denied,
            E::NotFound { .. } if listing => FaultKind::NoBucket,
            E::UnknownConfigurationKey { .. } => FaultKind::Misconfigured,
            _ if is_unreachable(error) => FaultKind::Unreachable,
            _ => FaultKind::Failed,
        };
        let detail = match kind {
            FaultKind::Denied => "access denied".to_string(),
            FaultKind::NoBucket => format!("no bucket `{}` there", url.bucket()),
            _ => first_line(&error.to_string()),
        };
        Fault::new(url, kind, detail)
    }

    /// What the person should do, naming the variables or the bucket.
    pub(crate) fn hint(&self) -> String {
        match self.kind {
            FaultKind::Unreachable => "check the address and the network (for S3: AWS_ENDPOINT_URL, AWS_REGION); builds go on with the local store meanwhile, and `winebuild remote push` uploads what they built".to_string(),
            FaultKind::Denied => format!(
                "check the credentials in {}",
                self.scheme.credential_variables()
            ),
            FaultKind::NoBucket => format!(
                "create the bucket `{}`, or correct `url` under [remote] in winebuild.toml (or WINEBUILD_REMOTE)",
                self.bucket
            ),
            FaultKind::Misconfigured => format!(
                "check the variables of this kind of store: {}",
                self.scheme.credential_variables()
            ),
            FaultKind::Failed => "`winebuild remote status` checks the remote".to_string(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            FaultKind::Unreachable => "is unreachable",
            FaultKind::Denied => "refused the credentials",
            FaultKind::NoBucket => "has no such bucket",
            FaultKind::Misconfigured => "cannot be configured",
            FaultKind::Failed => "failed",
        };
        write!(f, "remote `{}` {what}: {}", self.url, self.detail)
    }
}

/// Whether the error chain holds a connection or timeout failure.
fn is_unreachable(error: &object_store::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(http) = e.downcast_ref::<HttpError>() {
            return matches!(
                http.kind(),
                HttpErrorKind::Connect | HttpErrorKind::Timeout | HttpErrorKind::Interrupted
            );
        }
        source = e.source();
    }
    false
}

/// The first line of a message, at most 300 characters: client errors can quote whole bodies.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    crate::text::truncate(line, 300)
}
