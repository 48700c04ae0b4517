//! The bubblewrap sandbox: building the `bwrap` command line, checking once that it starts,
//! and running one harness with its limits, killing the whole process tree at the end.
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
//! `RLIMIT_NPROC` is never enforced for uid 0, so as root the sandbox runs without a user
//! namespace and drops (with `setpriv`) to an unused uid, fresh for each run; as another
//! user the sandbox's own user namespace keeps the count per run. In both cases the limit is
//! set inside the sandbox (`prlimit`), so the count of the user's other processes does not
//! matter.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::options::{FILE_SIZE_LIMIT_BYTES, HARNESS_FILE, Limits, RunFile};

/// Where the run directory appears inside the sandbox.
pub(crate) const SANDBOX_DIR: &str = "/work";

/// The size of the sandbox's run directory (a private tmpfs).
pub(crate) const WORK_SIZE_BYTES: u64 = 64 * 1024 * 1024;

/// The size of the sandbox's `/dev/shm` (a private tmpfs).
pub(crate) const SHM_SIZE_BYTES: u64 = 16 * 1024 * 1024;

/// How long the outer `bwrap` may take to exit once its PID 1 was killed.
const TEARDOWN_GRACE: Duration = Duration::from_secs(5);

/// The descriptor number bwrap's `--info-fd` gets in the bwrap process.
const INFO_FD_NUMBER: RawFd = 3;
const INFO_FD: &str = "3";

/// The descriptor number the sandbox's first process gets its verdict pipe on, when
/// [`Launch::verdict_fd`] asks for one. bubblewrap's init (PID 1 of the sandbox) closes every
/// descriptor above 2 it inherited, so only that process holds the pipe.
pub(crate) const VERDICT_FD_NUMBER: RawFd = 4;

/// The most of the verdict pipe that is kept.
const VERDICT_LIMIT_BYTES: usize = 1024 * 1024;

/// How long the start-up probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// The uids a root sandbox drops to: `UID_BASE + (0..UID_SPAN)`, chosen at random per run
/// so that concurrent runs (even of different processes) do not share a process count.
const UID_BASE: u64 = 1_500_000_000;
const UID_SPAN: u64 = 100_000_000;

/// Why the sandbox cannot be used. Each is an error of the grader, not of an answer.
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
    #[error("cannot prepare the run directory {}: {source}", path.display())]
    RunDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot start {}: {source}", path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the sandbox failed: {0}")]
    Failed(String),
}

