//! Header hygiene between client, proxy, upstream and cassette.

use crate::cassette::{FieldValue, Headers};
use http::header::{self, HeaderMap, HeaderName};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1),
/// plus `proxy-authorization`, which is for this hop's proxy only.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// datovcr's own request headers (`x-datovcr-cassette` …): never forwarded.
pub const OWN_PREFIX: &str = "x-datovcr-";

/// Removes hop-by-hop headers, including every name listed in `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names finds out, where a
    // `remove` per hop-by-hop name would hash each of them.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    let listed: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in &listed {
        headers.remove(name.as_str());
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Removes `x-datovcr-*` headers, datovcr's own namespace: from a request
/// (its instructions to datovcr) and from an upstream's response (which must
/// never pass for one of datovcr's answers).
pub fn strip_own(headers: &mut HeaderMap) {
    let own: Vec<_> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(OWN_PREFIX))
        .cloned()
        .collect();
    for name in own {
        headers.remove(name);
    }
}

/// The cassette form of a header map, every value's bytes kept exactly
/// (values that are not UTF-8 become [`FieldValue`] bytes).
pub fn to_recorded(headers: &HeaderMap, skip: &[&str]) -> Headers {
    let mut recorded = Headers::new();
    for (name, value) in headers {
        if skip.contains(&name.as_str()) {
            continue;
        }
        recorded.append(name.as_str(), FieldValue::from(value));
    }
    recorded
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn headers_named_in_connection_are_stripped_too() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, X-Secret-Hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("proxy-authorization", HeaderValue::from_static("Basic abc"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("x-datovcr-cassette", HeaderValue::from_static("suite"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        strip_hop_by_hop(&mut headers);
        strip_own(&mut headers);
        let names: Vec<_> = headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["accept"]);
    }

    #[test]
    fn each_hop_by_hop_header_alone_is_stripped_and_others_are_kept() {
        for hop in &HOP_BY_HOP {
            let mut headers = HeaderMap::new();
            headers.insert("accept", HeaderValue::from_static("application/json"));
            headers.append(hop, HeaderValue::from_static("x-listed"));
            headers.insert("x-listed", HeaderValue::from_static("1"));
            strip_hop_by_hop(&mut headers);
            let names: Vec<_> = headers.keys().map(|n| n.as_str()).collect();
            let listed_too = hop == header::CONNECTION;
            let kept: &[&str] = if listed_too {
                &["accept"]
            } else {
                &["accept", "x-listed"]
            };
            assert_eq!(names, kept, "{hop}");
        }
        // None present: nothing changes, a repeated value included.
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let before = headers.clone();
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers, before);
    }
}
