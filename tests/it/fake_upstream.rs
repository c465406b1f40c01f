//! The fake DatoCMS upstream, checked on its own through a real TLS client,
//! so that proxy tests built on it can trust what it serves and records.

use crate::support::client::{HttpsClient, decoded_body, find_cause, https_client, send, try_send};
use crate::support::tls::{CertFlavour, TestPki};
use crate::support::upstream::{
    CapturedRequest, Encoding, FakeDato, FakeDatoOptions, SEED_ROLE_ID, SEED_TOKEN_ID,
    SEED_TOKEN_NAME, ScriptedReply, random_token,
};
use crate::support::{create_body, update_body};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::io::Read as _;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BEARER: &str = "test-api-token";

/// The official client's request headers (reference §5), with our bearer.
const HEADERS: &[(&str, &str)] = &[
    ("authorization", "Bearer test-api-token"),
    ("content-type", "application/json"),
    ("accept", "application/json"),
    ("x-api-version", "3"),
];

/// Long enough that a response that was going to come would have come;
/// used only to show that a stall really stalls.
const STALL_PROBE: Duration = Duration::from_millis(300);

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

fn error_code(body: &[u8]) -> String {
    let body = json_of(body);
    assert_eq!(body["data"][0]["type"], "api_error", "{body}");
    body["data"][0]["attributes"]["code"]
        .as_str()
        .expect("code is a string")
        .to_string()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).map(|v| v.to_str().expect("ASCII header"))
}

