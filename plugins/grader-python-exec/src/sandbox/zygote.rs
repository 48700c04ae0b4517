//! The zygote (item-test mode, as root): ONE long-lived bubblewrap sandbox whose first
//! process (`src/zygote.py`, a trusted Python process that has imported the runner's modules
//! and compiled the runner) forks, per answer, a FRESH sandbox: its own PID, mount, network,
//! IPC, UTS and cgroup namespaces, a fresh `/work`, `/dev/shm` and `/proc`, the run's files
//! read-only, the rlimits and a fresh uid, exactly the properties a per-answer bubblewrap
//! sandbox has (`zygote.py`'s module doc says how each is built). What it saves is the fixed
//! cost that buys no isolation: bwrap's and the interpreter's start-up, the imports and the
//! runner's compilation, paid once per grader instead of once per answer.
//!
//! The grader talks to the zygote over a `SOCK_SEQPACKET` socket pair: per sandbox, one
//! request (JSON) with five descriptors (the runner's stdin, stdout, stderr, verdict pipe
//! and a status pipe on which the sandbox's PID 1 writes the runner's wait status), and one
//! reply, a pidfd of that PID 1 (or an error). The pidfd is the sandbox's handle, as
//! bubblewrap's init's pidfd is for a per-answer sandbox: killing it kills the namespace,
//! and it polls readable only once every process of the namespace is gone.
//!
//! The zygote's bwrap is started by a thread of its own, which lives as long as it (bwrap is
//! tied to the thread that started it, `--die-with-parent`), logs what the zygote prints on
//! stderr and reaps it. Dropping the [`Zygote`] kills it (and with its namespace every
//! sandbox it started); when the grader's process dies, the zygote reads the end of its
//! control socket and exits.
//!
//! Only as root: without root, nested sandboxes would need a user namespace each, in which a
//! fresh `/proc` cannot be mounted under bubblewrap's read-only `/proc/sys`; there the pool
//! starts one bubblewrap sandbox per answer.

use std::ffi::OsStr;
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

use super::rundir::RunDir;
use super::tree::{Tree, pidfd_open, read_init_pid};
use super::{SHM_SIZE_BYTES, Sandbox, SandboxError, WORK_SIZE_BYTES, pipe};
use crate::options::{FILE_SIZE_LIMIT_BYTES, RunFile};

/// The zygote's source, run with `-c`.
const ZYGOTE: &str = include_str!("../zygote.py");

/// The most a sandbox's request or the zygote's reply may take.
const MESSAGE_LIMIT_BYTES: usize = 64 * 1024;

/// The last lines the zygote printed on stderr, for the error when it is gone.
const STDERR_TAIL_BYTES: usize = 4096;

/// One running zygote.
#[derive(Debug)]
pub(super) struct Zygote {
    /// The grader's end of the control socket; one request and its reply at a time.
    control: Mutex<OwnedFd>,
    /// The zygote's bwrap and bubblewrap's init; dropped (killed) with the zygote.
    tree: Tree,
    /// The files bound into every sandbox's `/work`.
    files: Vec<String>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
    _run: RunDir,
}

/// What a sandbox started by the zygote hands the grader.
#[derive(Debug)]
pub(super) struct Forked {
    /// A pidfd of the sandbox's PID 1.
    pub(super) init: OwnedFd,
    pub(super) stdin: OwnedFd,
    pub(super) stdout: OwnedFd,
    pub(super) stderr: OwnedFd,
    pub(super) verdict: OwnedFd,
    pub(super) status: OwnedFd,
}

#[derive(serde::Serialize)]
struct Request<'a> {
    uid: u32,
    files: &'a [String],
    work_bytes: u64,
    shm_bytes: u64,
    limits: RequestLimits,
}

#[derive(serde::Serialize)]
struct RequestLimits {
    cpu_seconds: u64,
    data_bytes: u64,
    file_bytes: u64,
    max_processes: u64,
}

