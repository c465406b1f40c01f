//! `FakeDato`: an in-process stand-in for the DatoCMS CMA access-token API.
//!
//! The proxy's tests need an upstream that behaves like the reference
//! (`shared/reference/access-token-api.md`) — statuses, JSON:API shapes,
//! error envelope, response headers, compression — and that also misbehaves
//! on demand (resets, stalls, garbage) so that the proxy's failure handling
//! can be tested without the network. It records every request it receives
//! exactly as received, so tests can assert what the proxy forwarded.
//!
//! It listens on `127.0.0.1:0` (no fixed ports), speaks HTTP/1.1 through
//! hyper, over TLS with a certificate from [`TestPki`] by default, and stops
//! when dropped.
//!
//! # Fault paths
//!
//! Everything under `/__fault/` skips the bearer check and accepts any method.
//! None of it is under contract; the proxy is expected to forward or report it.
//!
//! | Path | Behaviour |
//! |---|---|
//! | `/__fault/reset` | reads the request, then drops the TCP connection with `SO_LINGER` 0 (an RST) and no response |
//! | `/__fault/stall-headers` | reads the request and never answers; the connection stays open until the client or the fake goes away |
//! | `/__fault/stall-body` | sends a 200 head with `content-length: 1000`, 10 body bytes, then nothing more |
//! | `/__fault/garbage` | writes the malformed status line `HTTP/1.1 abc\r\n\r\n` (through TLS if TLS is on) and closes |
//! | `/__fault/huge?bytes=N` | 200 JSON body of exactly N bytes (1 MiB without `bytes`) before any content coding: `{"data":"xxx…"}`, or `{}` padded with spaces below 11 bytes |
//! | `/__fault/429` | 429 with `x-ratelimit-reset: 1`, `x-ratelimit-remaining: 0` and an `api_error` `RATE_LIMIT_EXCEEDED` |
//! | `/__fault/echo-auth` | 200 JSON whose `data.attributes.message` embeds the request's `Authorization` value mid-sentence (a secret in a disguise) |
//! | `/__fault/error-token` | 422 `INVALID_FIELD` whose `details` carry the most recently issued token value (in `token` and inside `message`) |
//!
//! # Scripted replies
//!
//! [`FakeDatoOptions::respond_with`] puts a function in front of everything
//! above. It sees each request after it was captured; when it returns
//! `Some(`[`ScriptedReply`]`)` the fake answers exactly that, whatever the
//! path, method or bearer (fault paths included); `None` falls through to the
//! normal behaviour.
//!
//! | Part | What is sent |
//! |---|---|
//! | status | `status` as given (any code hyper can send, 1xx excepted) |
//! | headers | `headers` in the given order (hyper lowercases names and sends repeated names together); nothing added: no CMA headers, no `content-type`, no `content-encoding`, and no automatic `date` on that fake's connections |
//! | body | `body` bytes as given, never re-encoded or compressed; framed with `content-length` unless `headers` already set it (none for 204 and 304) |
//!
//! # Connection lifecycle
//!
//! [`FakeDatoOptions::close_after`] (and `reset_after`) answers N requests
//! per connection and hangs up on the next one without a response byte and
//! without ever sending `connection: close`: a kept-alive connection that
//! goes stale in the client's pool. Dropped requests are counted
//! ([`FakeDato::dropped_requests`]), not captured. [`FakeDatoOptions::hold_until`]
//! holds every answer until a [`Gate`] opens.
//!
//! # The rest of the CMA
//!
//! [`FakeDatoOptions::with_cma`] adds models, fields, records, environment
//! forks with their jobs, webhooks and build triggers, in memory behind the
//! same bearer check and response headers (see the `cma` module's table).

mod cma;
mod conn;
mod lifecycle;

use super::tls::{CertFlavour, TestPki};
use bytes::Bytes;
use conn::{ConnIo, Stream};
use http::header::{self, HeaderMap};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lifecycle::KeepAlive;
pub use lifecycle::{Gate, Hangup};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::hash::{BuildHasher, DefaultHasher, Hash, Hasher};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// Id of the token the fake starts with (the reference's example id).
pub const SEED_TOKEN_ID: &str = "312";
/// Name of the seed token.
pub const SEED_TOKEN_NAME: &str = "Read-only API token";
/// Role of the seed token, and the role the reference's examples use.
pub const SEED_ROLE_ID: &str = "34";

/// A content coding the fake can apply to its JSON bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Gzip,
    Brotli,
}

impl Encoding {
    /// The `content-encoding` token.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Brotli => "br",
        }
    }
}

/// A response a [`FakeDatoOptions::respond_with`] function wants sent as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptedReply {
    pub status: u16,
    /// Sent in this order; nothing is added but `content-length`.
    pub headers: Vec<(String, String)>,
    /// Sent byte for byte, without any content coding.
    pub body: Vec<u8>,
}

