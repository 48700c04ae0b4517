//! The HTTP side: accepting connections, refusing requests that name another host, and the
//! headers every response carries (the Content-Security-Policy first).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::App;

/// A response before its headers: what a page handler returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
    /// Hashes (`'sha256-...'`) of inline `<style>` blocks the page carries (the report's).
    pub style_hashes: Vec<String>,
}

impl Page {
    pub(crate) fn html(body: String) -> Page {
        Page {
            status: StatusCode::OK,
            content_type: "text/html; charset=utf-8",
            body,
            style_hashes: Vec::new(),
        }
    }

    pub(crate) fn json(body: String) -> Page {
        Page {
            content_type: "application/json",
            ..Page::html(body)
        }
    }

    pub(crate) fn status(mut self, status: StatusCode) -> Page {
        self.status = status;
        self
    }

    /// The Content-Security-Policy of this page: nothing but this server's own script,
    /// styles and fetches; no inline script, no frame, no form posting elsewhere.
    pub fn csp(&self) -> String {
        let mut styles = "'self'".to_owned();
        for hash in &self.style_hashes {
            styles.push(' ');
            styles.push_str(hash);
        }
        format!(
            "default-src 'none'; script-src 'self'; style-src {styles}; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )
    }
}

/// Serves `app` on `listener` until `stop` completes. On a loopback address, requests whose
/// `Host` is not a loopback name with this port are refused (a web page elsewhere cannot
/// reach the store through DNS rebinding).
pub async fn serve(app: Arc<App>, listener: TcpListener, stop: impl Future<Output = ()>) {
    let local = listener.local_addr().ok();
    let hosts: Option<Arc<Vec<String>>> = local.filter(|a| a.ip().is_loopback()).map(|a| {
        let port = a.port();
        Arc::new(vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
            a.to_string(),
        ])
    });
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            () = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let app = Arc::clone(&app);
        let hosts = hosts.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let app = Arc::clone(&app);
                let hosts = hosts.clone();
                async move { Ok::<_, Infallible>(handle(app, hosts.as_deref(), request).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "view connection ended with an error");
            }
        });
    }
}

async fn handle(
    app: Arc<App>,
    hosts: Option<&Vec<String>>,
    request: Request<Incoming>,
) -> Response<String> {
    let method = request.method().clone();
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let page = if let Some(hosts) = hosts
        && !host.as_ref().is_some_and(|h| hosts.contains(h))
    {
        Page::html("<!DOCTYPE html><title>refused</title><p>This server answers only requests to its loopback address.</p>".to_owned())
            .status(StatusCode::MISDIRECTED_REQUEST)
    } else if method != Method::GET && method != Method::HEAD {
        Page::html(
            "<!DOCTYPE html><title>read-only</title><p>This server only reads.</p>".to_owned(),
        )
        .status(StatusCode::METHOD_NOT_ALLOWED)
    } else {
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or("").to_owned();
        tokio::task::spawn_blocking(move || app.respond(&path, &query))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "a page handler panicked");
                Page::html("<!DOCTYPE html><title>error</title><p>internal error</p>".to_owned())
                    .status(StatusCode::INTERNAL_SERVER_ERROR)
            })
    };
    let csp = page.csp();
    let mut response = Response::new(if method == Method::HEAD {
        String::new()
    } else {
        page.body
    });
    *response.status_mut() = page.status;
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, page.content_type);
    set(header::CONTENT_SECURITY_POLICY, &csp);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::CACHE_CONTROL, "no-store");
    if page.status == StatusCode::METHOD_NOT_ALLOWED {
        set(header::ALLOW, "GET, HEAD");
    }
    response
}

/// Binds `address` (port 0: a free one).
pub(crate) async fn bind(address: SocketAddr) -> Result<TcpListener, crate::ViewError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| crate::ViewError::Bind { address, source })
}

impl App {
    /// Binds `address` for [`serve`].
    pub async fn bind(address: SocketAddr) -> Result<TcpListener, crate::ViewError> {
        bind(address).await
    }
}
