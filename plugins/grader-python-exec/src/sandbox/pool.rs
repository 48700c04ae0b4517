//! A pool of started sandboxes for the trusted runner (item-test mode): each one a fresh
//! bubblewrap sandbox in which the runner has already started, imported what it needs, made
//! itself non-dumpable and forked the answer's process, and waits on its stdin for its
//! one payload. Nothing about an answer exists in it before it is taken: the item, the code
//! and the nonce arrive only then. Each is used for exactly one answer and then torn down
//! like any run (the whole process tree killed, the grade returning only once it is gone);
//! the pool is refilled in the background. What this saves is latency, not isolation: the
//! fixed start-up costs (bwrap's set-up, the interpreter's start-up and imports) are paid
//! while no grading waits for them.
//!
//! As root, each sandbox is forked by the pool's zygote ([`super::zygote`], started when
//! first needed and again if found gone) instead of being a bwrap of its own: the same
//! isolation, without bwrap's and the interpreter's start-up per answer.
//!
//! A started sandbox waits at most the pool's lifetime, then is killed and replaced; one
//! whose first process has exited is never used. Dropping the pool (the grader) kills every
//! started sandbox it holds; a refill still starting when the pool is dropped kills its
//! sandbox as soon as it has started.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

use super::{Launch, Outcome, Sandbox, SandboxError, Started, Zygote};
use crate::options::{PoolSettings, RunFile};

/// Started sandboxes for one launch (`flags`, `script`, `files`), each given a payload on
/// stdin when used.
#[derive(Debug)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sandbox: Sandbox,
    files: Vec<RunFile>,
    flags: &'static [&'static str],
    script: &'static str,
    settings: PoolSettings,
    state: Mutex<State>,
    /// As root: the zygote that forks each sandbox (started when first needed, and again
    /// when it is found gone).
    zygote: Mutex<Option<Arc<Zygote>>>,
}

#[derive(Debug, Default)]
struct State {
    warm: VecDeque<Started>,
    /// Refills under way.
    starting: usize,
}

