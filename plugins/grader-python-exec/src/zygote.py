"""The zygote of grader-python-exec's item-test mode, as root (the grader starts it once).

It is the first process of ONE long-lived bubblewrap sandbox (the same filesystem layout,
environment and limits as a per-answer one, but keeping the capabilities it needs to build
namespaces: CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_NET_ADMIN) and runs as
`python3 -I -S -B zygote.py CONTROL_FD SCRIPT`. Before it reads anything it imports what the
trusted runner (`SCRIPT`, `runner.py`) imports and compiles the script: the interpreter's
start-up, the imports and the compilation are paid once per grader instead of once per
answer, which was most of a grading's CPU.

It never runs answer code and never holds anything of an answer: the grader sends it, on its
control socket (a SOCK_SEQPACKET socket pair), one request per sandbox to start, `{"uid": U,
"files": [...], "limits": {...}}` with five descriptors (the runner's stdin to read, its
stdout, stderr and verdict pipe to write, and a status pipe), and it answers with a pidfd of
the sandbox's PID 1, or an error. Each request gets a FRESH sandbox, built as bubblewrap
builds one:

1. the zygote forks G in a new PID namespace (`unshare(CLONE_NEWPID)` before the fork, its
   own namespace restored after it): G is PID 1 of it, the zygote's direct child;
2. G enters new mount, network, IPC, UTS and cgroup namespaces; mounts a fresh 64 MiB tmpfs
   on `/work` with the run's files bound read-only into it, a fresh 16 MiB tmpfs on
   `/dev/shm`, and a fresh `/proc` of its PID namespace (the zygote's is detached: nothing of
   the zygote's namespace is visible), with `sys`, `sysrq-trigger`, `irq` and `bus`
   read-only as bubblewrap does; and brings the loopback interface up (the only interface);
3. G forks R (PID 2), which keeps only its four descriptors (as 0, 1, 2 and 4), sets the
   rlimits (CPU, data, file size, no core files, `max-processes`), drops the capability
   bounding set, sets no_new_privs, and becomes the fresh uid `U` with no groups (so no
   capability is left), then runs the compiled script as `__main__`, exactly as
   `python3 -I -S -B SCRIPT` would from there;
4. G keeps only the status pipe, drops every capability (it stays uid 0, so the answer's
   processes can neither signal nor trace it; as PID 1 it ignores signals from its own
   namespace anyway), reaps what is reparented to it, and when R exits writes R's wait
   status on the status pipe and exits: the kernel then kills every process of the
   namespace, and the grader, watching G's pidfd, sees G's exit only once they are gone.

Each fork is a copy-on-write snapshot of a process that has seen no answer: no state passes
from one answer to another. What forked sandboxes do share, being forks of one process: the
address-space layout (ASLR is chosen once per exec) and the hash seed of `str` (`-I` ignores
`PYTHONHASHSEED`), both of the trusted runner as much as of the answer.
"""

import os
import sys

# The runner's imports (and this file's), paid once: see the runner's own list.
import _signal
import _thread  # noqa: F401
import ast  # noqa: F401
import builtins
import ctypes
import fcntl
import json
import resource
import socket
import struct
import time  # noqa: F401

CONTROL_FD = int(sys.argv[1])
SCRIPT = sys.argv[2]
with open(SCRIPT, "rb") as _f:
    CODE = compile(_f.read(), SCRIPT, "exec")
del _f

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 4, 24, 38
WORK = "/work"
# As bubblewrap's --proc: these stay read-only.
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus")

# SIGINT would be a KeyboardInterrupt in G (PID 1 receives the signals it handles) and in
# the runner: ignored, as the runner ignores it.
_signal.signal(_signal.SIGINT, _signal.SIG_IGN)


class SetupError(Exception):
    pass


def check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise SetupError("%s: %s" % (what, os.strerror(errno)))