/// Decides, per request, whether the fake answers with a [`ScriptedReply`].
pub type Responder = Arc<dyn Fn(&CapturedRequest) -> Option<ScriptedReply> + Send + Sync>;

/// Makes a token value from its sequence number (0 for the seed token, then
/// 1, 2, … in issue order). Tests pass one to get recognisable canaries.
pub type TokenGenerator = Arc<dyn Fn(u64) -> String + Send + Sync>;

/// How a [`FakeDato`] behaves. `Default` is TLS with a valid certificate,
/// normal content negotiation, random tokens and any bearer accepted.
#[derive(Clone)]
pub struct FakeDatoOptions {
    /// `Some(flavour)` serves HTTPS with that certificate; `None` plain HTTP.
    pub tls: Option<CertFlavour>,
    /// Compress every JSON body with this coding whatever `accept-encoding`
    /// says, as a misbehaving CDN might; `None` negotiates normally.
    pub force_encoding: Option<Encoding>,
    /// Where token values come from; see [`random_token`] for the default.
    pub token_generator: TokenGenerator,
    /// `None` accepts any non-empty bearer; `Some(list)` only those values.
    /// Either way a token value the fake revoked (regenerated or destroyed)
    /// gets 401, as the reference says the real API does.
    pub accepted_bearers: Option<Vec<String>>,
    /// Scripted replies that take precedence over everything else; see the
    /// module's "Scripted replies" table.
    pub respond_with: Option<Responder>,
    /// Answers per connection before the fake hangs up on the next request
    /// (see "Connection lifecycle"); `None` keeps connections alive.
    pub answers_per_connection: Option<usize>,
    /// How that hang-up looks on the wire.
    pub hangup: Hangup,
    /// Every answer waits for this gate to open.
    pub hold: Option<Gate>,
    /// Serve the CMA resources of the `cma` module besides access tokens.
    pub cma: bool,
}

impl Default for FakeDatoOptions {
    fn default() -> Self {
        FakeDatoOptions {
            tls: Some(CertFlavour::Valid),
            force_encoding: None,
            token_generator: Arc::new(|_| random_token()),
            accepted_bearers: None,
            respond_with: None,
            answers_per_connection: None,
            hangup: Hangup::Close,
            hold: None,
            cma: false,
        }
    }
}

impl FakeDatoOptions {
    /// Plain HTTP instead of TLS.
    pub fn plain_http(mut self) -> Self {
        self.tls = None;
        self
    }

    /// TLS presenting a certificate of this flavour.
    pub fn with_tls(mut self, flavour: CertFlavour) -> Self {
        self.tls = Some(flavour);
        self
    }

    /// Shorthand for `force_encoding(Encoding::Gzip)`.
    pub fn force_gzip(self) -> Self {
        self.force_encoding(Encoding::Gzip)
    }

    pub fn force_encoding(mut self, encoding: Encoding) -> Self {
        self.force_encoding = Some(encoding);
        self
    }

    pub fn token_generator(
        mut self,
        generate: impl Fn(u64) -> String + Send + Sync + 'static,
    ) -> Self {
        self.token_generator = Arc::new(generate);
        self
    }

    pub fn accept_only<S: Into<String>>(mut self, bearers: impl IntoIterator<Item = S>) -> Self {
        self.accepted_bearers = Some(bearers.into_iter().map(Into::into).collect());
        self
    }

    /// Answers `answers` requests per connection, then closes the connection
    /// (FIN) when the next request arrives, without a response byte and
    /// without having announced it: the stale pooled connection of a server
    /// whose keep-alive timeout fired. `close_after(0)` drops every request.
    pub fn close_after(mut self, answers: usize) -> Self {
        self.answers_per_connection = Some(answers);
        self.hangup = Hangup::Close;
        self
    }

    /// [`FakeDatoOptions::close_after`] with an RST instead of a FIN.
    pub fn reset_after(mut self, answers: usize) -> Self {
        self.answers_per_connection = Some(answers);
        self.hangup = Hangup::Reset;
        self
    }

    /// Also serves models, fields, records, environment forks and their
    /// jobs, webhooks and build triggers (the `cma` module); without it those
    /// paths are `INVALID_ENDPOINT`. Build-trigger `webhook_token`s come from
    /// the token generator and are listed in [`FakeDato::issued_tokens`].
    pub fn with_cma(mut self) -> Self {
        self.cma = true;
        self
    }

    /// Captures each request, then holds its answer until `gate` opens.
    pub fn hold_until(mut self, gate: &Gate) -> Self {
        self.hold = Some(gate.clone());
        self
    }

    /// Answers a request with `respond(request)` when that is `Some`, exactly
    /// as scripted (status, headers in order, body bytes; `content-length`
    /// framing only), bypassing routing, fault paths and the bearer check.
    /// The request is captured either way.
    pub fn respond_with(
        mut self,
        respond: impl Fn(&CapturedRequest) -> Option<ScriptedReply> + Send + Sync + 'static,
    ) -> Self {
        self.respond_with = Some(Arc::new(respond));
        self
    }
}

