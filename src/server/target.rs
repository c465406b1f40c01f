//! Which request targets a datovcr server takes (RFC 9112 §3.2).
//!
//! datovcr stands in for one origin, as a reverse proxy does. It takes
//! origin-form targets (`/access_tokens?x=1`) and, as RFC 9112 §3.2.2
//! requires of every server, absolute-form ones
//! (`http://example.com/access_tokens`), of which only the path and query
//! count: their host never picks the upstream (the proxy builds the
//! upstream URI from `--upstream` and the path alone). CONNECT asks for a
//! tunnel, and the authority-form target it uses (`example.com:443`) names
//! no resource; asterisk-form (`OPTIONS *`) asks about the server rather
//! than a resource. None of them has anything to forward, record or
//! replay, so each gets a clear error before any handler sees it.

use crate::api_error::ApiError;
use http::{Method, StatusCode, Uri};

/// `Ok` for a request a handler may see; the refusal otherwise.
pub fn check(method: &Method, target: &Uri) -> Result<(), ApiError> {
    if method == Method::CONNECT {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "DATOVCR_CONNECT_NOT_SUPPORTED",
            "CONNECT asks for a tunnel, but datovcr is a reverse proxy, not an HTTP(S) proxy: \
             nothing was forwarded or recorded. Take datovcr out of the client's proxy settings \
             (HTTP_PROXY, HTTPS_PROXY) and use its address as the client's base URL instead \
             (baseUrl: http://127.0.0.1:8787)",
        ));
    }
    if target.scheme().is_none() && target.authority().is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "DATOVCR_BAD_REQUEST_TARGET",
            "the request target is in authority-form (host:port), which only CONNECT uses \
             (RFC 9112 §3.2.3), and names no resource: nothing was forwarded or recorded. \
             Send a path, as in `GET /access_tokens HTTP/1.1`",
        ));
    }
    if target.scheme().is_none() && target.path() == "*" {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "DATOVCR_BAD_REQUEST_TARGET",
            "the request target `*` (asterisk-form, RFC 9112 §3.2.4) asks about the server as \
             a whole, and datovcr only forwards and replays requests for a resource: nothing \
             was forwarded or recorded. Send a path, as in `OPTIONS /access_tokens HTTP/1.1`",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(method: Method, target: &str) -> Option<&'static str> {
        let target: Uri = target.parse().expect("a request target");
        check(&method, &target).err().map(|refusal| refusal.code)
    }

    #[test]
    fn origin_and_absolute_forms_pass_the_others_are_refused() {
        assert_eq!(code(Method::GET, "/access_tokens?x=1"), None);
        assert_eq!(code(Method::GET, "http://example.com/access_tokens"), None);
        assert_eq!(code(Method::GET, "https://example.com"), None);
        assert_eq!(code(Method::OPTIONS, "/access_tokens"), None);
        assert_eq!(
            code(Method::CONNECT, "example.com:443"),
            Some("DATOVCR_CONNECT_NOT_SUPPORTED")
        );
        assert_eq!(
            code(Method::CONNECT, "/access_tokens"),
            Some("DATOVCR_CONNECT_NOT_SUPPORTED")
        );
        assert_eq!(
            code(Method::GET, "example.com:443"),
            Some("DATOVCR_BAD_REQUEST_TARGET")
        );
        assert_eq!(
            code(Method::OPTIONS, "*"),
            Some("DATOVCR_BAD_REQUEST_TARGET")
        );
        // `*` as an absolute-form path is an ordinary (odd) resource name,
        // and a path starting `//` is a path, not an authority.
        assert_eq!(code(Method::GET, "/*"), None);
        assert_eq!(code(Method::GET, "//example.com/x"), None);
    }
}
