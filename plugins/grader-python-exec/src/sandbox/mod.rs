//! The bubblewrap sandbox: checking once that it starts, and running one launch in it with
//! its limits, killing the whole process tree at the end. The command line is built in
//! [`argv`], the process tree is controlled in [`tree`], the interpreter is found in
//! [`interpreter`], the run's files are prepared in [`rundir`], and what the run printed is
//! collected in [`output`].
//!
//! Process tree: the grader starts `bwrap` (the outer process, in its own process group,
//! with an empty environment and the rlimits), which starts bubblewrap's init as PID 1 of a
//! new PID namespace, which runs `[setpriv] prlimit python3 -E -S -B harness.py`. When PID 1
//! dies, the kernel kills and reaps every process of the namespace before PID 1's own exit
//! completes. The outer `bwrap` exits as soon as the harness does, which may be before its
//! init has finished that teardown; so the grader learns the init's pid from bwrap's
//! `--info-fd`, and when the run is over (harness exited, timeout, output limit) it kills
//! the init and waits, through a pidfd, until it has exited. Only then does a grade return.
//! A dropped run kills the init and the outer bwrap without waiting.
//!
//! Item-test mode as root: the sandboxes are forked by a zygote instead ([`zygote`]): the
//! grader holds a pidfd of each sandbox's PID 1 (no outer bwrap of its own), learns the
//! runner's exit status from a pipe that PID 1 writes, and kills and awaits PID 1 exactly
//! as it does bubblewrap's init.
//!
//! `RLIMIT_NPROC` is never enforced for uid 0, so as root the sandbox runs without a user
//! namespace and drops (with `setpriv`) to an unused uid, fresh for each run; as another
//! user the sandbox's own user namespace keeps the count per run. In both cases the limit is
//! set inside the sandbox (`prlimit`), so the count of the user's other processes does not
//! matter.

mod argv;
mod interpreter;
mod output;
mod pool;
mod rundir;
mod tree;
mod zygote;

use std::ffi::OsStr;
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use self::interpreter::{
    Interpreter, find_on_path, find_system_tool, resolve_interpreter, userns_hint,
};
pub(crate) use self::output::truncate;
use self::output::{end_of, keep, setup_failure};
pub(crate) use self::pool::Pool;
use self::rundir::RunDir;
use self::tree::{Tree, pidfd_open, read_init_pid};
use self::zygote::{Forked, Zygote};
use crate::options::{HARNESS_FILE, Limits, RunFile};

/// Where the run directory appears inside the sandbox.
pub(crate) const SANDBOX_DIR: &str = "/work";

/// The size of the sandbox's run directory (a private tmpfs).
pub(crate) const WORK_SIZE_BYTES: u64 = 64 * 1024 * 1024;

/// The size of the sandbox's `/dev/shm` (a private tmpfs).
pub(crate) const SHM_SIZE_BYTES: u64 = 16 * 1024 * 1024;

/// How long the outer `bwrap` may take to exit once its PID 1 was killed.
const TEARDOWN_GRACE: Duration = Duration::from_secs(5);

/// The descriptor number the sandbox's first process gets its verdict pipe on, when
/// [`Launch::verdict_fd`] asks for one. bubblewrap's init (PID 1 of the sandbox) closes every
/// descriptor above 2 it inherited, so only that process holds the pipe.
pub(crate) const VERDICT_FD_NUMBER: RawFd = 4;

/// The most of the verdict pipe that is kept.
const VERDICT_LIMIT_BYTES: usize = 1024 * 1024;