fn is_token_value(token: &str) -> bool {
    token.len() == 30
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

async fn start(options: FakeDatoOptions) -> (FakeDato, HttpsClient) {
    let fake = FakeDato::start(options).await;
    let client = https_client(fake.ca_file());
    (fake, client)
}

async fn call(
    fake: &FakeDato,
    client: &HttpsClient,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let body = body.map_or_else(Vec::new, |b| serde_json::to_vec_pretty(&b).unwrap());
    let (status, headers, bytes) = send(client, method, &fake.url(path), HEADERS, body).await;
    (status, headers, json_of(&bytes))
}

#[tokio::test]
async fn the_six_endpoints_behave_as_the_reference_says_over_tls() {
    let (fake, client) = start(FakeDatoOptions::default()).await;
    assert!(fake.base_url().starts_with("https://127.0.0.1:"));
    assert_eq!(fake.url("/x"), format!("{}/x", fake.base_url()));
    assert_eq!(fake.addr().ip().to_string(), "127.0.0.1");

    // list: the seed token, with every documented attribute and header.
    let (status, headers, body) = call(&fake, &client, Method::GET, "/access_tokens", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(header(&headers, "x-ratelimit-limit"), Some("60"));
    assert_eq!(header(&headers, "x-ratelimit-remaining"), Some("59"));
    assert_eq!(
        header(&headers, "cache-control"),
        Some("max-age=0, private, must-revalidate")
    );
    assert!(header(&headers, "x-request-id").is_some_and(|id| !id.is_empty()));
    assert_eq!(
        header(&headers, "content-encoding"),
        None,
        "nothing asked for compression"
    );
    let seed = fake.token_value(SEED_TOKEN_ID).expect("seed token");
    assert_eq!(
        body,
        json!({"data": [{
            "type": "access_token",
            "id": SEED_TOKEN_ID,
            "attributes": {
                "name": SEED_TOKEN_NAME,
                "token": seed,
                "can_access_cda": true,
                "can_access_cda_preview": true,
                "can_access_cma": false,
                "hardcoded_type": null,
                "last_cma_access": "never",
                "last_cda_access": "never"
            },
            "relationships": {"role": {"data": {"type": "role", "id": SEED_ROLE_ID}}}
        }]})
    );

    // create: 201 and a fresh token value.
    let (status, _, created) = call(
        &fake,
        &client,
        Method::POST,
        "/access_tokens",
        Some(create_body()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["data"]["id"].as_str().expect("id").to_string();
    let token = created["data"]["attributes"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_ne!(id, SEED_TOKEN_ID);
    assert!(is_token_value(&token), "{token}");
    assert_ne!(token, seed);
    assert_eq!(created["data"]["attributes"]["name"], "Read-only API token");
    assert_eq!(created["data"]["relationships"]["role"]["data"]["id"], "34");

    // find
    let path = format!("/access_tokens/{id}");
    let (status, _, found) = call(&fake, &client, Method::GET, &path, None).await;
    assert_eq!((status, &found), (StatusCode::OK, &created));

    // update without relationships keeps the role; with them changes it.
    let update_path = format!("/access_tokens/{SEED_TOKEN_ID}");
    let (status, _, updated) = call(
        &fake,
        &client,
        Method::PUT,
        &update_path,
        Some(update_body(false)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["data"]["attributes"]["name"], "Renamed");
    assert_eq!(updated["data"]["attributes"]["can_access_cma"], true);
    assert_eq!(
        updated["data"]["attributes"]["token"],
        seed.as_str(),
        "update never rotates"
    );
    assert_eq!(
        updated["data"]["relationships"]["role"]["data"]["id"],
        SEED_ROLE_ID
    );
    let (_, _, updated) = call(
        &fake,
        &client,
        Method::PUT,
        &update_path,
        Some(update_body(true)),
    )
    .await;
    assert_eq!(updated["data"]["relationships"]["role"]["data"]["id"], "35");
    let (status, _, body) = call(
        &fake,
        &client,
        Method::PUT,
        "/access_tokens/999",
        Some(update_body(true)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&serde_json::to_vec(&body).unwrap()), "NOT_FOUND");

    // regenerate: same token, new value.
    let (status, _, regenerated) = call(
        &fake,
        &client,
        Method::POST,
        &format!("/access_tokens/{id}/regenerate_token"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(regenerated["data"]["id"], id.as_str());
    let new_token = regenerated["data"]["attributes"]["token"]
        .as_str()
        .expect("token");
    assert!(is_token_value(new_token));
    assert_ne!(new_token, token);
    assert_eq!(
        fake.issued_tokens(),
        [seed.clone(), token.clone(), new_token.to_string()]
    );

    // destroy answers 200 with the deleted entity; the query is accepted.
    let (status, _, destroyed) = call(
        &fake,
        &client,
        Method::DELETE,
        &format!("{path}?destination_user_type=account&destination_user_id=7865"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(destroyed, regenerated);

    // …and then it is gone, reported in the documented error envelope.
    let (status, headers, body) = send(
        &client,
        Method::GET,
        &fake.url(&path),
        HEADERS,
        Bytes::new(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/json; charset=utf-8")
    );
    let error = json_of(&body);
    let error_id = error["data"][0]["id"].as_str().expect("error id");
    assert!(error_id.len() == 6 && error_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(error["data"][0]["type"], "api_error");
    assert_eq!(error["data"][0]["attributes"]["code"], "NOT_FOUND");
    assert_eq!(
        error["data"][0]["attributes"]["doc_url"],
        "https://www.datocms.com/docs/content-management-api/errors#NOT_FOUND"
    );
    assert!(error["data"][0]["attributes"]["details"].is_object());

    let (_, _, list) = call(&fake, &client, Method::GET, "/access_tokens", None).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn bearer_checks_answer_401_invalid_authorization_header() {
    let (fake, client) = start(FakeDatoOptions::default().accept_only(["good", "other"])).await;
    let url = fake.url("/access_tokens");
    for authorization in [
        None,
        Some("Basic Zm9vOmJhcg=="),
        Some("Bearer "),
        Some("Bearer bad"),
    ] {
        let mut headers = vec![("accept", "application/json")];
        headers.extend(authorization.map(|a| ("authorization", a)));
        let (status, response_headers, body) =
            send(&client, Method::GET, &url, &headers, Bytes::new()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(error_code(&body), "INVALID_AUTHORIZATION_HEADER");
        assert_eq!(header(&response_headers, "x-ratelimit-limit"), Some("60"));
    }
    let (status, _, _) = send(
        &client,
        Method::GET,
        &url,
        &[("authorization", "Bearer good")],
        Bytes::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let bearers: Vec<Option<String>> = fake.requests().into_iter().map(|r| r.bearer).collect();
    assert_eq!(
        bearers,
        [None, None, None, Some("bad".into()), Some("good".into())],
        "`Bearer ` loses its trailing space on the wire, so it has no bearer"
    );
}

#[tokio::test]
async fn a_regenerated_or_destroyed_token_stops_working() {
    let (fake, client) = start(FakeDatoOptions::default()).await;
    let old = fake.token_value(SEED_TOKEN_ID).expect("seed token");
    let as_old = format!("Bearer {old}");
    let headers = [("authorization", as_old.as_str())];
    let regenerate = fake.url("/access_tokens/312/regenerate_token");
    let (status, _, body) = send(&client, Method::POST, &regenerate, &headers, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    let new = json_of(&body)["data"]["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        fake.token_value(SEED_TOKEN_ID).as_deref(),
        Some(new.as_str())
    );

    let list = fake.url("/access_tokens");
    let (status, _, _) = send(&client, Method::GET, &list, &headers, Bytes::new()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old value is revoked at once"
    );
    let as_new = format!("Bearer {new}");
    let headers = [("authorization", as_new.as_str())];
    let (status, _, _) = send(&client, Method::GET, &list, &headers, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _, _) = send(
        &client,
        Method::DELETE,
        &fake.url("/access_tokens/312"),
        HEADERS,
        Bytes::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = send(&client, Method::GET, &list, &headers, Bytes::new()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a destroyed token's value is revoked"
    );
}

#[tokio::test]
async fn unknown_endpoints_and_bad_bodies_get_api_errors() {
    let (fake, client) = start(FakeDatoOptions::default()).await;
    for (method, path) in [
        (Method::GET, "/items"),
        (Method::PATCH, "/access_tokens/312"),
        (Method::GET, "/access_tokens/312/regenerate_token"),
        (Method::GET, "/__fault/no-such-fault"),
    ] {
        let (status, _, body) = send(&client, method.clone(), &fake.url(path), HEADERS, "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(error_code(&body), "INVALID_ENDPOINT", "{method} {path}");
    }

    let url = fake.url("/access_tokens");
    let (status, _, body) = send(&client, Method::POST, &url, HEADERS, "{not json").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&body), "INVALID_FIELD");

    let mut nameless = create_body();
    nameless["data"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let (status, _, body) = send(&client, Method::POST, &url, HEADERS, nameless.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        json_of(&body)["data"][0]["attributes"]["details"]["field"],
        "name"
    );
    assert_eq!(
        fake.issued_tokens().len(),
        1,
        "a rejected create issues nothing"
    );
}

#[tokio::test]
async fn each_bad_certificate_fails_for_its_own_reason() {
    use rustls::CertificateError as E;
    type IsExpected = fn(&E) -> bool;
    let cases: [(CertFlavour, IsExpected); 3] = [
        (CertFlavour::UnknownIssuer, |e| {
            matches!(e, E::UnknownIssuer)
        }),
        (CertFlavour::WrongHost, |e| {
            matches!(e, E::NotValidForName | E::NotValidForNameContext { .. })
        }),
        (CertFlavour::Expired, |e| {
            matches!(e, E::Expired | E::ExpiredContext { .. })
        }),
    ];
    for (flavour, expected) in cases {
        let (fake, client) = start(FakeDatoOptions::default().with_tls(flavour)).await;
        let error = try_send(
            &client,
            Method::GET,
            &fake.url("/access_tokens"),
            HEADERS,
            Bytes::new(),
        )
        .await
        .expect_err("the handshake must fail");
        match find_cause::<rustls::Error>(&*error) {
            Some(rustls::Error::InvalidCertificate(reason)) => {
                assert!(expected(reason), "{flavour:?}: wrong reason {reason:?}")
            }
            other => {
                panic!("{flavour:?}: expected a certificate error, got {other:?} in {error:?}")
            }
        }
        assert_eq!(
            fake.request_count(),
            0,
            "{flavour:?}: no request may get through"
        );
    }
}

#[tokio::test]
async fn the_test_pki_writes_a_pem_ca_and_signs_leaves_with_it() {
    let pki = TestPki::new();
    let pem = std::fs::read_to_string(pki.ca_file()).expect("CA file");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
    let (chain, _key) = pki.leaf(CertFlavour::Valid);
    assert_eq!(chain.len(), 1);
    assert_ne!(chain[0], pki.ca_cert_der(), "the leaf is not the CA");
}

#[tokio::test]
async fn plain_http_is_available_as_an_option() {
    let (fake, client) = start(FakeDatoOptions::default().plain_http()).await;
    assert!(fake.base_url().starts_with("http://127.0.0.1:"));
    let (status, _, body) = call(&fake, &client, Method::GET, "/access_tokens/312", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["id"], SEED_TOKEN_ID);
}

#[tokio::test]
async fn forced_compression_ignores_accept_encoding() {
    let (fake, client) = start(FakeDatoOptions::default().force_gzip()).await;
    let (status, headers, body) = send(
        &client,
        Method::GET,
        &fake.url("/access_tokens"),
        HEADERS,
        Bytes::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    assert_eq!(&body[..2], [0x1f, 0x8b], "gzip magic");
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut plain)
        .expect("valid gzip");
    assert_eq!(json_of(plain.as_bytes())["data"][0]["id"], SEED_TOKEN_ID);

    let (fake, client) = start(FakeDatoOptions::default().force_encoding(Encoding::Brotli)).await;
    let identity_only = [HEADERS, &[("accept-encoding", "identity")]].concat();
    let (status, headers, body) =
        send(&client, Method::GET, &fake.url("/nope"), &identity_only, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "errors are compressed too");
    assert_eq!(header(&headers, "content-encoding"), Some("br"));
    assert_eq!(
        error_code(&decoded_body(&headers, &body)),
        "INVALID_ENDPOINT"
    );
}

#[tokio::test]
async fn accept_encoding_is_honoured_when_not_forced() {
    let (fake, client) = start(FakeDatoOptions::default()).await;
    let url = fake.url("/access_tokens");
    for (accept, expected) in [
        (None, None),
        (Some("identity"), None),
        (Some("gzip, deflate"), Some("gzip")),
        (Some("br"), Some("br")),
        (Some("gzip;q=0, br"), Some("br")),
        (Some("deflate"), None),
    ] {
        let mut headers = HEADERS.to_vec();
        headers.extend(accept.map(|a| ("accept-encoding", a)));
        let (_, response_headers, body) =
            send(&client, Method::GET, &url, &headers, Bytes::new()).await;
        assert_eq!(
            header(&response_headers, "content-encoding"),
            expected,
            "{accept:?}"
        );
        let body = json_of(&decoded_body(&response_headers, &body));
        assert_eq!(body["data"][0]["id"], SEED_TOKEN_ID, "{accept:?}");
    }
}

#[tokio::test]
async fn captured_requests_keep_method_target_headers_and_body() {
    let (fake, client) = start(FakeDatoOptions::default()).await;
    let body = serde_json::to_vec_pretty(&create_body()).unwrap();
    let headers = [HEADERS, &[("x-dup", "a"), ("x-dup", "b")]].concat();
    let url = fake.url("/access_tokens?trace=1");
    let (status, _, _) = send(&client, Method::POST, &url, &headers, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED);

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(fake.request_count(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path_and_query, "/access_tokens?trace=1");
    assert_eq!(
        (request.path(), request.query()),
        ("/access_tokens", Some("trace=1"))
    );
    assert_eq!(request.body, Bytes::from(body));
    assert_eq!(request.json(), create_body());
    assert_eq!(request.bearer.as_deref(), Some(BEARER));
    assert_eq!(request.header_all("X-Dup"), ["a", "b"]);
    assert_eq!(
        request.header("authorization"),
        Some("Bearer test-api-token")
    );
    assert_eq!(
        request.header("host"),
        Some(fake.addr().to_string().as_str())
    );
    assert_eq!(
        request.header("content-length"),
        Some(request.body.len().to_string().as_str())
    );
}

/// hyper lowercases names, so exact-name capture is checked with hand-written
/// HTTP: three pipelined requests on one keep-alive connection, one chunked,
/// to show that each capture starts at the right request.
#[tokio::test]
async fn raw_capture_keeps_name_case_order_and_request_boundaries() {
    let fake = FakeDato::start(FakeDatoOptions::default().plain_http()).await;
    let create = create_body().to_string();
    let wire = format!(
        "POST /access_tokens?x=1 HTTP/1.1\r\nHost: fake\r\nX-Custom-Header: v\r\nX-Dup: a\r\n\
         Authorization: Bearer raw\r\nx-dup:  b \r\nContent-Length: {}\r\n\r\n{create}\
         POST /access_tokens HTTP/1.1\r\nHost: fake\r\nAuthorization: Bearer raw\r\n\
         Transfer-Encoding: chunked\r\n\r\n4\r\n{{not\r\n5\r\n json\r\n0\r\nX-Trailer: t\r\n\r\n\
         GET /access_tokens/312 HTTP/1.1\r\nHOST: fake\r\nAuthorization: Bearer raw\r\n\
         Connection: close\r\n\r\n",
        create.len()
    );
    let mut socket = tokio::net::TcpStream::connect(fake.addr()).await.unwrap();
    socket.write_all(wire.as_bytes()).await.unwrap();
    let mut responses = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        socket.read_to_string(&mut responses),
    )
    .await
    .expect("the fake closes after `Connection: close`")
    .unwrap();
    let statuses: Vec<&str> = responses
        .match_indices("HTTP/1.1 ")
        .map(|(at, _)| &responses[at + 9..at + 12])
        .collect();
    assert_eq!(statuses, ["201", "422", "200"], "{responses}");

    let requests = fake.requests();
    let names = |r: &CapturedRequest| r.headers.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].path_and_query, "/access_tokens?x=1");
    assert_eq!(
        names(&requests[0]),
        [
            "Host",
            "X-Custom-Header",
            "X-Dup",
            "Authorization",
            "x-dup",
            "Content-Length"
        ]
    );
    assert_eq!(requests[0].header_all("x-dup"), ["a", "b"]);
    assert_eq!(requests[0].body, create.as_bytes());
    assert_eq!(requests[1].body, "{not json".as_bytes());
    assert_eq!(
        names(&requests[1]),
        ["Host", "Authorization", "Transfer-Encoding"]
    );
    assert_eq!(requests[2].method, "GET");
    assert_eq!(requests[2].path_and_query, "/access_tokens/312");
    assert_eq!(names(&requests[2]), ["HOST", "Authorization", "Connection"]);
    assert!(requests[2].body.is_empty());
}

#[tokio::test]
async fn canary_token_values_come_from_the_generator_and_are_all_listed() {
    let options = FakeDatoOptions::default().token_generator(|n| format!("canary-{n:04}"));
    let (fake, client) = start(options).await;
    assert_eq!(
        fake.token_value(SEED_TOKEN_ID).as_deref(),
        Some("canary-0000")
    );
    let (_, _, created) = call(
        &fake,
        &client,
        Method::POST,
        "/access_tokens",
        Some(create_body()),
    )
    .await;
    assert_eq!(created["data"]["attributes"]["token"], "canary-0001");
    let id = created["data"]["id"].as_str().unwrap().to_string();
    let path = format!("/access_tokens/{id}/regenerate_token");
    let (_, _, regenerated) = call(&fake, &client, Method::POST, &path, None).await;
    assert_eq!(regenerated["data"]["attributes"]["token"], "canary-0002");
    assert_eq!(
        fake.issued_tokens(),
        ["canary-0000", "canary-0001", "canary-0002"]
    );
}

#[test]
fn default_token_values_look_like_datocms_tokens_and_differ() {
    let tokens: Vec<String> = (0..50).map(|_| random_token()).collect();
    assert!(tokens.iter().all(|t| is_token_value(t)), "{tokens:?}");
    let mut unique = tokens.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), tokens.len());
}

#[tokio::test]
async fn fault_reset_drops_the_connection_with_an_rst() {
    let (fake, client) = start(FakeDatoOptions::default()).await;
    let error = try_send(
        &client,
        Method::GET,
        &fake.url("/__fault/reset"),
        HEADERS,
        "",
    )
    .await
    .expect_err("no response");
    let io = find_cause::<std::io::Error>(&*error)
        .unwrap_or_else(|| panic!("no io::Error in {error:?}"));
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset, "{error:?}");
    assert_eq!(fake.request_count(), 1, "the request was read first");
}

#[tokio::test]
async fn fault_garbage_is_a_malformed_status_line_even_inside_tls() {
    let (fake, client) = start(FakeDatoOptions::default()).await;
    let error = try_send(
        &client,
        Method::GET,
        &fake.url("/__fault/garbage"),
        HEADERS,
        "",
    )
    .await
    .expect_err("unparseable response");
    let hyper_error = find_cause::<hyper::Error>(&*error).unwrap_or_else(|| panic!("{error:?}"));
    assert!(hyper_error.is_parse(), "{hyper_error:?}");
}

#[tokio::test]
async fn fault_stall_headers_never_answers_until_shutdown() {
    let (fake, client) = start(FakeDatoOptions::default()).await;
    let request = http::Request::get(fake.url("/__fault/stall-headers"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let mut pending = tokio::spawn(async move { client.request(request).await });
    tokio::time::timeout(Duration::from_secs(10), fake.wait_for_requests(1))
        .await
        .expect("the stalled request reaches the fake");
    assert!(
        tokio::time::timeout(STALL_PROBE, &mut pending)
            .await
            .is_err(),
        "no response head may arrive"
    );
    fake.shutdown().await;
    let outcome = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("shutdown ends stalled connections")
        .expect("no panic");
    assert!(outcome.is_err(), "the client sees the connection close");
}

#[tokio::test]
async fn fault_stall_body_sends_ten_of_a_thousand_bytes() {
    let (fake, client) = start(FakeDatoOptions::default()).await;
    let request = http::Request::get(fake.url("/__fault/stall-body"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .expect("the head arrives")
        .expect("a response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "content-length"), Some("1000"));
    let mut body = response.into_body();
    let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("the first bytes arrive")
        .expect("a frame")
        .expect("no error");
    assert_eq!(frame.into_data().expect("data").len(), 10);
    assert!(
        tokio::time::timeout(STALL_PROBE, body.frame())
            .await
            .is_err(),
        "the rest never comes"
    );
}

#[tokio::test]
async fn fault_huge_serves_exactly_the_requested_size() {
    let (fake, client) = start(FakeDatoOptions::default()).await;
    for size in [0usize, 1, 5, 11, 12, 300_000] {
        let url = fake.url(&format!("/__fault/huge?bytes={size}"));
        let (status, headers, body) = send(&client, Method::GET, &url, &[], "").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.len(), size);
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/json; charset=utf-8")
        );
        if size > 0 {
            json_of(&body);
        }
    }
}

#[tokio::test]
async fn fault_429_carries_the_rate_limit_reset() {
    let (fake, client) = start(FakeDatoOptions::default()).await;
    let (status, headers, body) =
        send(&client, Method::GET, &fake.url("/__fault/429"), HEADERS, "").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&headers, "x-ratelimit-reset"), Some("1"));
    assert_eq!(header(&headers, "x-ratelimit-remaining"), Some("0"));
    assert_eq!(headers.get_all("x-ratelimit-remaining").iter().count(), 1);
    assert_eq!(error_code(&body), "RATE_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn fault_echo_auth_and_error_token_leak_secrets_in_bodies() {
    let (fake, client) = start(FakeDatoOptions::default()).await;
    let secret = "Bearer s3cr3t-in-disguise";
    let (status, _, body) = send(
        &client,
        Method::GET,
        &fake.url("/__fault/echo-auth"),
        &[("authorization", secret)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let message = json_of(&body)["data"]["attributes"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains(secret) && message != secret, "{message}");

    let (status, _, body) = send(
        &client,
        Method::POST,
        &fake.url("/__fault/error-token"),
        &[],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let details = json_of(&body)["data"][0]["attributes"]["details"].clone();
    let issued = fake.issued_tokens();
    let latest = issued.last().expect("the seed token was issued");
    assert_eq!(details["token"], latest.as_str());
    assert!(
        details["message"]
            .as_str()
            .unwrap()
            .contains(latest.as_str())
    );
}

#[tokio::test]
async fn shutdown_closes_the_listening_socket() {
    let fake = FakeDato::start(FakeDatoOptions::default()).await;
    let addr = fake.addr();
    tokio::net::TcpStream::connect(addr)
        .await
        .expect("listening");
    fake.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn scripted_replies_go_out_exactly_as_scripted_and_none_falls_through() {
    // Forced gzip and no bearer: neither may touch a scripted reply.
    let options = FakeDatoOptions::default()
        .plain_http()
        .force_gzip()
        .respond_with(|request: &CapturedRequest| {
            request
                .path()
                .starts_with("/scripted/")
                .then(|| ScriptedReply {
                    status: 207,
                    headers: vec![
                        ("X-Second".into(), "b".into()),
                        ("x-first".into(), "a".into()),
                        ("Content-Encoding".into(), "identity".into()),
                    ],
                    // gzip's magic, not gzip: sent as is, never decoded or re-encoded.
                    body: [
                        format!("raw {} body ", request.method).as_bytes(),
                        &[0x1f, 0x8b, 0],
                    ]
                    .concat(),
                })
        });
    let fake = FakeDato::start(options).await;
    let mut tcp = tokio::net::TcpStream::connect(fake.addr()).await.unwrap();
    tcp.write_all(b"DELETE /scripted/anything?x=1 HTTP/1.1\r\nHost: fake\r\n\r\n")
        .await
        .unwrap();
    let body = [b"raw DELETE body ".as_slice(), &[0x1f, 0x8b, 0]].concat();
    let expected = [
        format!(
            "HTTP/1.1 207 Multi-Status\r\nx-second: b\r\nx-first: a\r\ncontent-encoding: identity\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
        &body,
    ]
    .concat();
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    while received.len() < expected.len() {
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("the scripted reply arrives")
            .unwrap();
        assert!(
            n > 0,
            "closed early: {}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        String::from_utf8_lossy(&received),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(received, expected);

    // `None` falls through: routing, the bearer check and gzip as usual.
    let client = https_client(fake.ca_file());
    let (status, headers, bytes) = send(
        &client,
        Method::GET,
        &fake.url("/access_tokens"),
        HEADERS,
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    assert_eq!(
        json_of(&decoded_body(&headers, &bytes))["data"][0]["id"],
        SEED_TOKEN_ID
    );
    let (status, _, _) = send(&client, Method::GET, &fake.url("/access_tokens"), &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "scripted requests are captured too");
    assert_eq!(requests[0].path_and_query, "/scripted/anything?x=1");
}
