//! The names the store gives things: [`ObjectHash`] (the blake3 of some bytes: an object's name,
//! or a source file's content) and the keys results are cached under ([`StageKey`],
//! [`CheckKey`]). Newtypes, so a stage key is never looked up as an object, nor a hash printed
//! where a key was meant; all serialize as their 64 hex digits.

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

macro_rules! hex_name {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub(crate) struct $name(String);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("`{text}` is not 64 hex digits"))
                })
            }
        }

        impl $name {
            /// A name read back from a file or a folder listing: 64 lowercase hex digits, or none.
            /// Such names become file names, so nothing else may pass.
            pub(crate) fn parse(text: &str) -> Option<$name> {
                let hex = text.len() == 64
                    && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                hex.then(|| $name(text.to_string()))
            }

            fn of_hasher(hasher: &blake3::Hasher) -> $name {
                $name(hasher.finalize().to_hex().to_string())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

hex_name!(
    /// The blake3 of some bytes: the name of a store object, or the content hash of a file.
    ObjectHash
);
hex_name!(
    /// The key a stage's output is cached under: the hash of its fingerprint.
    StageKey
);
hex_name!(
    /// The key a check's result is cached under.
    CheckKey
);

impl ObjectHash {
    /// The 64 hex digits.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 digits, as people see it.
    pub(crate) fn short(&self) -> &str {
        self.0.get(..12).unwrap_or(&self.0)
    }

    pub(crate) fn of(bytes: &[u8]) -> ObjectHash {
        let mut hasher = blake3::Hasher::new();
        hasher.update(bytes);
        ObjectHash::of_hasher(&hasher)
    }

    /// The hash of a file's bytes, streamed.
    pub(crate) fn of_file(path: &Path) -> std::io::Result<ObjectHash> {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = blake3::Hasher::new();
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        Ok(ObjectHash::of_hasher(&hasher))
    }
}

impl StageKey {
    /// The key of a serialized fingerprint.
    pub(crate) fn of_encoded(encoded: &[u8]) -> StageKey {
        let mut hasher = blake3::Hasher::new();
        hasher.update(encoded);
        StageKey::of_hasher(&hasher)
    }
}

impl CheckKey {
    /// The key of a serialized check definition and what it reads.
    pub(crate) fn of_encoded(encoded: &[u8]) -> CheckKey {
        let mut hasher = blake3::Hasher::new();
        hasher.update(encoded);
        CheckKey::of_hasher(&hasher)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_blake3_hex_and_parse_only_hex() {
        let hash = ObjectHash::of(b"abc");
        assert_eq!(hash.as_str(), blake3::hash(b"abc").to_hex().as_str());
        assert_eq!(hash.short().len(), 12);
        assert_eq!(ObjectHash::parse(hash.as_str()), Some(hash.clone()));
        assert_eq!(ObjectHash::parse("../../etc/passwd"), None);
        assert_eq!(ObjectHash::parse(&hash.as_str().to_uppercase()), None);
        assert_eq!(serde_json::to_string(&hash).unwrap(), format!("\"{hash}\""));
        assert!(serde_json::from_str::<ObjectHash>("\"../x\"").is_err());
    }
}