def mount(source, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    check(
        LIBC.mount(enc(source), enc(target), enc(fstype), flags, enc(data)),
        "mount %s on %s" % (fstype or source or "(remount)", target),
    )


def bind_read_only(source, target):
    mount(source, target, None, MS_BIND)
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def drop_bounding_set():
    cap = 0
    while LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1


def drop_capabilities():
    """Every capability of this process (effective, permitted, inheritable) to none."""
    drop_bounding_set()
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = ctypes.create_string_buffer(24)  # two zeroed __user_cap_data_struct
    check(LIBC.capset(header, data), "capset")


def build(request):
    """G's namespaces and filesystem (see the module doc, 2.)."""
    check(LIBC.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP), "unshare")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # The zygote's /work, holding the run's files (read-only), reached through a descriptor
    # once the fresh tmpfs covers it.
    old = os.open(WORK, os.O_PATH | os.O_DIRECTORY)
    mount("tmpfs", WORK, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0777,size=%d" % request["work_bytes"])
    for name in request["files"]:
        target = os.path.join(WORK, name)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        bind_read_only("/proc/self/fd/%d/%s" % (old, name), target)
    os.close(old)
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=%d" % request["shm_bytes"])
    check(LIBC.umount2(b"/proc", MNT_DETACH), "umount /proc")
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_READ_ONLY:
        path = "/proc/" + name
        if os.path.exists(path):
            bind_read_only(path, path)
    # The loopback interface up (SIOCGIFFLAGS, SIOCSIFFLAGS), as bubblewrap does.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sh", fcntl.ioctl(s, 0x8913, struct.pack("16sh", b"lo", 0)))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sh", b"lo", flags | 1))


def fail(message, status_w=None):
    """G or R could not set the sandbox up: say so on the run's stderr, exit 1 (G reports
    that as the runner's status, exit code 1)."""
    try:
        os.write(2, ("zygote: %s\n" % message).encode("utf-8", "replace"))
        if status_w is not None:
            os.write(status_w, b"%d\n" % (1 << 8))
    finally:
        os._exit(1)


def init(request, fds):
    """G, PID 1 of the new PID namespace. Returns only in R (its descriptors)."""
    stdin_r, stdout_w, stderr_w, verdict_w, status_w = fds
    try:
        os.dup2(stderr_w, 2)
        build(request)
        runner = os.fork()
    except BaseException as e:  # noqa: BLE001 (any failure of the set-up is reported)
        fail(str(e), status_w)
    if runner == 0:
        return fds
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        # Everything but stdio and the status pipe. (Not `closerange(0, 0)`: CPython 3.11
        # turns it into close_range(0, ~0), which closes everything.)
        os.closerange(3, status_w)
        os.closerange(status_w + 1, os.sysconf("SC_OPEN_MAX"))
        drop_capabilities()
        while True:
            pid, status = os.wait()
            if pid == runner:
                os.write(status_w, b"%d\n" % status)
                os._exit(0)
    except BaseException:  # noqa: BLE001 (PID 1's exit ends the sandbox: a failed grade)
        os._exit(1)


def become_runner(request, fds):
    """R (see the module doc, 3.): its descriptors, limits and credentials."""
    stdin_r, stdout_w, stderr_w, verdict_w, _status_w = fds
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in (stdin_r, stdout_w, stderr_w, verdict_w)]
    for fd, number in zip(moved, (0, 1, 2, 4)):
        os.dup2(fd, number)
    os.closerange(3, 4)
    os.closerange(5, os.sysconf("SC_OPEN_MAX"))
    limits = request["limits"]
    for which, soft, hard in (
        (resource.RLIMIT_CPU, limits["cpu_seconds"], limits["cpu_seconds"] + 1),
        (resource.RLIMIT_DATA, limits["data_bytes"], limits["data_bytes"]),
        (resource.RLIMIT_FSIZE, limits["file_bytes"], limits["file_bytes"]),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, limits["max_processes"], limits["max_processes"]),
    ):
        _, current = resource.getrlimit(which)
        if current != resource.RLIM_INFINITY:
            soft, hard = min(soft, current), min(hard, current)
        resource.setrlimit(which, (soft, hard))
    check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    drop_bounding_set()
    uid = request["uid"]
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SetupError("the uid did not change")
    os.chdir(WORK)


def spawn(sock, own_pid_ns):
    """Serve one request; returns only in R."""
    message, fds, _, _ = socket.recv_fds(sock, 1 << 16, 8)
    if not message:
        os._exit(0)  # the grader is gone
    pid = None
    try:
        request = json.loads(message)
        if len(fds) != 5:
            raise SetupError("expected 5 descriptors, got %d" % len(fds))
        check(LIBC.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
        try:
            pid = os.fork()
        finally:
            if pid != 0:
                check(LIBC.setns(own_pid_ns, CLONE_NEWPID), "setns(pid)")
        if pid == 0:
            return request, init(request, fds)
        pidfd = os.pidfd_open(pid)
        try:
            socket.send_fds(sock, [b"ok"], [pidfd])
        finally:
            os.close(pidfd)
    except Exception as e:  # noqa: BLE001 (the grader reports it as a sandbox error)
        if pid == 0:
            fail(str(e))
        sock.send(("error %s" % e).encode("utf-8", "replace"))
    finally:
        if pid != 0:
            for fd in fds:
                os.close(fd)
    return None


def serve():
    sock = socket.socket(fileno=CONTROL_FD)
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    while True:
        # Reap the sandboxes that are over (each G is this process's child).
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        role = spawn(sock, own_pid_ns)
        if role is not None:
            return role


# Only R gets past this line, outside any `try`: the script then ends as a main script does.
_REQUEST, _FDS = serve()
try:
    become_runner(_REQUEST, _FDS)
except BaseException as e:  # noqa: BLE001
    fail("cannot become the runner: %s" % e)
del _REQUEST, _FDS
sys.argv[:] = [SCRIPT]
_main = type(sys)("__main__")
_main.__dict__.update({"__builtins__": builtins, "__file__": SCRIPT})
sys.modules["__main__"] = _main
exec(CODE, _main.__dict__)