/// One request as the fake received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedRequest {
    pub method: String,
    /// The request target exactly as sent, e.g. `/access_tokens/312?x=1`.
    pub path_and_query: String,
    /// Every header line in wire order, names with their original case,
    /// duplicates kept, values without surrounding whitespace. Values that
    /// are not UTF-8 are converted lossily.
    pub headers: Vec<(String, String)>,
    /// The body after de-chunking (no content decoding).
    pub body: Bytes,
    /// The value after `Bearer ` in `Authorization`, whether or not the fake
    /// accepted it.
    pub bearer: Option<String>,
}

impl CapturedRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// All values of a header in wire order, by case-insensitive name.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(path, _)| path)
    }

    pub fn query(&self) -> Option<&str> {
        self.path_and_query.split_once('?').map(|(_, query)| query)
    }

    /// The body parsed as JSON; panics if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("captured body is JSON")
    }
}

/// The running fake. Dropping it stops the listener and every connection.
pub struct FakeDato {
    addr: SocketAddr,
    tls: bool,
    pki: TestPki,
    state: Arc<State>,
    task: Option<JoinHandle<()>>,
}

impl FakeDato {
    /// Binds `127.0.0.1:0` and starts serving. Certificates are generated
    /// even for plain HTTP so that [`FakeDato::ca_file`] always exists.
    pub async fn start(options: FakeDatoOptions) -> FakeDato {
        let pki = TestPki::new();
        let acceptor = options.tls.map(|flavour| pki.acceptor(flavour));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let tls = options.tls.is_some();
        let state = Arc::new(State::new(options));
        let task = tokio::spawn(accept_loop(listener, acceptor, state.clone()));
        FakeDato {
            addr,
            tls,
            pki,
            state,
            task: Some(task),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT` (or `http://…` for plain HTTP), no trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// `base_url()` followed by `path_and_query` (which starts with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_url())
    }

    /// The PEM file of the CA that signed the fake's certificate, for
    /// `--ca-file` (for [`CertFlavour::UnknownIssuer`] it did not sign it).
    pub fn ca_file(&self) -> &Path {
        self.pki.ca_file()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<CapturedRequest> {
        lock(&self.state.requests).clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.state.requests).len()
    }

    /// Resolves once at least `n` requests have been captured. Lets a test
    /// know a stalled request really arrived without sleeping.
    pub async fn wait_for_requests(&self, n: usize) {
        let mut count = self.state.count.subscribe();
        count
            .wait_for(|&received| received >= n)
            .await
            .expect("the fake owns the sender");
    }

    /// Requests the fake hung up on because of
    /// [`FakeDatoOptions::close_after`]: read, never answered, never captured.
    pub fn dropped_requests(&self) -> usize {
        self.state.keep_alive.dropped()
    }

    /// Changes [`FakeDatoOptions::close_after`]'s count while running
    /// (`None`: never hang up again). Counts already answered on open
    /// connections stay.
    pub fn set_close_after(&self, answers: Option<usize>) {
        self.state.keep_alive.set_answers(answers);
    }

    /// Every token value the fake has issued (seed, creates, regenerations),
    /// in issue order, including revoked ones: the canaries to search for.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.state.store).issued.clone()
    }

    /// The current token value of token `id`, if it exists.
    pub fn token_value(&self, id: &str) -> Option<String> {
        lock(&self.state.store)
            .tokens
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.token.clone())
    }

    /// Stops the listener and all connections, and waits until the listening
    /// socket is closed (dropping only requests the stop).
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for FakeDato {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // The accept loop owns the listener and a JoinSet of connection
            // tasks; cancelling it drops both, which aborts every connection.
            task.abort();
        }
    }
}

/// A fresh 30-character lowercase hex string, like the 2019 recordings'
/// tokens. Uses std's randomly keyed SipHash over a counter: no extra crate,
/// and distinct values within and across processes.
pub fn random_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let state = RandomState::new();
    let a = state.hash_one((n, 0u8));
    let b = state.hash_one((n, 1u8));
    let hex = format!("{a:016x}{b:016x}");
    hex[..30].to_string()
}

/// `lock()` that shrugs off poisoning: a panicking test thread must not turn
/// every later assertion into a poison error.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// State: the token store and the request log.

struct State {
    options: FakeDatoOptions,
    keep_alive: KeepAlive,
    store: Mutex<Store>,
    cma: Mutex<cma::Cma>,
    requests: Mutex<Vec<CapturedRequest>>,
    count: watch::Sender<usize>,
    request_seq: AtomicU64,
}

struct Store {
    tokens: Vec<TokenRecord>,
    next_id: u64,
    next_seq: u64,
    issued: Vec<String>,
    revoked: HashSet<String>,
}