/// How long the start-up probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the sandbox cannot be used. Each is an error of the grader, not of an answer.
///
/// Each message is whole, its cause included: the grader hands errors on as text (the
/// plugin interface carries a string), so no variant also exposes the cause as
/// [`std::error::Error::source`], which would print it twice in a report of the chain.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "bubblewrap (`bwrap`) is not installed (not found on PATH); install it with `scripts/install-deps.sh sandbox` (Debian package `bubblewrap`)"
    )]
    NoBwrap,
    #[error(
        "`{tool}` is not installed (looked in /usr/bin, /bin, /usr/sbin, /sbin); the sandbox uses it to {purpose} (Debian package `util-linux`)"
    )]
    NoTool {
        tool: &'static str,
        purpose: &'static str,
    },
    #[error("cannot run the python interpreter `{python}`: {reason}")]
    Python { python: String, reason: String },
    #[error("the sandbox cannot start: {reason}{hint}")]
    Probe { reason: String, hint: String },
    #[error("cannot prepare the run directory {}: {error}", path.display())]
    RunDir { path: PathBuf, error: io::Error },
    #[error("cannot start {}: {error}", path.display())]
    Spawn { path: PathBuf, error: io::Error },
    #[error("the sandbox failed: {0}")]
    Failed(String),
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The harness process exited with this code.
    Exited(i32),
    /// The harness process was killed by this signal.
    Signaled(i32),
    TimedOut,
    OutputLimit,
    /// The first process wrote a complete line on its verdict pipe: its report is in, and
    /// the run is over whatever else is still running.
    Reported,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) end: End,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    /// What the first process wrote on its verdict pipe (empty without one).
    pub(crate) verdict: Vec<u8>,
}

/// What the sandbox's first process runs: `python3 FLAGS SCRIPT`, in the run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Launch<'a> {
    /// The interpreter's flags.
    pub(crate) flags: &'a [&'a str],
    /// The script: one of the run's files.
    pub(crate) script: &'a str,
    /// Written to the process's stdin, which is then closed; `None`: stdin is `/dev/null`.
    pub(crate) stdin: Option<Vec<u8>>,
    /// Give the process a pipe on descriptor [`VERDICT_FD_NUMBER`]; what it writes there is
    /// [`Outcome::verdict`].
    pub(crate) verdict_fd: bool,
}

impl Launch<'static> {
    /// `python3 -E -S -B harness.py`, reading `payload` (the nonce, the verdict pipe's
    /// number, the limits) on stdin and writing its verdict on the verdict pipe. Not `-I`:
    /// its `-P` would drop the run directory from `sys.path`, and `import harnesslib` would
    /// fail (the harness takes the directory off `sys.path` itself before the answer's
    /// process starts). `-S` (no `site`) keeps the host's site-packages and their `.pth`
    /// start-up code out: the standard library only, the same on every machine.
    pub(crate) fn harness(payload: Vec<u8>) -> Self {
        Self {
            flags: &["-E", "-S", "-B"],
            script: HARNESS_FILE,
            stdin: Some(payload),
            verdict_fd: true,
        }
    }
}

/// A checked, working sandbox configuration.
#[derive(Debug, Clone)]
pub(crate) struct Sandbox {
    bwrap: PathBuf,
    prlimit: PathBuf,
    /// Set when running as root: the sandbox drops to a fresh uid with it.
    setpriv: Option<PathBuf>,
    interpreter: Interpreter,
    limits: Limits,
}

