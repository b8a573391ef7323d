//! Sealed records: with `WINEBUILD_REMOTE_KEY` set, what the remote holds that is not
//! self-verifying (stage records, check results, month states, archive manifests) carries a
//! blake3 keyed MAC, so a bucket writer without the key cannot poison a build.
//!
//! Rules it keeps: objects need no seal (their name is the hash of their bytes); a sealed blob is
//! one line `winebuild-seal <mac>` followed by the record's own bytes, so a reader without a key
//! still reads it; a reader with a key treats a blob without a seal, or with a wrong one, as
//! absent and says so.

use std::fmt;

const HEADER: &[u8] = b"winebuild-seal ";
/// Domain separation: the key derived for sealing records is used for nothing else.
const CONTEXT: &str = "winebuild 2026-11 remote record seal v1";

/// The key records are sealed with, derived from the secret in `WINEBUILD_REMOTE_KEY`.
#[derive(Clone)]
pub(crate) struct SealKey([u8; 32]);

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(…)")
    }
}

/// Why a sealed read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SealProblem {
    /// The blob carries no seal at all.
    Unsealed,
    /// The seal does not match the bytes under this key (forged, damaged, or another key).
    Forged,
}

impl fmt::Display for SealProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SealProblem::Unsealed => "it carries no seal",
            SealProblem::Forged => {
                "its seal does not match (forged, damaged, or sealed with another key)"
            }
        })
    }
}

impl SealKey {
    /// The key for `secret`; `None` for an empty secret (sealing off).
    pub(crate) fn from_secret(secret: &str) -> Option<SealKey> {
        let secret = secret.trim();
        (!secret.is_empty()).then(|| SealKey(blake3::derive_key(CONTEXT, secret.as_bytes())))
    }

    fn mac(&self, name: &str, body: &[u8]) -> blake3::Hash {
        // The name is sealed with the bytes: a valid record cannot be replayed under another key.
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(body);
        hasher.finalize()
    }

    /// `body` with its seal for the blob `name`.
    pub(crate) fn seal(&self, name: &str, body: &[u8]) -> Vec<u8> {
        let mac = self.mac(name, body).to_hex();
        let mut sealed = Vec::with_capacity(HEADER.len() + mac.len() + 1 + body.len());
        sealed.extend_from_slice(HEADER);
        sealed.extend_from_slice(mac.as_bytes());
        sealed.push(b'\n');
        sealed.extend_from_slice(body);
        sealed
    }

    /// The body of a blob sealed for `name` under this key.
    pub(crate) fn open<'a>(&self, name: &str, blob: &'a [u8]) -> Result<&'a [u8], SealProblem> {
        let (mac, body) = split(blob).ok_or(SealProblem::Unsealed)?;
        let expected = blake3::Hash::from_hex(mac).map_err(|_| SealProblem::Forged)?;
        // blake3::Hash compares in constant time.
        if self.mac(name, body) == expected {
            Ok(body)
        } else {
            Err(SealProblem::Forged)
        }
    }
}

/// The body of a blob read without a key: its seal, if any, is skipped unchecked.
pub(crate) fn body(blob: &[u8]) -> &[u8] {
    split(blob).map_or(blob, |(_, body)| body)
}

fn split(blob: &[u8]) -> Option<(&str, &[u8])> {
    let rest = blob.strip_prefix(HEADER)?;
    let end = rest.iter().position(|&b| b == b'\n')?;
    let mac = std::str::from_utf8(&rest[..end]).ok()?;
    Some((mac, &rest[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_record_opens_only_under_its_key_and_name() {
        let key = SealKey::from_secret("s3cret").unwrap();
        let sealed = key.seal("v1/stages/a.json", b"{\"rows\":1}");
        assert_eq!(
            key.open("v1/stages/a.json", &sealed),
            Ok(&b"{\"rows\":1}"[..])
        );
        assert_eq!(body(&sealed), b"{\"rows\":1}");
        assert_eq!(
            key.open("v1/stages/b.json", &sealed),
            Err(SealProblem::Forged)
        );
        let other = SealKey::from_secret("other").unwrap();
        assert_eq!(
            other.open("v1/stages/a.json", &sealed),
            Err(SealProblem::Forged)
        );
        let mut forged = sealed.clone();
        *forged.last_mut().unwrap() = b'2';
        assert_eq!(
            key.open("v1/stages/a.json", &forged),
            Err(SealProblem::Forged)
        );
        assert_eq!(
            key.open("v1/stages/a.json", b"{\"rows\":1}"),
            Err(SealProblem::Unsealed)
        );
        assert_eq!(body(b"{}"), b"{}");
        assert!(SealKey::from_secret("  ").is_none());
    }
}
