//! The HTTP endpoint: `GET /metrics` (Prometheus text format 0.0.4) and `GET /healthz`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use llmbench_metrics::Metrics;
use tokio::net::TcpListener;

/// Serves connections on `listener` until the task is dropped or aborted.
pub(crate) async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait instead of spinning.
                tracing::warn!(error = %e, "cannot accept a metrics connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = respond(request.method(), request.uri().path(), &metrics);
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
        });
    }
}

/// The answer to one request.
pub(crate) fn respond(method: &Method, path: &str, metrics: &Metrics) -> Response<String> {
    let body = match path {
        "/metrics" => Some((llmbench_metrics::CONTENT_TYPE, metrics.render())),
        "/healthz" => Some(("text/plain; charset=utf-8", "ok\n".to_owned())),
        _ => None,
    };
    let response = Response::builder();
    let response = match (body, method) {
        (None, _) => response
            .status(StatusCode::NOT_FOUND)
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .body("not found: try /metrics or /healthz\n".to_owned()),
        (Some(_), m) if m != Method::GET && m != Method::HEAD => response
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(ALLOW, "GET, HEAD")
            .body(String::new()),
        (Some((content_type, text)), m) => {
            response
                .header(CONTENT_TYPE, content_type)
                .body(if m == Method::HEAD {
                    String::new()
                } else {
                    text
                })
        }
    };
    response.expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use llmbench_metrics::MetricId;

    use super::*;

    #[test]
    fn routes() {
        let metrics = Metrics::new();
        metrics.add(MetricId::SweepsSkipped, &["s"], 1.0);
        let r = respond(&Method::GET, "/metrics", &metrics);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert!(
            r.body()
                .contains("llmbench_sweeps_skipped_total{sweep=\"s\"} 1\n")
        );
        let r = respond(&Method::GET, "/healthz", &metrics);
        assert_eq!((r.status(), r.body().as_str()), (StatusCode::OK, "ok\n"));
        assert_eq!(
            respond(&Method::GET, "/", &metrics).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond(&Method::POST, "/metrics", &metrics).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert!(
            respond(&Method::HEAD, "/metrics", &metrics)
                .body()
                .is_empty()
        );
    }
}