impl Sandbox {
    /// Find the tools, resolve the interpreter, and start the sandbox once to prove it works.
    /// Blocking.
    pub(crate) fn new(python: &str, limits: Limits) -> Result<Self, SandboxError> {
        let bwrap = find_on_path("bwrap").ok_or(SandboxError::NoBwrap)?;
        let prlimit = find_system_tool("prlimit").ok_or(SandboxError::NoTool {
            tool: "prlimit",
            purpose: "limit the number of processes inside it",
        })?;
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let setpriv = if root {
            Some(find_system_tool("setpriv").ok_or(SandboxError::NoTool {
                tool: "setpriv",
                purpose: "drop root's privileges",
            })?)
        } else {
            None
        };
        let interpreter = resolve_interpreter(python)?;
        let sandbox = Self {
            bwrap,
            prlimit,
            setpriv,
            interpreter,
            limits,
        };
        sandbox.probe()?;
        Ok(sandbox)
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the sandbox runs as root (dropping to a fresh uid per run).
    fn as_root(&self) -> bool {
        self.setpriv.is_some()
    }

    /// Run `launch` in a fresh directory holding `files`.
    ///
    /// # Cancel safety
    /// Dropping the future kills the whole process tree (without waiting for it).
    pub(crate) async fn run(
        &self,
        files: &[&RunFile],
        mut launch: Launch<'_>,
    ) -> Result<Outcome, SandboxError> {
        let stdin = launch.stdin.take();
        let started = self.start(files, &launch, stdin.is_some()).await?;
        self.finish(started, stdin).await
    }

    /// Start `launch` in a fresh directory holding `files`, its stdin a pipe if `stdin` (not
    /// yet written: [`Sandbox::finish`] writes it), and return as soon as bubblewrap's init
    /// is known. The run's wall-clock limit starts in [`Sandbox::finish`]; until then the
    /// sandbox's first process waits (the trusted runner blocks reading its stdin).
    ///
    /// Dropping the result kills the whole process tree (without waiting for it).
    pub(crate) async fn start(
        &self,
        files: &[&RunFile],
        launch: &Launch<'_>,
        stdin: bool,
    ) -> Result<Started, SandboxError> {
        let run = RunDir::new(self.setpriv.is_some(), files)?;
        let (info_read, info_write) = pipe().map_err(|e| {
            SandboxError::Failed(format!("cannot make a pipe for bwrap's --info-fd: {e}"))
        })?;
        let mut argv = vec![self.interpreter.executable.as_os_str()];
        argv.extend(launch.flags.iter().map(OsStr::new));
        argv.push(OsStr::new(launch.script));
        let verdict = if launch.verdict_fd {
            Some(pipe().map_err(|e| {
                SandboxError::Failed(format!("cannot make a pipe for the verdict: {e}"))
            })?)
        } else {
            None
        };
        let mut command = tokio::process::Command::from(self.command(
            &run,
            Some(info_write.as_raw_fd()),
            verdict.as_ref().map(|(_, write)| write.as_raw_fd()),
            &argv,
        ));
        if stdin {
            command.stdin(Stdio::piped());
        }
        command.kill_on_drop(true);
        let child = command.spawn().map_err(|error| SandboxError::Spawn {
            path: self.bwrap.clone(),
            error,
        })?;
        drop(info_write);
        let verdict_pipe = match verdict {
            Some((read, _write)) => Some(
                tokio::net::unix::pipe::Receiver::from_owned_fd(read).map_err(|e| {
                    SandboxError::Failed(format!("cannot read the verdict pipe: {e}"))
                })?,
            ),
            None => None,
        };
        let mut tree = Tree::new(child.id());
        // bwrap reports its init's pid as soon as it has cloned it.
        let info = tokio::task::spawn_blocking(move || read_init_pid(info_read));
        if let Ok(Ok(Some(pid))) = tokio::time::timeout(TEARDOWN_GRACE, info).await {
            tree.init = pidfd_open(pid);
        }
        Ok(Started {
            _run: Some(run),
            process: Process::Bwrap(child),
            verdict_pipe,
            tree,
            born: Instant::now(),
        })
    }

    /// Start a fresh sandbox forked by `zygote` (see [`zygote`]), its runner running as a
    /// fresh uid, waiting for its stdin as [`Sandbox::start`]'s does. Blocking (a round trip
    /// to the zygote).
    fn start_forked(&self, zygote: &Zygote) -> Result<Started, SandboxError> {
        let Forked {
            init,
            stdin,
            stdout,
            stderr,
            verdict,
            status,
        } = zygote.fork(self, rundir::fresh_uid())?;
        let failed = |what: &str, e: io::Error| SandboxError::Failed(format!("{what}: {e}"));
        let mut tree = Tree::new(None);
        tree.init = Some(init);
        let receiver = |fd| {
            tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
                .map_err(|e| failed("cannot read a pipe of the sandbox", e))
        };
        let status = receiver(status)?;
        let stdin = tokio::net::unix::pipe::Sender::from_owned_fd(stdin)
            .map_err(|e| failed("cannot write the sandbox's stdin", e))?;
        Ok(Started {
            tree,
            process: Process::Forked {
                stdin: Some(stdin),
                stdout: Some(receiver(stdout)?),
                stderr: Some(receiver(stderr)?),
                status: Some(status),
            },
            verdict_pipe: Some(receiver(verdict)?),
            _run: None,
            born: Instant::now(),
        })
    }

    /// Write `stdin` (then close it), and run `started` to its end: its verdict line, its
    /// exit, the wall-clock limit (from now) or the output limit; then kill its whole process
    /// tree and wait until it is gone.
    ///
    /// # Cancel safety
    /// Dropping the future kills the whole process tree (without waiting for it).
    pub(crate) async fn finish(
        &self,
        started: Started,
        stdin: Option<Vec<u8>>,
    ) -> Result<Outcome, SandboxError> {
        let Started {
            _run,
            process,
            mut verdict_pipe,
            mut tree,
            born: _,
        } = started;
        let (stdin_pipe, mut stdout, mut stderr, mut exit) = process.split();
        if let (Some(bytes), Some(mut stdin)) = (stdin, stdin_pipe) {
            // Written beside the reading below (a payload larger than the pipe's buffer
            // would otherwise block both sides); an error means the process is gone, which
            // the run's end reports.
            tokio::spawn(async move {
                let _ = stdin.write_all(&bytes).await;
            });
        }
        let deadline = tokio::time::Instant::now() + self.limits.wall;

        let cap = self.limits.max_output_bytes;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (mut out_buf, mut err_buf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
        let (mut out_open, mut err_open) = (true, true);
        let mut verdict = Vec::new();
        let mut verdict_buf = vec![0u8; 4096];
        let mut verdict_open = verdict_pipe.is_some();
        let mut status: Option<ExitStatus> = None;
        let stopped = loop {
            if let Some(status) = status
                && !out_open
                && !err_open
            {
                break end_of(status);
            }
            tokio::select! {
                read = stdout.read(&mut out_buf), if out_open => match read {
                    Ok(0) | Err(_) => out_open = false,
                    Ok(n) => if !keep(&mut out, &out_buf[..n], err.len(), cap) {
                        break End::OutputLimit;
                    },
                },
                read = stderr.read(&mut err_buf), if err_open => match read {
                    Ok(0) | Err(_) => err_open = false,
                    Ok(n) => if !keep(&mut err, &err_buf[..n], out.len(), cap) {
                        break End::OutputLimit;
                    },
                },
                read = async {
                    match verdict_pipe.as_mut() {
                        Some(pipe) => pipe.read(&mut verdict_buf).await,
                        None => Ok(0),
                    }
                }, if verdict_open => match read {
                    Ok(0) | Err(_) => verdict_open = false,
                    Ok(n) => {
                        verdict.extend_from_slice(&verdict_buf[..n]);
                        if verdict.contains(&b'\n') || verdict.len() >= VERDICT_LIMIT_BYTES {
                            break End::Reported;
                        }
                    }
                },
                waited = exit.wait(), if status.is_none() => {
                    status = Some(waited.map_err(|e| SandboxError::Failed(format!("cannot wait for the sandbox: {e}")))?);
                }
                () = tokio::time::sleep_until(deadline) => break End::TimedOut,
            }
        };
        // The run is over: kill PID 1 (if the harness exited, it is exiting anyway), and with
        // it the namespace. The outer bwrap may already have exited (it does as soon as the
        // harness exits, before its init has torn the namespace down), so wait for the init
        // itself; then for the outer bwrap.
        tree.kill_init();
        if !tree.await_init_exit(TEARDOWN_GRACE).await {
            tracing::warn!("bwrap's init did not exit within {TEARDOWN_GRACE:?} of SIGKILL");
        }
        if let Exit::Bwrap(child) = &mut exit
            && status.is_none()
            && tokio::time::timeout(TEARDOWN_GRACE, child.wait())
                .await
                .is_err()
        {
            tracing::warn!("bwrap did not exit after its init was killed; killing it");
            tree.kill_outer();
            let _ = child.wait().await;
        }
        tree.disarm();
        // Every holder of the pipe's write end has exited by now (or, in the warned-about
        // cases, may not have): read what is left, until the end or for the grace period.
        if stopped != End::Reported
            && verdict_open
            && let Some(pipe) = verdict_pipe.as_mut()
        {
            let rest = async {
                while verdict.len() < VERDICT_LIMIT_BYTES {
                    match pipe.read(&mut verdict_buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => verdict.extend_from_slice(&verdict_buf[..n]),
                    }
                }
            };
            let _ = tokio::time::timeout(TEARDOWN_GRACE, rest).await;
        }
        verdict.truncate(VERDICT_LIMIT_BYTES);
        if let End::Exited(code) = stopped
            && code != 0
            && let Some(message) = setup_failure(&err)
        {
            return Err(SandboxError::Failed(message));
        }
        Ok(Outcome {
            end: stopped,
            stdout: out,
            stderr: err,
            verdict,
        })
    }

    /// Start the sandbox once with `print(1)`; refuse with the reason if it does not work.
    fn probe(&self) -> Result<(), SandboxError> {
        let run = RunDir::new(self.setpriv.is_some(), &[])?;
        let mut command = self.command(
            &run,
            None,
            None,
            &[
                self.interpreter.executable.as_os_str(),
                OsStr::new("-E"),
                OsStr::new("-S"),
                OsStr::new("-B"),
                OsStr::new("-c"),
                OsStr::new("print(1)"),
            ],
        );
        let mut child = command.spawn().map_err(|error| SandboxError::Spawn {
            path: self.bwrap.clone(),
            error,
        })?;
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() < PROBE_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) | Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(SandboxError::Probe {
                        reason: format!(
                            "bwrap did not finish `print(1)` within {} s",
                            PROBE_TIMEOUT.as_secs()
                        ),
                        hint: String::new(),
                    });
                }
            }
        };
        let (mut out, mut err) = (String::new(), String::new());
        if let Some(mut s) = child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        if status.success() && out.trim() == "1" {
            return Ok(());
        }
        let err = err.trim();
        let reason = format!(
            "running `{} -c 'print(1)'` in bwrap {}{}",
            self.interpreter.executable.display(),
            match status.code() {
                Some(0) => format!("printed {:?} instead of 1", out.trim()),
                Some(code) => format!("exited with code {code}"),
                None => format!("was killed by signal {}", status.signal().unwrap_or(0)),
            },
            if err.is_empty() {
                String::new()
            } else {
                format!(": {}", truncate(err, 500))
            }
        );
        let hint = if self.setpriv.is_none() {
            userns_hint()
        } else {
            String::new()
        };
        Err(SandboxError::Probe { reason, hint })
    }
}