/// The interpreter as the sandbox sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Interpreter {
    /// The path to execute (real path, or a venv's `bin/python`).
    executable: PathBuf,
    /// Directories bound read-only (prefixes), outside `/usr`.
    roots: Vec<PathBuf>,
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

    /// Run `launch` in a fresh directory holding `files`.
    ///
    /// # Cancel safety
    /// Dropping the future kills the whole process tree (without waiting for it).
    pub(crate) async fn run(
        &self,
        files: &[&RunFile],
        launch: Launch<'_>,
    ) -> Result<Outcome, SandboxError> {
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
        if launch.stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        command.kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| SandboxError::Spawn {
            path: self.bwrap.clone(),
            source,
        })?;
        if let (Some(bytes), Some(mut stdin)) = (launch.stdin, child.stdin.take()) {
            // Written beside the reading below (a payload larger than the pipe's buffer
            // would otherwise block both sides); an error means the process is gone, which
            // the run's end reports.
            tokio::spawn(async move {
                let _ = stdin.write_all(&bytes).await;
            });
        }
        let deadline = tokio::time::Instant::now() + self.limits.wall;
        drop(info_write);
        let mut verdict_pipe = match verdict {
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
        if let Ok(Ok(Some(pid))) = tokio::time::timeout_at(deadline, info).await {
            tree.init = pidfd_open(pid);
        }
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");

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
                waited = child.wait(), if status.is_none() => {
                    status = Some(waited.map_err(|e| SandboxError::Failed(format!("cannot wait for bwrap: {e}")))?);
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
        if status.is_none()
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

    /// The `bwrap` command for a run in `run`, ending in `argv`; bwrap writes its info (the
    /// init's pid) to `info_fd`, if given; `verdict_fd`, if given, is passed on to the
    /// sandbox as descriptor [`VERDICT_FD_NUMBER`].
    fn command(
        &self,
        run: &RunDir,
        info_fd: Option<RawFd>,
        verdict_fd: Option<RawFd>,
        argv: &[&OsStr],
    ) -> std::process::Command {
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |items: &[&OsStr]| args.extend(items.iter().map(|s| s.to_os_string()));
        let os = |s: &'static str| OsStr::new(s);
        if self.setpriv.is_some() {
            // No user namespace: as root it would map only root, for whom RLIMIT_NPROC is
            // not enforced. The processes drop to `run.uid` instead.
            push(&[
                os("--unshare-ipc"),
                os("--unshare-pid"),
                os("--unshare-net"),
                os("--unshare-uts"),
                os("--unshare-cgroup-try"),
            ]);
        } else {
            push(&[
                os("--unshare-all"),
                os("--unshare-user"),
                os("--disable-userns"),
            ]);
        }
        if info_fd.is_some() {
            push(&[os("--info-fd"), os(INFO_FD)]);
        }
        push(&[
            os("--die-with-parent"),
            os("--new-session"),
            os("--ro-bind"),
            os("/usr"),
            os("/usr"),
        ]);
        for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            let path = Path::new(top);
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(path) {
                        push(&[os("--symlink"), target.as_os_str(), os(top)]);
                    }
                }
                Ok(m) if m.is_dir() => push(&[os("--ro-bind"), os(top), os(top)]),
                _ => {}
            }
        }
        for file in ["/etc/ld.so.cache", "/etc/localtime"] {
            push(&[os("--ro-bind-try"), os(file), os(file)]);
        }
        for dir in ancestors_to_create(&self.interpreter.roots) {
            push(&[os("--perms"), os("0755"), os("--dir"), dir.as_os_str()]);
        }
        for root in &self.interpreter.roots {
            push(&[os("--ro-bind"), root.as_os_str(), root.as_os_str()]);
        }
        let bin_dir = self
            .interpreter
            .executable
            .parent()
            .unwrap_or(Path::new("/usr/bin"));
        let mut path_var = bin_dir.as_os_str().to_os_string();
        path_var.push(":/usr/local/bin:/usr/bin:/bin");
        // The only writable places are two small private tmpfs: the run directory and
        // /dev/shm. The run's files are bound read-only into the first. Nothing the answer
        // writes reaches the host's disk, and it cannot write more than their sizes.
        let work_size = WORK_SIZE_BYTES.to_string();
        let shm_size = SHM_SIZE_BYTES.to_string();
        push(&[
            os("--proc"),
            os("/proc"),
            os("--dev"),
            os("/dev"),
            os("--perms"),
            os("1777"),
            os("--size"),
            OsStr::new(&shm_size),
            os("--tmpfs"),
            os("/dev/shm"),
            os("--perms"),
            os("0777"),
            os("--size"),
            OsStr::new(&work_size),
            os("--tmpfs"),
            os(SANDBOX_DIR),
        ]);
        for name in &run.files {
            let inside = Path::new(SANDBOX_DIR).join(name);
            push(&[
                os("--ro-bind"),
                run.dir.path().join(name).as_os_str(),
                inside.as_os_str(),
            ]);
        }
        push(&[
            os("--remount-ro"),
            os("/dev"),
            os("--remount-ro"),
            os("/"),
            os("--chdir"),
            os(SANDBOX_DIR),
            os("--clearenv"),
            os("--setenv"),
            os("PATH"),
            &path_var,
            os("--setenv"),
            os("HOME"),
            os(SANDBOX_DIR),
            os("--setenv"),
            os("LANG"),
            os("C.UTF-8"),
            os("--setenv"),
            os("PYTHONHASHSEED"),
            os("0"),
        ]);
        if let (Some(setpriv), Some(uid)) = (&self.setpriv, run.uid) {
            let uid = uid.to_string();
            push(&[
                os("--cap-add"),
                os("CAP_SETUID"),
                os("--cap-add"),
                os("CAP_SETGID"),
                os("--"),
                setpriv.as_os_str(),
                &OsString::from(format!("--reuid={uid}")),
                &OsString::from(format!("--regid={uid}")),
                os("--clear-groups"),
                os("--inh-caps=-all"),
                os("--bounding-set=-all"),
                os("--"),
            ]);
        } else {
            push(&[os("--")]);
        }
        let nproc = self.limits.max_processes;
        push(&[
            self.prlimit.as_os_str(),
            &OsString::from(format!("--nproc={nproc}:{nproc}")),
            os("--"),
        ]);
        push(argv);

        let mut command = std::process::Command::new(&self.bwrap);
        command
            .args(args)
            .env_clear()
            .current_dir(run.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let memory = self.limits.memory_mb * 1024 * 1024;
        let cpu = self.limits.cpu_seconds;
        // SAFETY: the closure only makes async-signal-safe system calls (setrlimit, prctl,
        // close_range, fcntl, dup2) and allocates nothing.
        unsafe {
            command.pre_exec(move || {
                set_limit(libc::RLIMIT_DATA, memory, memory)?;
                set_limit(libc::RLIMIT_CPU, cpu, cpu + 1)?;
                set_limit(
                    libc::RLIMIT_FSIZE,
                    FILE_SIZE_LIMIT_BYTES,
                    FILE_SIZE_LIMIT_BYTES,
                )?;
                set_limit(libc::RLIMIT_CORE, 0, 0)?;
                // If the grading thread dies, so does the sandbox.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                // No descriptor of the host process but stdio crosses into the sandbox,
                // even one opened without O_CLOEXEC. Older kernels lack the call: then
                // only std's O_CLOEXEC discipline applies.
                libc::syscall(
                    libc::SYS_close_range,
                    3 as libc::c_uint,
                    libc::c_uint::MAX,
                    libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
                );
                // Each descriptor to its number: first copied out of the way (one may sit on
                // the other's number; the copies are close-on-exec), then into place (dup2
                // clears close-on-exec on the copy it makes).
                let wanted = [(info_fd, INFO_FD_NUMBER), (verdict_fd, VERDICT_FD_NUMBER)];
                let mut moved: [RawFd; 2] = [-1; 2];
                for (slot, (fd, _)) in moved.iter_mut().zip(wanted) {
                    if let Some(fd) = fd {
                        *slot = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 16);
                        if *slot == -1 {
                            return Err(io::Error::last_os_error());
                        }
                    }
                }
                for (copy, (_, number)) in moved.into_iter().zip(wanted) {
                    if copy != -1 && libc::dup2(copy, number) == -1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        command
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
        let mut child = command.spawn().map_err(|source| SandboxError::Spawn {
            path: self.bwrap.clone(),
            source,
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

/// Append `bytes` to `buf` unless stdout and stderr together (`other` is the other
/// stream's length) would pass `cap`; then keep what fits and return false.
fn keep(buf: &mut Vec<u8>, bytes: &[u8], other: usize, cap: usize) -> bool {
    let room = cap.saturating_sub(buf.len() + other);
    if bytes.len() <= room {
        buf.extend_from_slice(bytes);
        true
    } else {
        buf.extend_from_slice(&bytes[..room]);
        false
    }
}

fn end_of(status: ExitStatus) -> End {
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
fn setup_failure(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let first = text.lines().next()?;
    (first.starts_with("bwrap: ")
        || first.starts_with("setpriv: ")
        || first.starts_with("prlimit: "))
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

/// Set a resource limit, never above the current hard limit (which only root may raise).
fn set_limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `current` is a valid rlimit to write into.
    if unsafe { libc::getrlimit(resource, &mut current) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let limit = libc::rlimit {
        rlim_cur: soft.min(current.rlim_max),
        rlim_max: hard.min(current.rlim_max),
    };
    // SAFETY: `limit` is a valid rlimit for the duration of the call.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The run's temporary directory on the host: the files bound read-only into the sandbox.
#[derive(Debug)]
struct RunDir {
    dir: tempfile::TempDir,
    /// The files' names, each bound at `/work/<name>`.
    files: Vec<String>,
    /// The uid a root sandbox drops to.
    uid: Option<u32>,
}

impl RunDir {
    fn new(as_root: bool, files: &[&RunFile]) -> Result<Self, SandboxError> {
        let dir = tempfile::Builder::new()
            .prefix("llmbench-exec-")
            .tempdir()
            .map_err(|source| SandboxError::RunDir {
                path: std::env::temp_dir(),
                source,
            })?;
        for file in files {
            let path = dir.path().join(&file.name);
            std::fs::write(&path, &file.contents)
                .map_err(|source| SandboxError::RunDir { path, source })?;
        }
        Ok(Self {
            dir,
            files: files.iter().map(|f| f.name.clone()).collect(),
            uid: as_root.then(fresh_uid),
        })
    }
}

/// A uid nobody uses, different for each run.
fn fresh_uid() -> u32 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64's finalizer.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (UID_BASE + x % UID_SPAN) as u32
}

/// The process tree of one run, for killing it. Killing goes through pidfds, so a pid
/// reused after the process was reaped is never signalled.
#[derive(Debug)]
struct Tree {
    outer_pid: Option<u32>,
    outer: Option<OwnedFd>,
    /// bubblewrap's init, PID 1 of the sandbox, once known.
    init: Option<OwnedFd>,
    armed: bool,
}

impl Tree {
    fn new(outer_pid: Option<u32>) -> Self {
        Self {
            outer_pid,
            outer: outer_pid.and_then(|p| pidfd_open(p as i32)),
            init: None,
            armed: true,
        }
    }

    /// Kill bubblewrap's init (PID 1 of the sandbox): the kernel then kills the rest.
    /// Falls back to killing the outer bwrap, whose death kills the init (`--die-with-parent`).
    fn kill_init(&self) {
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
    async fn await_init_exit(&self, limit: Duration) -> bool {
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

    fn kill_outer(&self) {
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

    fn disarm(&mut self) {
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

/// The `child-pid` of bwrap's `--info-fd` JSON (`{"child-pid": 123, ...}`), read until the
/// object closes or the pipe does. Blocking.
fn read_init_pid(fd: OwnedFd) -> Option<i32> {
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

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
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

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A system tool the sandbox runs inside itself, so it must be under `/usr` or `/bin`.
fn find_system_tool(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// Ask the interpreter where it lives (it runs on the host, unsandboxed: it is the
/// configured interpreter running fixed code, not an answer).
fn resolve_interpreter(python: &str) -> Result<Interpreter, SandboxError> {
    let fail = |reason: String| SandboxError::Python {
        python: python.to_owned(),
        reason,
    };
    const SCRIPT: &str = "import sys\nfor p in (sys.executable, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix): print(p)";
    let mut command = std::process::Command::new(python);
    command
        .args(["-I", "-c", SCRIPT])
        .stdin(Stdio::null())
        .env_clear();
    // What a pyenv shim or a wrapper needs to find the interpreter; nothing else (no key).
    for var in ["PATH", "HOME", "LANG", "PYENV_ROOT", "PYENV_VERSION"] {
        if let Some(value) = std::env::var_os(var) {
            command.env(var, value);
        }
    }
    let output = command.output().map_err(|e| fail(e.to_string()))?;
    if !output.status.success() {
        return Err(fail(format!(
            "it exited with {}: {}",
            output.status,
            truncate(String::from_utf8_lossy(&output.stderr).trim(), 300)
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let [
        executable,
        prefix,
        base_prefix,
        exec_prefix,
        base_exec_prefix,
    ] = lines[..]
    else {
        return Err(fail(format!(
            "unexpected answer to where it lives: {text:?}"
        )));
    };
    if executable.is_empty() {
        return Err(fail("it does not know its own executable".into()));
    }
    let canonical =
        |p: &str| std::fs::canonicalize(p).map_err(|e| fail(format!("cannot resolve {p}: {e}")));
    let executable_path = Path::new(executable);
    let venv = prefix != base_prefix;
    let executable = if venv {
        // Keep the venv's own `bin/python` (a symlink), so that it finds `pyvenv.cfg`.
        let dir = executable_path
            .parent()
            .ok_or_else(|| fail(format!("odd executable path {executable}")))?;
        canonical(&dir.to_string_lossy())?.join(executable_path.file_name().unwrap_or_default())
    } else {
        canonical(executable)?
    };
    let real_executable = canonical(&executable.to_string_lossy())?;
    let mut roots: Vec<PathBuf> = Vec::new();
    for p in [prefix, base_prefix, exec_prefix, base_exec_prefix] {
        roots.push(canonical(p)?);
    }
    for exe in [&executable, &real_executable] {
        if let Some(dir) = exe.parent() {
            roots.push(dir.to_owned());
        }
    }
    Ok(Interpreter {
        executable,
        roots: outermost(roots),
    })
}

/// Drop paths already visible (under `/usr`, or under another path of the list), and
/// duplicates; sorted.
fn outermost(mut roots: Vec<PathBuf>) -> Vec<PathBuf> {
    roots.sort();
    roots.dedup();
    let mut kept: Vec<PathBuf> = Vec::new();
    for root in roots {
        if root == Path::new("/") {
            continue;
        }
        if root.starts_with("/usr") || kept.iter().any(|k| root.starts_with(k)) {
            continue;
        }
        kept.push(root);
    }
    kept
}

/// The directories above the bound roots, which bwrap would otherwise create with the
/// host's permissions (`/root` is 0700, so a non-root sandbox could not reach a pyenv
/// interpreter below it).
fn ancestors_to_create(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = roots
        .iter()
        .flat_map(|r| r.ancestors().skip(1).map(Path::to_owned))
        .filter(|a| a != Path::new("/") && !roots.iter().any(|r| a.starts_with(r)))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Why a non-root sandbox could not start, when the kernel says so.
fn userns_hint() -> String {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_owned())
    };
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return "; unprivileged user namespaces are disabled on this machine (sysctl kernel.unprivileged_userns_clone = 0); enable them with `sysctl -w kernel.unprivileged_userns_clone=1`, or run as root".into();
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return "; user namespaces are disabled on this machine (sysctl user.max_user_namespaces = 0); raise it with `sysctl -w user.max_user_namespaces=10000`, or run as root".into();
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return "; AppArmor restricts unprivileged user namespaces on this machine (sysctl kernel.apparmor_restrict_unprivileged_userns = 1); give bwrap an AppArmor profile that allows `userns`, or set the sysctl to 0".into();
    }
    String::new()
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
    fn roots_under_usr_or_other_roots_are_dropped() {
        let roots = outermost(
            [
                "/root/.pyenv/versions/3.11.7",
                "/root/.pyenv/versions/3.11.7/bin",
                "/usr",
                "/usr/lib/python3.11",
                "/opt/venv",
            ]
            .map(PathBuf::from)
            .to_vec(),
        );
        assert_eq!(
            roots,
            ["/opt/venv", "/root/.pyenv/versions/3.11.7"].map(PathBuf::from)
        );
        assert_eq!(
            ancestors_to_create(&roots),
            ["/opt", "/root", "/root/.pyenv", "/root/.pyenv/versions"].map(PathBuf::from)
        );
    }

    #[test]
    fn fresh_uids_are_unprivileged_and_differ() {
        let a = fresh_uid();
        let b = fresh_uid();
        assert_ne!(a, b);
        for uid in [a, b] {
            assert!((UID_BASE..UID_BASE + UID_SPAN).contains(&u64::from(uid)));
        }
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