#[derive(Clone)]
struct TokenRecord {
    id: String,
    name: String,
    token: String,
    can_access_cda: bool,
    can_access_cda_preview: bool,
    can_access_cma: bool,
    role: Option<String>,
}

impl TokenRecord {
    fn to_json(&self) -> Value {
        json!({
            "type": "access_token",
            "id": self.id,
            "attributes": {
                "name": self.name,
                "token": self.token,
                "can_access_cda": self.can_access_cda,
                "can_access_cda_preview": self.can_access_cda_preview,
                "can_access_cma": self.can_access_cma,
                "hardcoded_type": null,
                "last_cma_access": "never",
                "last_cda_access": "never"
            },
            "relationships": {
                "role": { "data": self.role.as_ref().map(|id| json!({ "type": "role", "id": id })) }
            }
        })
    }
}

impl Store {
    fn issue(&mut self, generate: &TokenGenerator) -> String {
        let token = generate(self.next_seq);
        self.next_seq += 1;
        self.issued.push(token.clone());
        token
    }

    fn find(&mut self, id: &str) -> Result<&mut TokenRecord, ApiError> {
        self.tokens
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| not_found(id))
    }
}

impl State {
    fn new(options: FakeDatoOptions) -> State {
        let mut store = Store {
            tokens: Vec::new(),
            next_id: 313,
            next_seq: 0,
            issued: Vec::new(),
            revoked: HashSet::new(),
        };
        let token = store.issue(&options.token_generator);
        store.tokens.push(TokenRecord {
            id: SEED_TOKEN_ID.into(),
            name: SEED_TOKEN_NAME.into(),
            token,
            can_access_cda: true,
            can_access_cda_preview: true,
            can_access_cma: false,
            role: Some(SEED_ROLE_ID.into()),
        });
        State {
            keep_alive: KeepAlive::new(options.answers_per_connection, options.hangup),
            options,
            store: Mutex::new(store),
            cma: Mutex::new(cma::Cma::new()),
            requests: Mutex::new(Vec::new()),
            count: watch::Sender::new(0),
            request_seq: AtomicU64::new(0),
        }
    }

    fn capture(&self, request: CapturedRequest) {
        let mut requests = lock(&self.requests);
        requests.push(request);
        self.count.send_replace(requests.len());
    }

    /// The CMA's bearer check: `Authorization: Bearer <non-empty>`, not
    /// revoked, and in the allow-list if there is one.
    fn authorize(&self, bearer: Option<&str>) -> Result<(), ApiError> {
        let bearer = bearer.filter(|b| !b.is_empty()).ok_or_else(unauthorized)?;
        if lock(&self.store).revoked.contains(bearer) {
            return Err(unauthorized());
        }
        match &self.options.accepted_bearers {
            Some(allowed) if !allowed.iter().any(|a| a == bearer) => Err(unauthorized()),
            _ => Ok(()),
        }
    }

    fn route(&self, method: &Method, path: &str, query: Option<&str>, body: &[u8]) -> Reply {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let result = match (method, segments.as_slice()) {
            (&Method::GET, ["access_tokens"]) => Ok(self.list()),
            (&Method::POST, ["access_tokens"]) => self.create(body),
            (&Method::GET, ["access_tokens", id]) => self.find(id),
            (&Method::PUT, ["access_tokens", id]) => self.update(id, body),
            (&Method::DELETE, ["access_tokens", id]) => self.destroy(id, query),
            (&Method::POST, ["access_tokens", id, "regenerate_token"]) => self.regenerate(id),
            (method, segments) => {
                let mut issue = || lock(&self.store).issue(&self.options.token_generator);
                let served = self
                    .options
                    .cma
                    .then(|| lock(&self.cma).route(method, segments, query, body, &mut issue));
                served.flatten().unwrap_or_else(|| {
                    Err(ApiError::new(
                        StatusCode::NOT_FOUND,
                        "INVALID_ENDPOINT",
                        json!({}),
                    ))
                })
            }
        };
        result.unwrap_or_else(ApiError::into_reply)
    }

    fn list(&self) -> Reply {
        let store = lock(&self.store);
        let data: Vec<Value> = store.tokens.iter().map(TokenRecord::to_json).collect();
        Reply::json(StatusCode::OK, json!({ "data": data }))
    }

    fn find(&self, id: &str) -> Result<Reply, ApiError> {
        let mut store = lock(&self.store);
        Ok(Reply::data(StatusCode::OK, store.find(id)?))
    }

