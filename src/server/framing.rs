//! How a response without a body is framed on the wire, whatever the
//! handler built: RFC 9110 §6.4.1 and §8.6, over hyper's own rules.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body as _;

/// A response that has no body (RFC 9110 §6.4.1): one to HEAD, a 1xx, a 204
/// or a 304. Its body, if a handler gave one, is dropped (hyper would
/// otherwise check it against the `Content-Length`). A 1xx or 204 loses any
/// `Content-Length` (§8.6: never sent on them). A response to HEAD and a 304
/// keep theirs, the length of the representation (a response to HEAD given
/// a body and no length gets that body's, as a GET would). hyper writes it
/// as given on a response to HEAD, but on a 304 only if the body claims that
/// exact length, which the body sent then does without a byte (hyper never
/// polls the body of a 304). Returns the body to send and that claimed
/// length.
pub(super) fn bodiless(
    parts: &mut http::response::Parts,
    body: Full<Bytes>,
    to_head: bool,
) -> (Full<Bytes>, Option<u64>) {
    let status = parts.status;
    let no_content = status == http::StatusCode::NO_CONTENT || status.is_informational();
    if no_content {
        parts.headers.remove(http::header::CONTENT_LENGTH);
    }
    if !(to_head || no_content || status == http::StatusCode::NOT_MODIFIED) {
        return (body, None);
    }
    normalize_length(&mut parts.headers);
    if to_head && !no_content && !parts.headers.contains_key(http::header::CONTENT_LENGTH) {
        // The body a GET would get was given: its length is the one to send.
        if let Some(length) = body.size_hint().exact().filter(|&length| length > 0) {
            parts.headers.insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(length),
            );
        }
    }
    let declared = (status == http::StatusCode::NOT_MODIFIED && !to_head)
        .then(|| representation_length(&parts.headers))
        .flatten();
    (Full::new(Bytes::new()), declared)
}

/// One `Content-Length` field line for what the upstream may have sent as
/// several, or as a list: identical numbers are one length (RFC 9110 §8.6
/// allows the recipient to replace them with one); differing or invalid
/// ones describe no length and are dropped (the response has no content
/// to frame, so nothing else depends on them). hyper refuses to write a
/// length it cannot parse as one number.
fn normalize_length(headers: &mut http::HeaderMap) {
    let mut lengths = headers
        .get_all(http::header::CONTENT_LENGTH)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&byte| byte == b','))
        .map(|part| {
            std::str::from_utf8(part)
                .ok()
                .map(str::trim)
                .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|digits| digits.parse::<u64>().ok())
        });
    let Some(first) = lengths.next() else {
        return;
    };
    let one = first.filter(|&length| lengths.all(|other| other == Some(length)));
    headers.remove(http::header::CONTENT_LENGTH);
    if let Some(length) = one {
        headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(length),
        );
    }
}

/// The one `Content-Length` value, if there is exactly one and it is a number.
fn representation_length(headers: &http::HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let length = values.next()?.to_str().ok()?.trim().parse::<u64>().ok()?;
    values.next().is_none().then_some(length)
}

#[cfg(test)]
mod length_tests {
    use super::normalize_length;
    use http::HeaderMap;
    use http::header::CONTENT_LENGTH;

    fn normalized(values: &[&'static str]) -> Vec<String> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(CONTENT_LENGTH, value.parse().unwrap());
        }
        normalize_length(&mut headers);
        headers
            .get_all(CONTENT_LENGTH)
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn repeated_lengths_become_one_and_conflicting_ones_none() {
        assert_eq!(normalized(&["1234", "1234"]), ["1234"]);
        assert_eq!(normalized(&["5, 5", " 5"]), ["5"]);
        assert_eq!(normalized(&["0"]), ["0"]);
        for bad in [
            &["5", "6"][..],
            &["5, 6"],
            &["abc"],
            &["+5"],
            &["-1"],
            &[""],
            &["5,"],
        ] {
            assert_eq!(normalized(bad), Vec::<String>::new(), "{bad:?}");
        }
        assert_eq!(normalized(&[]), Vec::<String>::new());
    }
}
