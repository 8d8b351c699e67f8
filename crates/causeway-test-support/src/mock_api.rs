//! A mock apiserver for unit tests of code that writes through a [`kube::Client`], after
//! controller-rs's `ApiServerVerifier` (tower-test).
//!
//! Data flow: [`mock_client`] returns a client whose requests go to a [`MockApiServer`] instead of
//! the network. The test takes each request with [`MockApiServer::next`] (a [`Call`]: method,
//! path, query and JSON body), checks it and answers with [`Call::ok`] (a JSON object, status 200)
//! or [`Call::fail`] (a `metav1.Status` with the given code). [`MockApiServer::next`] gives up
//! after a timeout and returns `None`, which is how a test asserts that no further request came
//! (for example after this replica lost its Lease).

use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::{self, Handle, SendResponse};

/// How long [`MockApiServer::next`] waits for a request by default.
pub const WAIT: Duration = Duration::from_secs(1);

/// The receiving end of [`mock_client`]'s requests.
pub struct MockApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
}

/// One request the client made, waiting for its answer.
pub struct Call {
    /// HTTP method (`PATCH`, `DELETE`, `PUT`, …).
    pub method: http::Method,
    /// Request path, e.g. `/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices/s`.
    pub path: String,
    /// The query string (`fieldManager=…&force=true`), empty when there is none.
    pub query: String,
    /// The request body parsed as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
    send: SendResponse<Response<Body>>,
}

/// A client that talks to the returned mock apiserver; `default` is its default namespace.
pub fn mock_client() -> (kube::Client, MockApiServer) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (
        kube::Client::new(service, "default"),
        MockApiServer { handle },
    )
}

impl MockApiServer {
    /// The next request, or `None` when none arrives within [`WAIT`] (or the client is gone).
    pub async fn next(&mut self) -> Option<Call> {
        self.next_within(WAIT).await
    }

    /// The next request, or `None` when none arrives within `wait` (or the client is gone).
    pub async fn next_within(&mut self, wait: Duration) -> Option<Call> {
        let (request, send) = tokio::time::timeout(wait, self.handle.next_request())
            .await
            .ok()??;
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.unwrap_or_default();
        Some(Call {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            send,
        })
    }

    /// Asserts that the client makes no request within `wait`; panics naming the one it made.
    pub async fn assert_quiet(&mut self, wait: Duration) {
        if let Some(call) = self.next_within(wait).await {
            panic!(
                "expected no further request, got {} {}?{}",
                call.method, call.path, call.query
            );
        }
    }
}

impl Call {
    /// Answers 200 with `object` as the body.
    pub fn ok(self, object: &Value) {
        self.respond(StatusCode::OK, object);
    }

    /// Answers 200 with the request's own body, with `resourceVersion` set: what an apply
    /// returns when the apiserver accepts the patch as it is.
    pub fn echo(self, resource_version: &str) {
        let mut object = self.body.clone();
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), json!(resource_version));
        } else if let Some(o) = object.as_object_mut() {
            o.insert(
                "metadata".into(),
                json!({"name": "x", "resourceVersion": resource_version}),
            );
        }
        self.ok(&object);
    }

    /// Answers with a `metav1.Status` failure: `code` (404, 409, 422, 500, …), `reason` and
    /// `message`, as the apiserver does.
    pub fn fail(self, code: u16, reason: &str, message: &str) {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        });
        self.respond(status, &body);
    }

    /// Whether this is a server-side apply with `manager`, forced.
    pub fn is_forced_apply_by(&self, manager: &str) -> bool {
        self.method == http::Method::PATCH
            && self.query.contains(&format!("fieldManager={manager}"))
            && self.query.contains("force=true")
    }

    fn respond(self, status: StatusCode, body: &Value) {
        let response = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(body).unwrap_or_default()));
        if let Ok(response) = response {
            self.send.send_response(response);
        }
    }
}
