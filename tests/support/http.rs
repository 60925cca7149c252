//! A static HTTP server on 127.0.0.1 for chart repository tests.
#![allow(dead_code)]

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};

/// Serves `dir` over HTTP on 127.0.0.1; with `auth` ("user:pass") every
/// request needs that basic auth. Returns the URL and a request counter.
pub async fn serve(dir: PathBuf, auth: Option<&str>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let expected = auth.map(|a| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(a)
        )
    });
    let counter = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (dir, expected, counter) = (dir.clone(), expected.clone(), counter.clone());
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (dir, expected) = (dir.clone(), expected.clone());
                        counter.fetch_add(1, Ordering::SeqCst);
                        async move {
                            let given = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string);
                            let reply = |code: u16, body: Vec<u8>| {
                                Ok::<_, Infallible>(
                                    Response::builder()
                                        .status(code)
                                        .body(Full::new(Bytes::from(body)))
                                        .unwrap(),
                                )
                            };
                            if expected.is_some() && given != expected {
                                return reply(401, b"unauthorized".to_vec());
                            }
                            let path = dir.join(req.uri().path().trim_start_matches('/'));
                            match std::fs::read(&path) {
                                Ok(b) => reply(200, b),
                                Err(_) => reply(404, b"not found".to_vec()),
                            }
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, count)
}
