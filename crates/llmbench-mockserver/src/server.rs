//! The listener, connection tasks, the server handle and its shutdown, and the `run` entry
//! points used by the CLI.

use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::{ConfigError, MockConfig};
use crate::handler::handle;
use crate::log::{RateWindow, RequestLog, RequestRecord, lock};

/// Per-prompt counters (keyed by endpoint and prompt hash).
#[derive(Debug, Default)]
pub(crate) struct PromptState {
    pub(crate) attempts: u32,
    pub(crate) faults: u32,
}

/// State shared by every connection of one server.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: MockConfig,
    pub(crate) seq: AtomicU64,
    pub(crate) log: RequestLog,
    pub(crate) prompts: Mutex<HashMap<(u8, u64), PromptState>>,
    pub(crate) rate: Mutex<RateWindow>,
}

/// Failure to start or run a mock server.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("invalid mock server config")]
    Config(#[from] ConfigError),
    #[error("failed to bind {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to start the mock server runtime")]
    Runtime(#[source] std::io::Error),
}

impl MockError {
    /// A bounded label for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Bind { .. } => "bind",
            Self::Runtime(_) => "runtime",
        }
    }
}

enum Control {
    /// Serving on the caller's runtime.
    Task {
        stop: Option<oneshot::Sender<()>>,
        task: Option<JoinHandle<()>>,
    },
    /// Serving on its own thread and runtime.
    Thread {
        stop: Option<oneshot::Sender<()>>,
        done: Option<oneshot::Receiver<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
}

/// A running mock server. Dropping it (or [`MockServer::shutdown`]) stops it.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    control: Control,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .field("protocol", &self.shared.config.protocol)
            .finish_non_exhaustive()
    }
}

async fn bind(config: &MockConfig) -> Result<TcpListener, MockError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
    TcpListener::bind(addr)
        .await
        .map_err(|source| MockError::Bind { addr, source })
}

fn shared_state(config: MockConfig) -> Arc<Shared> {
    Arc::new(Shared {
        log: RequestLog::new(config.log_capacity),
        rate: Mutex::new(RateWindow::new(config.rate_window)),
        prompts: Mutex::new(HashMap::new()),
        seq: AtomicU64::new(0),
        config,
    })
}

/// Accepts connections until `stop` fires (or its sender is dropped), then aborts every
/// connection task and waits for them.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Deltas are small writes; do not let Nagle hold them back.
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    conns.spawn(async move {
                        let service = service_fn(move |req| handle(shared.clone(), req));
                        let _ = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly instead of spinning.
                    tracing::debug!(error = %e, "mock server accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

impl MockServer {
    /// Binds `127.0.0.1:config.port` and serves on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub async fn start(config: MockConfig) -> Result<Self, MockError> {
        config.validate()?;
        let listener = bind(&config).await?;
        let addr = listener.local_addr().map_err(MockError::Runtime)?;
        let shared = shared_state(config);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, shared.clone(), stop_rx));
        tracing::debug!(%addr, protocol = %shared.config.protocol, "mock server started");
        Ok(Self {
            addr,
            shared,
            control: Control::Task {
                stop: Some(stop_tx),
                task: Some(task),
            },
        })
    }

    /// Binds and serves on a dedicated thread with its own single-threaded runtime; usable from
    /// synchronous code and from any runtime.
    pub fn start_background(config: MockConfig) -> Result<Self, MockError> {
        config.validate()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(MockError::Runtime)?;
        let listener = runtime.block_on(bind(&config))?;
        let addr = listener.local_addr().map_err(MockError::Runtime)?;
        let shared = shared_state(config);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("mockserver-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(accept_loop(listener, thread_shared, stop_rx));
                drop(runtime);
                let _ = done_tx.send(());
            })
            .map_err(MockError::Runtime)?;
        tracing::debug!(%addr, protocol = %shared.config.protocol, "mock server started in background");
        Ok(Self {
            addr,
            shared,
            control: Control::Thread {
                stop: Some(stop_tx),
                done: Some(done_rx),
                thread: Some(thread),
            },
        })
    }

    /// The bound address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash or `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> &MockConfig {
        &self.shared.config
    }

    /// Every recorded request, in arrival order.
    pub fn log(&self) -> Vec<RequestRecord> {
        self.shared.log.snapshot()
    }

    /// Requests not recorded because the log was full.
    pub fn log_dropped(&self) -> u64 {
        self.shared.log.dropped()
    }

    /// Empties the log and resets the window maximum (attempt counters are kept).
    pub fn clear_log(&self) {
        self.shared.log.clear();
        lock(&self.shared.rate).reset_max();
    }

    /// Requests received since start (including those not logged).
    pub fn request_count(&self) -> u64 {
        self.shared.seq.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most requests that arrived within any trailing `config.rate_window` since start (or
    /// since `clear_log`).
    pub fn max_requests_in_window(&self) -> usize {
        lock(&self.shared.rate).max_arrivals()
    }

    /// Stops accepting, aborts every connection (streams and stalls included) and waits until
    /// all tasks (and the background thread) have ended.
    pub async fn shutdown(mut self) {
        match &mut self.control {
            Control::Task { stop, task } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                if let Some(task) = task.take() {
                    let _ = task.await;
                }
            }
            Control::Thread { stop, done, thread } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                if let Some(done) = done.take() {
                    let _ = done.await;
                }
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        match &mut self.control {
            Control::Task { stop, task } => {
                drop(stop.take());
                if let Some(task) = task.take() {
                    // Aborting drops the accept loop and with it every connection task.
                    task.abort();
                }
            }
            Control::Thread { stop, thread, .. } => {
                drop(stop.take());
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}

/// Serves `config` until `shutdown` resolves, calling `on_ready` with the bound address first.
pub async fn run_until(
    config: MockConfig,
    on_ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()>,
) -> Result<(), MockError> {
    let server = MockServer::start(config).await?;
    on_ready(server.addr());
    shutdown.await;
    server.shutdown().await;
    Ok(())
}

/// Serves `config` until Ctrl-C; the bound address is logged at info level.
pub async fn run(config: MockConfig) -> Result<(), MockError> {
    run_until(
        config,
        |addr| tracing::info!(%addr, "mock server listening"),
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await
}

/// [`run`] on a runtime of its own, for synchronous callers.
pub fn run_blocking(config: MockConfig) -> Result<(), MockError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(MockError::Runtime)?
        .block_on(run(config))
}