    fn create(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let input = TokenInput::parse(body, None)?;
        let (name, cda, preview, cma, role) = match input {
            TokenInput {
                name: Some(name),
                can_access_cda: Some(cda),
                can_access_cda_preview: Some(preview),
                can_access_cma: Some(cma),
                role: Some(role),
            } => (name, cda, preview, cma, role),
            TokenInput { name: None, .. } => return Err(missing("name")),
            TokenInput {
                can_access_cda: None,
                ..
            } => return Err(missing("can_access_cda")),
            TokenInput {
                can_access_cda_preview: None,
                ..
            } => {
                return Err(missing("can_access_cda_preview"));
            }
            TokenInput {
                can_access_cma: None,
                ..
            } => return Err(missing("can_access_cma")),
            TokenInput { role: None, .. } => return Err(missing("role")),
        };
        let mut store = lock(&self.store);
        let token = store.issue(&self.options.token_generator);
        let record = TokenRecord {
            id: store.next_id.to_string(),
            name,
            token,
            can_access_cda: cda,
            can_access_cda_preview: preview,
            can_access_cma: cma,
            role,
        };
        store.next_id += 1;
        store.tokens.push(record.clone());
        Ok(Reply::data(StatusCode::CREATED, &record))
    }

    /// Lenient about which attributes are present (the reference cannot say
    /// whether the real API accepts partial updates); keeps the role when
    /// `relationships` is absent, as documented.
    fn update(&self, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let mut store = lock(&self.store);
        store.find(id)?;
        let input = TokenInput::parse(body, Some(id))?;
        let record = store.find(id)?;
        if let Some(name) = input.name {
            record.name = name;
        }
        if let Some(value) = input.can_access_cda {
            record.can_access_cda = value;
        }
        if let Some(value) = input.can_access_cda_preview {
            record.can_access_cda_preview = value;
        }
        if let Some(value) = input.can_access_cma {
            record.can_access_cma = value;
        }
        if let Some(role) = input.role {
            record.role = role;
        }
        Ok(Reply::data(StatusCode::OK, record))
    }

    fn regenerate(&self, id: &str) -> Result<Reply, ApiError> {
        let mut store = lock(&self.store);
        store.find(id)?;
        let token = store.issue(&self.options.token_generator);
        let record = store.find(id)?;
        let old = std::mem::replace(&mut record.token, token);
        let reply = Reply::data(StatusCode::OK, record);
        store.revoked.insert(old);
        Ok(reply)
    }

    /// `destination_user_type`/`destination_user_id` are accepted and
    /// ignored: the fake's tokens own nothing that would need a new owner.
    fn destroy(&self, id: &str, _query: Option<&str>) -> Result<Reply, ApiError> {
        let mut store = lock(&self.store);
        let index = store
            .tokens
            .iter()
            .position(|t| t.id == id)
            .ok_or_else(|| not_found(id))?;
        let record = store.tokens.remove(index);
        store.revoked.insert(record.token.clone());
        Ok(Reply::data(StatusCode::OK, &record))
    }

    fn fault_reply(
        &self,
        name: &str,
        query: Option<&str>,
        authorization: Option<&str>,
    ) -> Option<Reply> {
        match name {
            "huge" => {
                let bytes = query
                    .into_iter()
                    .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
                    .find(|(key, _)| key == "bytes")
                    .and_then(|(_, value)| value.parse::<usize>().ok())
                    .unwrap_or(1 << 20);
                Some(Reply::raw(StatusCode::OK, Bytes::from(huge_json(bytes))))
            }
            "429" => {
                let mut reply = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RATE_LIMIT_EXCEEDED",
                    json!({}),
                )
                .into_reply();
                reply.headers.push(("x-ratelimit-reset", "1".into()));
                reply.headers.push(("x-ratelimit-remaining", "0".into()));
                Some(reply)
            }
            "echo-auth" => {
                let seen = authorization.unwrap_or("(none)");
                Some(Reply::json(
                    StatusCode::OK,
                    json!({
                        "data": {
                            "type": "echo",
                            "id": "echo-auth",
                            "attributes": {
                                "message": format!("Request authorized with {seen}; have a nice day")
                            }
                        }
                    }),
                ))
            }
            "error-token" => {
                let token = lock(&self.store).issued.last().cloned().unwrap_or_default();
                Some(
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "INVALID_FIELD",
                        json!({
                            "field": "token",
                            "token": token,
                            "message": format!("token {token} cannot be used here")
                        }),
                    )
                    .into_reply(),
                )
            }
            _ => None,
        }
    }
}

