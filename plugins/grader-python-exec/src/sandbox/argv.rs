//! The `bwrap` command line of a run: the namespaces, the read-only host paths, the private
//! tmpfs, the environment, the uid a root sandbox drops to, and the rlimits set before exec.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Stdio;

use super::interpreter::ancestors_to_create;
use super::rundir::RunDir;
use super::{SANDBOX_DIR, SHM_SIZE_BYTES, Sandbox, VERDICT_FD_NUMBER, WORK_SIZE_BYTES};
use crate::options::FILE_SIZE_LIMIT_BYTES;

/// The descriptor number bwrap's `--info-fd` gets in the bwrap process.
const INFO_FD_NUMBER: RawFd = 3;
const INFO_FD: &str = "3";

/// The descriptor number a zygote gets its control socket on.
pub(super) const CONTROL_FD_NUMBER: RawFd = 5;

/// What a zygote keeps: mounting and namespaces, the uid and gid of each runner, dropping
/// the bounding set, and bringing each sandbox's loopback interface up.
const ZYGOTE_CAPABILITIES: [&str; 5] = [
    "CAP_SYS_ADMIN",
    "CAP_SETUID",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_NET_ADMIN",
];

impl Sandbox {
    /// The `bwrap` command for a run in `run`, ending in `argv`; bwrap writes its info (the
    /// init's pid) to `info_fd`, if given; `verdict_fd`, if given, is passed on to the
    /// sandbox as descriptor [`VERDICT_FD_NUMBER`].
    pub(super) fn command(
        &self,
        run: &RunDir,
        info_fd: Option<RawFd>,
        verdict_fd: Option<RawFd>,
        argv: &[&OsStr],
    ) -> std::process::Command {
        self.command_as(run, info_fd, verdict_fd, None, argv)
    }

    /// The `bwrap` command of a zygote (as root; see [`super::zygote`]): the same sandbox,
    /// but its first process keeps, as root, the capabilities it needs to build a sandbox
    /// per answer (no `setpriv`, no `prlimit`: it sets the uid and the limits of each
    /// sandbox's runner itself), has no CPU-time limit (it lives as long as the grader; each
    /// runner gets the limit), and gets its control socket as descriptor
    /// [`CONTROL_FD_NUMBER`].
    pub(super) fn zygote_command(
        &self,
        run: &RunDir,
        info_fd: RawFd,
        control_fd: RawFd,
        argv: &[&OsStr],
    ) -> std::process::Command {
        self.command_as(run, Some(info_fd), None, Some(control_fd), argv)
    }

    fn command_as(
        &self,
        run: &RunDir,
        info_fd: Option<RawFd>,
        verdict_fd: Option<RawFd>,
        control_fd: Option<RawFd>,
        argv: &[&OsStr],
    ) -> std::process::Command {
        let zygote = control_fd.is_some();
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
        if zygote {
            for capability in ZYGOTE_CAPABILITIES {
                push(&[os("--cap-add"), os(capability)]);
            }
            push(&[os("--")]);
            push(argv);
        } else if let (Some(setpriv), Some(uid)) = (&self.setpriv, run.uid) {
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
        if !zygote {
            let nproc = self.limits.max_processes;
            push(&[
                self.prlimit.as_os_str(),
                &OsString::from(format!("--nproc={nproc}:{nproc}")),
                os("--"),
            ]);
            push(argv);
        }

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
                if !zygote {
                    set_limit(libc::RLIMIT_CPU, cpu, cpu + 1)?;
                }
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
                let wanted = [
                    (info_fd, INFO_FD_NUMBER),
                    (verdict_fd, VERDICT_FD_NUMBER),
                    (control_fd, CONTROL_FD_NUMBER),
                ];
                let mut moved: [RawFd; 3] = [-1; 3];
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