/// A started sandbox (see [`Sandbox::start`]), not yet given its stdin. Dropping it kills
/// its whole process tree and removes its run directory.
#[derive(Debug)]
pub(crate) struct Started {
    /// Dropped first: kills the tree.
    tree: Tree,
    process: Process,
    verdict_pipe: Option<tokio::net::unix::pipe::Receiver>,
    /// The run's files on the host (a per-answer bwrap); removed when the run is over.
    _run: Option<RunDir>,
    born: Instant,
}

/// The started sandbox's first process, as the grader sees it.
#[derive(Debug)]
enum Process {
    /// A per-answer bwrap: the outer `bwrap` is the grader's child.
    Bwrap(tokio::process::Child),
    /// A sandbox forked by the zygote: its pipes, and the status pipe on which its PID 1
    /// writes the runner's wait status.
    Forked {
        stdin: Option<tokio::net::unix::pipe::Sender>,
        stdout: Option<tokio::net::unix::pipe::Receiver>,
        stderr: Option<tokio::net::unix::pipe::Receiver>,
        status: Option<tokio::net::unix::pipe::Receiver>,
    },
}

type Writer = Box<dyn AsyncWrite + Unpin + Send>;
type Reader = Box<dyn AsyncRead + Unpin + Send>;

impl Process {
    /// Its stdin (if piped), stdout, stderr, and how to wait for its end.
    fn split(self) -> (Option<Writer>, Reader, Reader, Exit) {
        match self {
            Self::Bwrap(mut child) => {
                let stdin = child.stdin.take().map(|s| Box::new(s) as Writer);
                let stdout = Box::new(child.stdout.take().expect("stdout is piped"));
                let stderr = Box::new(child.stderr.take().expect("stderr is piped"));
                (stdin, stdout, stderr, Exit::Bwrap(child))
            }
            Self::Forked {
                stdin,
                stdout,
                stderr,
                status,
            } => {
                let mut status = status.expect("split once");
                // Read aside, so that waiting is cancel safe in the caller's `select!`.
                let reading = tokio::spawn(async move {
                    let mut text = Vec::new();
                    let _ = status.read_to_end(&mut text).await;
                    // Nothing written: PID 1 was killed (only the grader kills it).
                    let raw = String::from_utf8_lossy(&text)
                        .trim()
                        .parse()
                        .unwrap_or(libc::SIGKILL);
                    ExitStatus::from_raw(raw)
                });
                (
                    stdin.map(|s| Box::new(s) as Writer),
                    Box::new(stdout.expect("split once")),
                    Box::new(stderr.expect("split once")),
                    Exit::Forked(reading),
                )
            }
        }
    }
}

