//! SHA-256 digests: parsing, printing, and hashing files and streams.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::ModelError;

/// A SHA-256 digest, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Sum([u8; 32]);

impl Sha256Sum {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first `n` hex digits (at most 64), used to name cache files.
    pub fn prefix(&self, n: usize) -> String {
        let mut hex = self.to_string();
        hex.truncate(n);
        hex
    }
}

impl fmt::Display for Sha256Sum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sha256Sum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Sum({self})")
    }
}

impl FromStr for Sha256Sum {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "`{s}` is not a SHA-256 digest (64 hex digits expected)"
            ));
        }
        let mut bytes = [0; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("checked hex digits");
        }
        Ok(Self(bytes))
    }
}

impl serde::Serialize for Sha256Sum {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Sha256Sum {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Copy `reader` into `writer`, hashing what passes through. Returns the digest and the
/// number of bytes copied.
pub(crate) fn copy_hashing(
    reader: &mut impl Read,
    writer: &mut impl Write,
) -> io::Result<(Sha256Sum, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut total = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok((Sha256Sum(hasher.finalize().into()), total))
}

/// The SHA-256 of a file's content.
pub fn hash_file(path: &Path) -> Result<Sha256Sum, ModelError> {
    let mut file = File::open(path).map_err(|e| ModelError::open(path, e))?;
    let (sum, _) = copy_hashing(&mut file, &mut io::sink()).map_err(|e| ModelError::io(path, e))?;
    Ok(sum)
}

/// Check a file's SHA-256; a mismatch is [`ModelError::ChecksumMismatch`]. The file is left
/// alone either way.
pub fn verify_file(path: &Path, expected: &Sha256Sum) -> Result<(), ModelError> {
    let actual = hash_file(path)?;
    if actual == *expected {
        Ok(())
    } else {
        Err(ModelError::ChecksumMismatch {
            path: path.to_owned(),
            expected: *expected,
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_hex() {
        let hex = "B179C9523D0E6A0F98A330C7562B682750A6F8C8C15E5BC70EA373728110DB53";
        let sum: Sha256Sum = hex.parse().unwrap();
        assert_eq!(sum.to_string(), hex.to_ascii_lowercase());
        assert_eq!(sum.prefix(8), "b179c952");
    }

    #[test]
    fn rejects_what_is_not_a_digest() {
        assert!("abc".parse::<Sha256Sum>().is_err());
        assert!("g".repeat(64).parse::<Sha256Sum>().is_err());
        assert!("é".repeat(32).parse::<Sha256Sum>().is_err());
    }

    #[test]
    fn hashes_a_stream() {
        let (sum, n) = copy_hashing(&mut &b"abc"[..], &mut io::sink()).unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            sum.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