/// `{"data":"xxx…"}` of exactly `n` bytes; below the envelope's 11 bytes,
/// `{}` plus spaces (or `0` for one byte, nothing for zero).
fn huge_json(n: usize) -> Vec<u8> {
    const ENVELOPE: usize = r#"{"data":""}"#.len();
    match n {
        0 => Vec::new(),
        1 => b"0".to_vec(),
        n if n < ENVELOPE => {
            let mut body = b"{}".to_vec();
            body.resize(n, b' ');
            body
        }
        n => {
            let mut body = Vec::with_capacity(n);
            body.extend_from_slice(br#"{"data":""#);
            body.resize(n - 2, b'x');
            body.extend_from_slice(br#""}"#);
            body
        }
    }
}

/// The attributes and role found in a create or update body. `role` is
/// `None` when `relationships.role` is absent, `Some(None)` for `null`.
struct TokenInput {
    name: Option<String>,
    can_access_cda: Option<bool>,
    can_access_cda_preview: Option<bool>,
    can_access_cma: Option<bool>,
    role: Option<Option<String>>,
}

impl TokenInput {
    fn parse(body: &[u8], path_id: Option<&str>) -> Result<TokenInput, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            invalid(
                "body",
                "VALIDATION_FORMAT",
                &format!("body is not JSON: {e}"),
            )
        })?;
        let data = value
            .get("data")
            .filter(|d| d.is_object())
            .ok_or_else(|| missing("data"))?;
        if data.get("type").and_then(Value::as_str) != Some("access_token") {
            return Err(invalid(
                "type",
                "VALIDATION_INCLUSION",
                "must be access_token",
            ));
        }
        if let (Some(path_id), Some(id)) = (path_id, data.get("id"))
            && id.as_str() != Some(path_id)
        {
            return Err(invalid("id", "VALIDATION_FORMAT", "must match the path"));
        }
        let attributes = data.get("attributes");
        let text = |key: &str| -> Result<Option<String>, ApiError> {
            match attributes.and_then(|a| a.get(key)) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(key, "VALIDATION_FORMAT", "must be a string")),
            }
        };
        let flag = |key: &str| -> Result<Option<bool>, ApiError> {
            match attributes.and_then(|a| a.get(key)) {
                None => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(_) => Err(invalid(key, "VALIDATION_FORMAT", "must be a boolean")),
            }
        };
        let role = match data.pointer("/relationships/role") {
            None => None,
            Some(role) => match role.get("data") {
                Some(Value::Null) => Some(None),
                Some(linkage) if linkage.get("type").and_then(Value::as_str) == Some("role") => {
                    match linkage.get("id").and_then(Value::as_str) {
                        Some(id) => Some(Some(id.to_string())),
                        None => {
                            return Err(invalid(
                                "role",
                                "VALIDATION_FORMAT",
                                "id must be a string",
                            ));
                        }
                    }
                }
                _ => {
                    return Err(invalid(
                        "role",
                        "VALIDATION_FORMAT",
                        "must be a role linkage",
                    ));
                }
            },
        };
        Ok(TokenInput {
            name: text("name")?,
            can_access_cda: flag("can_access_cda")?,
            can_access_cda_preview: flag("can_access_cda_preview")?,
            can_access_cma: flag("can_access_cma")?,
            role,
        })
    }
}

// ---------------------------------------------------------------------------
// Replies and errors.

/// A response before headers and content coding are applied.
struct Reply {
    status: StatusCode,
    body: Bytes,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: StatusCode, value: Value) -> Reply {
        let body = serde_json::to_vec(&value).expect("JSON values serialize");
        Reply::raw(status, Bytes::from(body))
    }

    fn data(status: StatusCode, record: &TokenRecord) -> Reply {
        Reply::json(status, json!({ "data": record.to_json() }))
    }

    fn raw(status: StatusCode, body: Bytes) -> Reply {
        Reply {
            status,
            body,
            headers: Vec::new(),
        }
    }
}

/// A CMA error: status plus `api_error` code and details.
struct ApiError {
    status: StatusCode,
    code: &'static str,
    details: Value,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, details: Value) -> ApiError {
        ApiError {
            status,
            code,
            details,
        }
    }

    /// The documented envelope. The error `id` is constant per code (the
    /// reference's live probe saw it constant per kind of error); the
    /// per-request identifier is `x-request-id`.
    fn into_reply(self) -> Reply {
        let mut hasher = DefaultHasher::new();
        self.code.hash(&mut hasher);
        let id = format!("{:06x}", hasher.finish() & 0xff_ffff);
        Reply::json(
            self.status,
            json!({
                "data": [{
                    "id": id,
                    "type": "api_error",
                    "attributes": {
                        "code": self.code,
                        "details": self.details,
                        "doc_url": format!(
                            "https://www.datocms.com/docs/content-management-api/errors#{}",
                            self.code
                        )
                    }
                }]
            }),
        )
    }
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "INVALID_AUTHORIZATION_HEADER",
        json!({}),
    )
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        json!({ "message": format!("Couldn't find AccessToken with 'id'={id}") }),
    )
}

fn invalid(field: &str, code: &str, message: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_FIELD",
        json!({ "field": field, "code": code, "message": message }),
    )
}

fn missing(field: &str) -> ApiError {
    invalid(field, "VALIDATION_REQUIRED", "is required")
}

type ResBody = BoxBody<Bytes, Infallible>;

