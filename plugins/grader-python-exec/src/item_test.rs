//! Item-test mode: the answer's code checked against the item's own test (`test`,
//! `entry-point`, `prompt`) by the trusted runner, `runner.py` (embedded here and placed in
//! the run directory). The runner reads what it needs from its stdin, where the answer's
//! process cannot read it, and writes its verdict, one line that starts with a one-time
//! nonce, on a pipe that only it holds (descriptor [`VERDICT_FD_NUMBER`]): the answer's
//! process has neither that pipe nor the nonce, so it cannot write a verdict that counts.
//! `runner.py`'s module doc describes the protocol.

use llmbench_plugin_sdk::core::GraderError;
use serde::Serialize;

use crate::options::{ItemTest, Limits, RUNNER_FILE, RunFile};
use crate::sandbox::VERDICT_FD_NUMBER;

/// The runner's source.
const RUNNER: &str = include_str!("runner.py");

/// The runner's flags: `-I` (isolated: no `PYTHON*` variables, no user site, and the run
/// directory, which the answer's process can write to, is not on `sys.path`), `-S` (no
/// `site`), `-B` (no `.pyc` files).
pub(crate) const RUNNER_FLAGS: &[&str] = &["-I", "-S", "-B"];

/// The runner as a file of the run directory.
pub(crate) fn runner_file() -> RunFile {
    RunFile {
        name: RUNNER_FILE.to_owned(),
        contents: RUNNER.as_bytes().to_vec(),
    }
}

/// What the runner reads on stdin.
#[derive(Debug, Serialize)]
struct Payload<'a> {
    nonce: &'a str,
    verdict_fd: i32,
    test: &'a str,
    entry_point: &'a str,
    prompt: Option<&'a str>,
    code: &'a str,
    limits: PayloadLimits,
}

/// The limits, for the runner's messages and its own output cap on the answer's process.
#[derive(Debug, Serialize)]
struct PayloadLimits {
    cpu_seconds: u64,
    memory_mb: u64,
    max_processes: u64,
    max_output_bytes: usize,
}

/// The runner's stdin for one grading.
pub(crate) fn payload(nonce: &str, item: &ItemTest, code: &str, limits: &Limits) -> Vec<u8> {
    serde_json::to_vec(&Payload {
        nonce,
        verdict_fd: VERDICT_FD_NUMBER,
        test: &item.test,
        entry_point: &item.entry_point,
        prompt: item.prompt.as_deref(),
        code,
        limits: payload_limits(limits),
    })
    .expect("strings and numbers serialize")
}

/// What a harness reads on stdin (harness mode): the nonce, its verdict pipe's number and
/// the limits (for its messages, and its own output cap on the answer's process).
#[derive(Debug, Serialize)]
struct HarnessPayload<'a> {
    nonce: &'a str,
    verdict_fd: i32,
    limits: PayloadLimits,
}

fn payload_limits(limits: &Limits) -> PayloadLimits {
    PayloadLimits {
        cpu_seconds: limits.cpu_seconds,
        memory_mb: limits.memory_mb,
        max_processes: limits.max_processes,
        max_output_bytes: limits.max_output_bytes,
    }
}

/// The harness's stdin for one grading.
pub(crate) fn harness_payload(nonce: &str, limits: &Limits) -> Vec<u8> {
    serde_json::to_vec(&HarnessPayload {
        nonce,
        verdict_fd: VERDICT_FD_NUMBER,
        limits: payload_limits(limits),
    })
    .expect("strings and numbers serialize")
}

/// 128 random bits from the kernel, as hex: the prefix of the runner's (or the harness's)
/// verdict line.
/// Hand-written with `getrandom(2)` (through `libc`, already a dependency) rather than a
/// crate: one call, 16 bytes.
pub(crate) fn nonce() -> Result<String, GraderError> {
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: the pointer and length describe the unfilled rest of `bytes`.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(GraderError::new(format!(
                    "cannot read random bytes for the runner's nonce: {error}"
                )));
            }
        } else {
            filled += n as usize;
        }
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_128_bit_hex_and_differ() {
        let a = nonce().unwrap();
        let b = nonce().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn the_payload_carries_the_item_and_the_limits() {
        let item = ItemTest {
            test: "def check(candidate):\n    assert candidate(1) == 2\n".into(),
            entry_point: "inc".into(),
            prompt: None,
        };
        let bytes = payload("ab", &item, "def inc(x): return x + 1", &Limits::default());
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "nonce": "ab",
                "verdict_fd": 4,
                "test": item.test,
                "entry_point": "inc",
                "prompt": null,
                "code": "def inc(x): return x + 1",
                "limits": {
                    "cpu_seconds": 10,
                    "memory_mb": 512,
                    "max_processes": 64,
                    "max_output_bytes": 1048576,
                },
            })
        );
    }
}
