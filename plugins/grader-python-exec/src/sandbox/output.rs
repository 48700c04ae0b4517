//! What a run printed: stdout and stderr under their shared cap, how the run ended, and
//! bubblewrap's own set-up errors.

use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;

use super::End;

/// Append `bytes` to `buf` unless stdout and stderr together (`other` is the other
/// stream's length) would pass `cap`; then keep what fits and return false.
pub(super) fn keep(buf: &mut Vec<u8>, bytes: &[u8], other: usize, cap: usize) -> bool {
    let room = cap.saturating_sub(buf.len() + other);
    if bytes.len() <= room {
        buf.extend_from_slice(bytes);
        true
    } else {
        buf.extend_from_slice(&bytes[..room]);
        false
    }
}

pub(super) fn end_of(status: ExitStatus) -> End {
    match (status.code(), status.signal()) {
        // bwrap reports a child killed by signal N as exit code 128 + N.
        (Some(code), _) if (129..=128 + 64).contains(&code) => End::Signaled(code - 128),
        (Some(code), _) => End::Exited(code),
        (None, Some(signal)) => End::Signaled(signal),
        (None, None) => End::Exited(-1),
    }
}

/// bwrap's own error (it failed to set the sandbox up), if that is what `stderr` holds.
/// An answer can print the same words; it then gets an error grade, which does not pass.
pub(super) fn setup_failure(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let first = text.lines().next()?;
    (first.starts_with("bwrap: ")
        || first.starts_with("setpriv: ")
        || first.starts_with("prlimit: ")
        || first.starts_with("zygote: "))
    .then(|| truncate(first, 300))
}

pub(crate) fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max_chars).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_capped_across_both_streams() {
        let mut out = Vec::new();
        assert!(keep(&mut out, b"abcd", 0, 10));
        assert!(keep(&mut out, b"ef", 4, 10));
        assert!(!keep(&mut out, b"ghij", 2, 10));
        assert_eq!(out, b"abcdefgh");
    }

    #[test]
    fn exit_codes_above_128_are_signals() {
        assert_eq!(end_of(ExitStatus::from_raw(0)), End::Exited(0));
        assert_eq!(end_of(ExitStatus::from_raw(3 << 8)), End::Exited(3));
        assert_eq!(end_of(ExitStatus::from_raw(152 << 8)), End::Signaled(24));
        assert_eq!(end_of(ExitStatus::from_raw(9)), End::Signaled(9));
    }

    #[test]
    fn bwrap_errors_are_recognised() {
        assert_eq!(
            setup_failure(b"bwrap: Can't mount proc on /newroot/proc: Operation not permitted\n"),
            Some("bwrap: Can't mount proc on /newroot/proc: Operation not permitted".into())
        );
        assert_eq!(
            setup_failure(b"Traceback (most recent call last):\nbwrap: x"),
            None
        );
    }
}