impl Inner {
    fn launch(&self) -> Launch<'static> {
        Launch {
            flags: self.flags,
            script: self.script,
            stdin: None,
            verdict_fd: true,
        }
    }

    /// A fresh sandbox: forked by the zygote as root, else (or when no zygote can be
    /// started) a bwrap of its own; both are isolated alike.
    async fn start(self: &Arc<Self>) -> Result<Started, SandboxError> {
        if self.sandbox.as_root() {
            let inner = Arc::clone(self);
            match tokio::task::spawn_blocking(move || inner.start_forked()).await {
                Ok(Ok(started)) => return Ok(started),
                Ok(Err(error)) => {
                    tracing::warn!("the zygote cannot start a sandbox ({error}); starting bwrap")
                }
                Err(error) => tracing::warn!("the zygote's start failed ({error}); starting bwrap"),
            }
        }
        let files: Vec<&RunFile> = self.files.iter().collect();
        self.sandbox.start(&files, &self.launch(), true).await
    }

    /// Blocking.
    fn start_forked(&self) -> Result<Started, SandboxError> {
        let zygote = self.zygote()?;
        match self.sandbox.start_forked(&zygote) {
            // Killed or crashed since it was last used: a new one, once.
            Err(_) if !zygote.alive() => {
                self.forget(&zygote);
                let zygote = self.zygote()?;
                self.sandbox.start_forked(&zygote)
            }
            started => started,
        }
    }

    /// The running zygote, started if there is none (or it is gone). Blocking.
    fn zygote(&self) -> Result<Arc<Zygote>, SandboxError> {
        let mut zygote = self.zygote.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = zygote.as_ref()
            && running.alive()
        {
            return Ok(Arc::clone(running));
        }
        let files: Vec<&RunFile> = self.files.iter().collect();
        let started = Arc::new(Zygote::start(
            &self.sandbox,
            &files,
            self.flags,
            self.script,
        )?);
        *zygote = Some(Arc::clone(&started));
        Ok(started)
    }

    fn forget(&self, gone: &Arc<Zygote>) {
        let mut zygote = self.zygote.lock().unwrap_or_else(|e| e.into_inner());
        if zygote.as_ref().is_some_and(|z| Arc::ptr_eq(z, gone)) {
            *zygote = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves a consistent queue: go on with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Pool {
    /// A pool for `python3 FLAGS SCRIPT` in a run directory holding `files`, each run with
    /// a verdict pipe. Empty until first used.
    pub(crate) fn new(
        sandbox: Sandbox,
        files: Vec<RunFile>,
        flags: &'static [&'static str],
        script: &'static str,
        settings: PoolSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                sandbox,
                files,
                flags,
                script,
                settings,
                state: Mutex::new(State::default()),
                zygote: Mutex::new(None),
            }),
        }
    }

    /// Run one grading with `payload` on the runner's stdin, in a started sandbox taken from
    /// the pool (or, when none is ready, one started now), and refill the pool.
    ///
    /// # Cancel safety
    /// Dropping the future kills the sandbox's whole process tree.
    pub(crate) async fn run(&self, payload: Vec<u8>) -> Result<Outcome, SandboxError> {
        let warm = self.take();
        self.refill();
        let started = match warm {
            Some(started) => started,
            None => self.inner.start().await?,
        };
        self.inner.sandbox.finish(started, Some(payload)).await
    }

    /// A started sandbox that is still running and within its lifetime, if one is ready.
    /// The others are dropped (killed) on the way.
    fn take(&self) -> Option<Started> {
        let lifetime = self.inner.settings.lifetime;
        let mut state = self.inner.lock();
        while let Some(mut started) = state.warm.pop_front() {
            if started.age() < lifetime && started.alive() {
                return Some(started);
            }
        }
        None
    }

    /// Start, in the background, as many sandboxes as the pool lacks. Without a tokio
    /// runtime (never the case inside the plugin), nothing is started ahead.
    fn refill(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let missing = {
            let mut state = self.inner.lock();
            let missing = self
                .inner
                .settings
                .size
                .saturating_sub(state.warm.len() + state.starting);
            state.starting += missing;
            missing
        };
        for _ in 0..missing {
            let pool: Weak<Inner> = Arc::downgrade(&self.inner);
            runtime.spawn(async move {
                let Some(inner) = pool.upgrade() else {
                    return;
                };
                let started = inner.start().await;
                let mut state = inner.lock();
                state.starting -= 1;
                match started {
                    Ok(started) if state.warm.len() < inner.settings.size => {
                        state.warm.push_back(started);
                    }
                    Ok(_) => {}
                    // The grading that finds the pool empty starts its own sandbox and
                    // reports why it cannot.
                    Err(error) => tracing::debug!("cannot start a sandbox ahead: {error}"),
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsRawFd as _, OwnedFd};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::options::Limits;

    /// Whether the process behind `pidfd` has exited, waiting at most `limit`.
    fn exited(pidfd: &OwnedFd, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            let mut poll = libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, no waiting.
            if unsafe { libc::poll(&mut poll, 1, 0) } == 1 {
                return true;
            }
            if start.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_started_sandbox_runs_once_and_a_dropped_pool_kills_the_rest() {
        let sandbox = Sandbox::new("python3", Limits::default()).expect("the sandbox starts");
        // Prints its payload (each run's own) and its pid namespace's view of itself.
        let script = RunFile {
            name: "echo.py".into(),
            contents:
                b"import os, sys\nsys.stdout.write(sys.stdin.read() + ' ' + str(os.getpid()))\n"
                    .to_vec(),
        };
        let pool = Pool::new(
            sandbox,
            vec![script],
            &["-I", "-S", "-B"],
            "echo.py",
            PoolSettings {
                size: 2,
                lifetime: Duration::from_secs(60),
            },
        );
        for payload in ["first", "second", "third"] {
            let outcome = pool.run(payload.as_bytes().to_vec()).await.unwrap();
            // A fresh sandbox each time: its first process is the first of its namespace.
            assert_eq!(
                String::from_utf8_lossy(&outcome.stdout),
                format!("{payload} 2")
            );
        }
        let start = Instant::now();
        while pool.inner.lock().warm.len() < 2 {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the pool did not refill"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if pool.inner.sandbox.as_root() {
            // As root they are forked by the zygote (no silent fallback to bwrap here).
            assert!(
                pool.inner
                    .lock()
                    .warm
                    .iter()
                    .all(|started| matches!(started.process, super::super::Process::Forked { .. })),
                "as root, the pool's sandboxes are forked by its zygote"
            );
        }
        let pidfds: Vec<OwnedFd> = pool
            .inner
            .lock()
            .warm
            .iter()
            .map(|started| started.watch())
            .collect();
        assert_eq!(pidfds.len(), 2);
        assert!(!exited(&pidfds[0], Duration::ZERO), "waiting, not gone");
        drop(pool);
        for pidfd in &pidfds {
            assert!(
                exited(pidfd, Duration::from_secs(5)),
                "a started sandbox outlived its pool"
            );
        }
    }
}