/// How a started sandbox's end is awaited.
enum Exit {
    /// The outer bwrap's exit (its code is its first process's).
    Bwrap(tokio::process::Child),
    /// The runner's wait status, as the sandbox's PID 1 reported it.
    Forked(tokio::task::JoinHandle<ExitStatus>),
}

impl Exit {
    /// Cancel safe; not to be called again once it returned.
    async fn wait(&mut self) -> io::Result<ExitStatus> {
        match self {
            Self::Bwrap(child) => child.wait().await,
            Self::Forked(reading) => reading.await.map_err(io::Error::other),
        }
    }
}

impl Started {
    /// How long ago it was started.
    pub(crate) fn age(&self) -> Duration {
        self.born.elapsed()
    }

    /// A pidfd of its first process (a forked sandbox's PID 1, a per-answer bwrap's outer
    /// bwrap), to watch it go.
    #[cfg(test)]
    pub(crate) fn watch(&self) -> OwnedFd {
        match &self.process {
            Process::Bwrap(child) => pidfd_open(child.id().expect("running") as i32),
            Process::Forked { .. } => self
                .tree
                .init
                .as_ref()
                .and_then(|init| init.try_clone().ok()),
        }
        .expect("a pidfd")
    }

    /// Whether its first process is still running (for a per-answer bwrap: its outer
    /// bwrap; for a forked sandbox: its PID 1).
    pub(crate) fn alive(&mut self) -> bool {
        match &mut self.process {
            Process::Bwrap(child) => matches!(child.try_wait(), Ok(None)),
            Process::Forked { .. } => self.tree.init_alive(),
        }
    }
}