/// Adds the CMA's response headers and the content coding.
fn render(state: &State, reply: Reply, request_headers: &HeaderMap) -> Response<ResBody> {
    let encoding = state
        .options
        .force_encoding
        .or_else(|| negotiate(request_headers));
    let mut body = reply.body;
    let mut builder = Response::builder().status(reply.status);
    if let Some(encoding) = encoding.filter(|_| !body.is_empty()) {
        body = compress(encoding, &body);
        builder = builder.header(header::CONTENT_ENCODING, encoding.name());
    }
    let seq = state.request_seq.fetch_add(1, Ordering::Relaxed);
    let cache_control = if reply.status.is_success() {
        "max-age=0, private, must-revalidate"
    } else {
        "no-cache"
    };
    // A 204 has no body and, from the API, no content type (2022 traffic).
    if reply.status != StatusCode::NO_CONTENT {
        builder = builder.header(header::CONTENT_TYPE, "application/json; charset=utf-8");
    }
    builder = builder
        .header(header::CACHE_CONTROL, cache_control)
        .header("x-api-version", "3")
        .header("x-ratelimit-limit", "60")
        .header(header::VARY, "Accept-Encoding")
        .header(
            "x-request-id",
            format!("fake-{seq:08}-{}", &random_token()[..8]),
        );
    let mut has_remaining = false;
    for (name, value) in reply.headers {
        has_remaining |= name == "x-ratelimit-remaining";
        builder = builder.header(name, value);
    }
    if !has_remaining {
        builder = builder.header("x-ratelimit-remaining", "59");
    }
    builder
        .body(Full::new(body).boxed())
        .expect("static header names and values are valid")
}

/// A [`ScriptedReply`] as it goes on the wire: its headers in order, then
/// `content-length` if it did not set one; the body untouched. Panics (in the
/// connection task, so the client sees the connection close) on a status or
/// header hyper cannot send: a script bug, not a behaviour to test.
fn scripted_response(reply: ScriptedReply) -> Response<ResBody> {
    let status = StatusCode::from_u16(reply.status)
        .unwrap_or_else(|_| panic!("scripted status {} is not valid", reply.status));
    let mut builder = Response::builder().status(status);
    let has_length = reply
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-length"));
    for (name, value) in &reply.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let bodiless = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    if !has_length && !bodiless {
        builder = builder.header(header::CONTENT_LENGTH, reply.body.len());
    }
    let declared = reply
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<u64>().ok());
    let body = match declared {
        // hyper writes a scripted `content-length` on a bodiless status only
        // when the body claims that length.
        Some(length) if bodiless && reply.body.is_empty() => DeclaredLength(length).boxed(),
        _ => Full::new(Bytes::from(reply.body)).boxed(),
    };
    builder
        .body(body)
        .unwrap_or_else(|e| panic!("scripted reply cannot be sent: {e}"))
}

/// gzip, then br, then identity, honouring `;q=0`.
fn negotiate(headers: &HeaderMap) -> Option<Encoding> {
    let mut gzip = false;
    let mut brotli = false;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            match coding.as_str() {
                "gzip" | "x-gzip" => gzip |= !refused,
                "br" => brotli |= !refused,
                _ => {}
            }
        }
    }
    if gzip {
        Some(Encoding::Gzip)
    } else if brotli {
        Some(Encoding::Brotli)
    } else {
        None
    }
}

fn compress(encoding: Encoding, body: &[u8]) -> Bytes {
    let mut out = Vec::new();
    match encoding {
        Encoding::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(&mut out, flate2::Compression::default());
            encoder.write_all(body).expect("gzip into memory");
            encoder.finish().expect("gzip into memory");
        }
        Encoding::Brotli => {
            let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            encoder.write_all(body).expect("brotli into memory");
            encoder.flush().expect("brotli into memory");
            drop(encoder);
        }
    }
    Bytes::from(out)
}

/// No bytes, but an exact length hint, so that hyper writes the scripted
/// `content-length` of a 204 or 304 (it never polls their bodies).
struct DeclaredLength(u64);

impl Body for DeclaredLength {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(None)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0)
    }
}

/// A body that yields `prefix` and then never finishes, for `stall-body`.
struct StallBody {
    prefix: Option<Bytes>,
    declared: u64,
}

impl Body for StallBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.prefix.take() {
            Some(prefix) => Poll::Ready(Some(Ok(Frame::data(prefix)))),
            // Never woken: the stall lasts until the connection is dropped.
            None => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.declared)
    }
}

// ---------------------------------------------------------------------------
// Connections.

