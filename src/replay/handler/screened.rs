//! Replay's fast path for a plain JSON request body (see `replay::canonical`).

use super::ReplayHandler;
use crate::cassette::{self, RecordedRequest};
use crate::replay::library::Lookup;
use crate::replay::matching::RequestView;
use bytes::Bytes;
use http::{Response, header};
use http_body_util::Full;

impl ReplayHandler {
    /// The fast path for a plain JSON body: its key part is written
    /// straight from the bytes (`replay::canonical`), with no tree. It
    /// answers a hit, or an exhausted sequence (whose lookup counted the
    /// arrival); `None` hands the request to the slow path unchanged, as
    /// when the body is not plain JSON, may hold a secret, or must be
    /// checked (`--check`), forwarded, or explained in a miss.
    pub(super) fn serve_screened(
        &self,
        parts: &http::request::Parts,
        body: &Bytes,
        received: &RecordedRequest,
        all_headers: Option<&http::HeaderMap>,
    ) -> Option<Response<Full<Bytes>>> {
        let rules = &self.library.rules;
        let eligible = self.contract.is_none()
            && self.forwarder.is_none()
            && rules.body
            && rules.ignore_body_pointers.is_empty()
            && self.finder.screens_bodies()
            && !body.is_empty()
            && !parts.headers.contains_key(header::CONTENT_ENCODING)
            && parts
                .headers
                .get(header::CONTENT_TYPE)
                .is_none_or(|value| value.to_str().is_ok_and(cassette::is_json_media_type));
        if !eligible {
            return None;
        }
        let body_key = crate::replay::canonical::screened_key(body)?;
        // `received` has no body yet; the screen found nothing a secret
        // search of the body would, so its head decides alone.
        let std::borrow::Cow::Borrowed(request) = self.finder.recorded_form(received, all_headers)
        else {
            return None;
        };
        let selected = match parts.headers.get(cassette::CASSETTE_HEADER) {
            None => None,
            Some(name) => Some(
                self.library
                    .cassette_named(&String::from_utf8_lossy(name.as_bytes()))?,
            ),
        };
        let view = RequestView {
            method: &request.method,
            path: &request.path,
            query: &request.query,
            headers: &request.headers,
            body: &request.body,
        };
        let mut parts_of = rules.parts(&view);
        parts_of.body = None;
        let mut key = parts_of.key();
        key.push_str("BJ");
        key.push_str(&body_key);
        let voice = self.finder.voice_for(received, all_headers);
        match self.library.lookup(&key, selected) {
            Lookup::Hit { cassette, index } => {
                let prepared = &cassette.responses[index];
                let source = || format!("{} #{index}", cassette.path.display());
                Some(self.serve(&view, &parts.method, prepared, source, &voice))
            }
            Lookup::Exhausted(exhaustion) => {
                Some(self.miss(&view, selected, Some(exhaustion), &voice))
            }
            Lookup::Miss => None,
        }
    }
}