impl Zygote {
    /// Start a zygote for `python3 FLAGS SCRIPT` in a run directory holding `files` (the
    /// script among them). Blocking (it waits for bwrap's init to be known).
    pub(super) fn start(
        sandbox: &Sandbox,
        files: &[&RunFile],
        flags: &[&str],
        script: &str,
    ) -> Result<Self, SandboxError> {
        let run = RunDir::new(true, files)?;
        let (control, theirs) = seqpacket_pair()
            .map_err(|e| SandboxError::Failed(format!("cannot make the zygote's socket: {e}")))?;
        let (info_read, info_write) = pipe().map_err(|e| {
            SandboxError::Failed(format!("cannot make a pipe for bwrap's --info-fd: {e}"))
        })?;
        let control_number = super::argv::CONTROL_FD_NUMBER.to_string();
        let mut argv = vec![sandbox.interpreter.executable.as_os_str()];
        argv.extend(flags.iter().map(OsStr::new));
        argv.extend([
            OsStr::new("-c"),
            OsStr::new(ZYGOTE),
            OsStr::new(&control_number),
            OsStr::new(script),
        ]);
        let mut command =
            sandbox.zygote_command(&run, info_write.as_raw_fd(), theirs.as_raw_fd(), &argv);
        command.stdout(std::process::Stdio::null());
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let tail = Arc::clone(&stderr_tail);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let bwrap = sandbox.bwrap.clone();
        std::thread::Builder::new()
            .name("python-exec-zygote".into())
            .spawn(move || {
                let spawned = command.spawn();
                // The sandbox has its copies now.
                drop((theirs, info_write));
                let mut child = match spawned {
                    Ok(child) => child,
                    Err(error) => {
                        let _ = started_tx.send(Err(error));
                        return;
                    }
                };
                let _ = started_tx.send(Ok(child.id()));
                if let Some(mut stderr) = child.stderr.take() {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stderr.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let text = String::from_utf8_lossy(&buf[..n]);
                        tracing::warn!("the python-exec zygote says: {}", text.trim_end());
                        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                        tail.extend_from_slice(&buf[..n]);
                        let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
                        tail.drain(..excess);
                    }
                }
                let _ = child.wait();
            })
            .map_err(|error| SandboxError::Spawn {
                path: bwrap.clone(),
                error,
            })?;
        let outer = started_rx
            .recv()
            .map_err(|_| SandboxError::Failed("the zygote's thread ended".into()))?
            .map_err(|error| SandboxError::Spawn { path: bwrap, error })?;
        let mut tree = Tree::new(Some(outer));
        tree.init = read_init_pid(info_read).and_then(pidfd_open);
        Ok(Self {
            control: Mutex::new(control),
            tree,
            files: run.files.clone(),
            stderr_tail,
            _run: run,
        })
    }

    /// Whether the zygote's bwrap is still running.
    pub(super) fn alive(&self) -> bool {
        self.tree.outer_alive()
    }

    /// Start one fresh sandbox whose runner runs as `uid`. Blocking (a round trip to the
    /// zygote, a millisecond or two).
    pub(super) fn fork(&self, sandbox: &Sandbox, uid: u32) -> Result<Forked, SandboxError> {
        let failed = |what: &str, e: io::Error| SandboxError::Failed(format!("{what}: {e}"));
        let limits = sandbox.limits();
        let request = serde_json::to_vec(&Request {
            uid,
            files: &self.files,
            work_bytes: WORK_SIZE_BYTES,
            shm_bytes: SHM_SIZE_BYTES,
            limits: RequestLimits {
                cpu_seconds: limits.cpu_seconds,
                data_bytes: limits.memory_mb * 1024 * 1024,
                file_bytes: FILE_SIZE_LIMIT_BYTES,
                max_processes: limits.max_processes,
            },
        })
        .expect("numbers and strings serialize");
        let pipes = || pipe().map_err(|e| failed("cannot make a pipe", e));
        let (stdin_r, stdin_w) = pipes()?;
        let (stdout_r, stdout_w) = pipes()?;
        let (stderr_r, stderr_w) = pipes()?;
        let (verdict_r, verdict_w) = pipes()?;
        let (status_r, status_w) = pipes()?;
        let sent = [
            stdin_r.as_raw_fd(),
            stdout_w.as_raw_fd(),
            stderr_w.as_raw_fd(),
            verdict_w.as_raw_fd(),
            status_w.as_raw_fd(),
        ];
        let (reply, fd) = {
            let control = self.control.lock().unwrap_or_else(|e| e.into_inner());
            send_with_fds(control.as_raw_fd(), &request, &sent)
                .map_err(|e| self.gone("cannot reach the zygote", e))?;
            receive_with_fd(control.as_raw_fd())
                .map_err(|e| self.gone("no reply from the zygote", e))?
        };
        drop((stdin_r, stdout_w, stderr_w, verdict_w, status_w));
        match (reply.as_slice(), fd) {
            (b"ok", Some(init)) => Ok(Forked {
                init,
                stdin: stdin_w,
                stdout: stdout_r,
                stderr: stderr_r,
                verdict: verdict_r,
                status: status_r,
            }),
            (b"", _) => Err(self.gone(
                "no reply from the zygote",
                io::ErrorKind::UnexpectedEof.into(),
            )),
            (text, _) => Err(SandboxError::Failed(format!(
                "the zygote could not start a sandbox: {}",
                String::from_utf8_lossy(text)
            ))),
        }
    }

    fn gone(&self, what: &str, error: io::Error) -> SandboxError {
        let tail = self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
        let said = String::from_utf8_lossy(&tail);
        let said = said.trim();
        SandboxError::Failed(if said.is_empty() {
            format!("{what}: {error}")
        } else {
            format!("{what}: {error}; it said: {}", super::truncate(said, 500))
        })
    }
}