/// A pipe, both ends close-on-exec: (read, write).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are new descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_printed_once_in_the_message() {
        let error = SandboxError::Spawn {
            path: PathBuf::from("/usr/bin/bwrap"),
            error: io::Error::other("permission denied"),
        };
        assert_eq!(
            error.to_string(),
            "cannot start /usr/bin/bwrap: permission denied"
        );
        assert!(std::error::Error::source(&error).is_none());
        let error = SandboxError::RunDir {
            path: PathBuf::from("/tmp/x"),
            error: io::Error::other("no space left"),
        };
        assert_eq!(
            error.to_string(),
            "cannot prepare the run directory /tmp/x: no space left"
        );
        assert!(std::error::Error::source(&error).is_none());
    }

    #[test]
    fn a_sandbox_that_cannot_run_python_is_refused_with_the_reason() {
        let working = Sandbox::new("python3", Limits::default()).expect("the sandbox starts");
        let broken = Sandbox {
            interpreter: Interpreter {
                executable: PathBuf::from("/nonexistent/python3"),
                roots: Vec::new(),
            },
            ..working
        };
        let message = broken.probe().unwrap_err().to_string();
        assert!(
            message
                == "the sandbox cannot start: running `/nonexistent/python3 -c 'print(1)'` in bwrap exited with code 127: prlimit: failed to execute /nonexistent/python3: No such file or directory",
            "{message}"
        );
    }
}