async fn accept_loop(listener: TcpListener, acceptor: Option<TlsAcceptor>, state: Arc<State>) {
    // Dropping this set (when the loop is cancelled) aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                connections.spawn(serve_connection(tcp, acceptor.clone(), state.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// What the fault handlers ask the connection task to do once hyper has
/// been dropped and the stream is free.
enum ConnFault {
    /// Close with `SO_LINGER` 0, so the peer sees an RST.
    Reset,
    /// Close in order: TLS `close_notify` if any, then FIN.
    Close,
    /// Write these bytes raw (inside TLS if any), then close.
    Write(&'static [u8]),
}

async fn serve_connection(tcp: TcpStream, acceptor: Option<TlsAcceptor>, state: Arc<State>) {
    let stream = match acceptor {
        None => Stream::Plain(tcp),
        Some(acceptor) => match acceptor.accept(tcp).await {
            Ok(tls) => Stream::Tls(Box::new(tls)),
            // The client rejected our certificate or went away: nothing to serve.
            Err(_) => return,
        },
    };
    let io = ConnIo::new(stream);
    let scripted = state.options.respond_with.is_some();
    let (fault_tx, mut fault_rx) = mpsc::unbounded_channel();
    let service_io = io.clone();
    // Requests answered on this connection, for `close_after`.
    let answered = Arc::new(AtomicUsize::new(0));
    let service = service_fn(move |request| {
        let answered = answered.clone();
        let reply = handle(
            state.clone(),
            service_io.clone(),
            fault_tx.clone(),
            answered.load(Ordering::SeqCst),
            request,
        );
        async move {
            let reply = reply.await;
            answered.fetch_add(1, Ordering::SeqCst);
            reply
        }
    });
    let mut builder = http1::Builder::new();
    if scripted {
        // A scripted reply is sent exactly as scripted: no `date` added.
        builder.auto_date_header(false);
    }
    let mut connection = Box::pin(builder.serve_connection(TokioIo::new(io.clone()), service));
    let fault = tokio::select! {
        _ = connection.as_mut() => None,
        fault = fault_rx.recv() => fault,
    };
    // Drops hyper, its copy of the stream and the service (with its sender).
    drop(connection);
    match fault {
        None => {}
        Some(ConnFault::Reset) => {
            let _ = io.shared().stream.tcp().set_zero_linger();
            // `io` is now the last handle; dropping it closes the socket.
        }
        Some(ConnFault::Close) => {
            let mut io = io;
            let _ = io.shutdown().await;
        }
        Some(ConnFault::Write(bytes)) => {
            let mut io = io;
            let _ = io.write_all(bytes).await;
            let _ = io.flush().await;
            let _ = io.shutdown().await;
        }
    }
}

async fn handle(
    state: Arc<State>,
    io: ConnIo,
    faults: mpsc::UnboundedSender<ConnFault>,
    answered: usize,
    request: Request<Incoming>,
) -> Result<Response<ResBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let raw = io.shared().next_raw_request();
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let bearer = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(|b| b.trim().to_string());
    let (path_and_query, headers) = match raw {
        Some(raw) => (raw.target, raw.headers),
        // Not expected; keeps capturing (with lowercased names) rather than
        // failing the request if the raw head could not be found.
        None => (
            parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.to_string(), |pq| pq.to_string()),
            parts
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        ),
    };
    if let Some(hangup) = state.keep_alive.drop_next(answered) {
        let _ = faults.send(match hangup {
            Hangup::Close => ConnFault::Close,
            Hangup::Reset => ConnFault::Reset,
        });
        return std::future::pending().await;
    }
    let captured = CapturedRequest {
        method: parts.method.to_string(),
        path_and_query,
        headers,
        body: body.clone(),
        bearer: bearer.clone(),
    };
    let scripted = state
        .options
        .respond_with
        .as_ref()
        .and_then(|respond| respond(&captured));
    state.capture(captured);
    if let Some(gate) = &state.options.hold {
        gate.wait().await;
    }
    if let Some(reply) = scripted {
        return Ok(scripted_response(reply));
    }

    let path = parts.uri.path();
    let query = parts.uri.query();
    if let Some(fault) = path.strip_prefix("/__fault/") {
        let connection_fault = match fault {
            "reset" => Some(ConnFault::Reset),
            "garbage" => Some(ConnFault::Write(b"HTTP/1.1 abc\r\n\r\n")),
            _ => None,
        };
        if let Some(connection_fault) = connection_fault {
            let _ = faults.send(connection_fault);
            return std::future::pending().await;
        }
        if fault == "stall-headers" {
            return std::future::pending().await;
        }
        if fault == "stall-body" {
            let body = StallBody {
                prefix: Some(Bytes::from_static(br#"{"data":[{"#)),
                declared: 1000,
            };
            let response = Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
                .header(header::CONTENT_LENGTH, "1000")
                .body(body.boxed())
                .expect("valid static response");
            return Ok(response);
        }
        let reply = state
            .fault_reply(fault, query, authorization.as_deref())
            .unwrap_or_else(|| {
                ApiError::new(StatusCode::NOT_FOUND, "INVALID_ENDPOINT", json!({})).into_reply()
            });
        return Ok(render(&state, reply, &parts.headers));
    }

    let reply = match state.authorize(bearer.as_deref()) {
        Ok(()) => state.route(&parts.method, path, query, &body),
        Err(error) => error.into_reply(),
    };
    Ok(render(&state, reply, &parts.headers))
}