/// A `SOCK_SEQPACKET` socket pair, both ends close-on-exec (std has no such socket type).
fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    let done = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socketpair succeeded, so both are new descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The control-message buffer for up to `n` descriptors, aligned as `cmsghdr` needs.
fn control_buffer(n: usize) -> Vec<u64> {
    // SAFETY: CMSG_SPACE only computes a size.
    let bytes = unsafe { libc::CMSG_SPACE((n * size_of::<RawFd>()) as u32) } as usize;
    vec![0u64; bytes.div_ceil(size_of::<u64>())]
}

/// Send `data` with `fds` (SCM_RIGHTS) as one message. Hand-written on `libc`: std's
/// ancillary-data API is unstable, and these two calls are all the crate needs of one.
fn send_with_fds(socket: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let mut control = control_buffer(fds.len());
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = control.len() * size_of::<u64>();
    // SAFETY: the control buffer has room for one header and `fds` (CMSG_SPACE above).
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(fds) as u32) as usize;
        std::ptr::copy_nonoverlapping(
            fds.as_ptr(),
            libc::CMSG_DATA(header).cast::<RawFd>(),
            fds.len(),
        );
    }
    loop {
        // SAFETY: `message` describes valid buffers.
        let sent = unsafe { libc::sendmsg(socket, &message, libc::MSG_NOSIGNAL) };
        if sent >= 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Receive one message and at most one descriptor with it (close-on-exec).
fn receive_with_fd(socket: RawFd) -> io::Result<(Vec<u8>, Option<OwnedFd>)> {
    let mut data = vec![0u8; MESSAGE_LIMIT_BYTES];
    let mut control = control_buffer(1);
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = control.len() * size_of::<u64>();
    let received = loop {
        // SAFETY: `message` describes valid buffers.
        let n = unsafe { libc::recvmsg(socket, &mut message, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    };
    data.truncate(received);
    let mut fd = None;
    // SAFETY: the kernel filled `message`'s control part; each header is read within it.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(&message);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SCM_RIGHTS {
                let count = ((*header).cmsg_len - libc::CMSG_LEN(0) as usize) / size_of::<RawFd>();
                let fds = libc::CMSG_DATA(header).cast::<RawFd>();
                for i in 0..count {
                    // Each received descriptor is ours: the first kept, any other closed.
                    let owned = OwnedFd::from_raw_fd(fds.add(i).read_unaligned());
                    if fd.is_none() {
                        fd = Some(owned);
                    }
                }
            }
            header = libc::CMSG_NXTHDR(&message, header);
        }
    }
    Ok((data, fd))
}
