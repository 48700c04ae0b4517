//! The process tree of one run (the outer `bwrap` and bubblewrap's init, PID 1 of the
//! sandbox): learning the init's pid, killing the tree through pidfds, and waiting until it
//! is gone.

use std::io::{self, Read as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::time::{Duration, Instant};

/// The process tree of one run, for killing it. Killing goes through pidfds, so a pid
/// reused after the process was reaped is never signalled.
#[derive(Debug)]
pub(super) struct Tree {
    outer_pid: Option<u32>,
    outer: Option<OwnedFd>,
    /// bubblewrap's init, PID 1 of the sandbox, once known.
    pub(super) init: Option<OwnedFd>,
    armed: bool,
}

impl Tree {
    pub(super) fn new(outer_pid: Option<u32>) -> Self {
        Self {
            outer_pid,
            outer: outer_pid.and_then(|p| pidfd_open(p as i32)),
            init: None,
            armed: true,
        }
    }

    /// Kill bubblewrap's init (PID 1 of the sandbox): the kernel then kills the rest.
    /// Falls back to killing the outer bwrap, whose death kills the init (`--die-with-parent`).
    pub(super) fn kill_init(&self) {
        if let Some(init) = &self.init {
            pidfd_kill(init);
        } else if let Some(init) = self.find_init() {
            pidfd_kill(&init);
        } else {
            self.kill_outer();
        }
    }

    /// Wait until the init has exited, which implies every process of its namespace has
    /// (the kernel kills and reaps them before the init's exit completes). False if it was
    /// still there after `limit`. True at once when the init is unknown.
    pub(super) async fn await_init_exit(&self, limit: Duration) -> bool {
        let Some(init) = &self.init else {
            return true;
        };
        let start = Instant::now();
        loop {
            let mut poll = libc::pollfd {
                fd: init.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, no waiting. A pidfd polls readable once its
            // process has exited.
            if unsafe { libc::poll(&mut poll, 1, 0) } == 1 {
                return true;
            }
            if start.elapsed() >= limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Whether the init is known and still running.
    pub(super) fn init_alive(&self) -> bool {
        self.init.as_ref().is_some_and(running)
    }

    /// Whether the outer bwrap is known and still running.
    pub(super) fn outer_alive(&self) -> bool {
        self.outer.as_ref().is_some_and(running)
    }

    pub(super) fn kill_outer(&self) {
        if let Some(outer) = &self.outer {
            pidfd_kill(outer);
        }
    }

    /// A pidfd for the outer bwrap's child (bubblewrap's init), found through `/proc` while
    /// the outer is unreaped: for when bwrap's info never arrived.
    fn find_init(&self) -> Option<OwnedFd> {
        let outer = self.outer.as_ref()?;
        // SAFETY: signal 0 only checks that the process exists; the pidfd is valid.
        let alive = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                outer.as_raw_fd(),
                0,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        } == 0;
        if !alive {
            return None;
        }
        let pid = self.outer_pid?;
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        let init: i32 = children.split_whitespace().next()?.parse().ok()?;
        pidfd_open(init)
    }

    pub(super) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        if self.armed {
            self.kill_init();
            self.kill_outer();
        }
    }
}

/// The `child-pid` of bwrap's `--info-fd` JSON (`{"child-pid": 123, ...}`), read until the
/// object closes or the pipe does. Blocking.
pub(super) fn read_init_pid(fd: OwnedFd) -> Option<i32> {
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "child-pid")]
        child_pid: i32,
    }
    let mut file = std::fs::File::from(fd);
    let mut text = Vec::new();
    let mut buf = [0u8; 512];
    while !text.contains(&b'}') && text.len() < 64 * 1024 {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let end = text.iter().position(|&b| b == b'}')?;
    let info: Info = serde_json::from_slice(&text[..=end]).ok()?;
    Some(info.child_pid)
}

/// Whether the process behind `pidfd` has not exited (a pidfd polls readable once it has).
fn running(pidfd: &OwnedFd) -> bool {
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no waiting.
    unsafe { libc::poll(&mut poll, 1, 0) == 0 }
}

pub(super) fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; a non-negative result is a new descriptor we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: see above.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn pidfd_kill(fd: &OwnedFd) {
    // SAFETY: the pidfd is valid; a null siginfo means "as kill(2) would".
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
    }
}
