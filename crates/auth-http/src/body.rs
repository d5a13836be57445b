//! The one reader of request bodies, for the OAuth form endpoints and the
//! admin API alike: the content type must be one the endpoint accepts, and
//! the body is bounded, judged by `Content-Length` before anything is read
//! and then by what arrives (a chunked or lying client is cut off at the
//! limit, never buffered past it). Each surface maps [`BodyError`] to its
//! own error format.

use actix_web::http::header;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::HttpRequest;
use futures_util::StreamExt as _;

/// Why a body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// The media type of `Content-Type` (parameters ignored, matched
    /// case-insensitively) is not one the endpoint accepts.
    UnsupportedMediaType,
    /// Longer than the limit, declared or as it arrived.
    TooLarge,
    /// The connection failed while the body arrived.
    Unreadable,
}

/// Reads the whole body of `req` if its content type is among `accepted`
/// and it holds at most `max` bytes.
pub(crate) async fn read_bounded(
    req: &HttpRequest,
    mut payload: web::Payload,
    accepted: &[&str],
    max: usize,
) -> Result<Bytes, BodyError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !accepted.iter().any(|a| mime.eq_ignore_ascii_case(a)) {
        return Err(BodyError::UnsupportedMediaType);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use actix_web::FromRequest as _;

    const JSON: &str = "application/json";

    async fn read(req: TestRequest, max: usize) -> Result<Bytes, BodyError> {
        let (req, mut pl) = req.to_http_parts();
        let payload = web::Payload::from_request(&req, &mut pl).await.unwrap();
        read_bounded(&req, payload, &[JSON, "application/merge-patch+json"], max).await
    }

    #[actix_web::test]
    async fn an_accepted_type_is_read_whole() {
        let req = TestRequest::post()
            .insert_header(("content-type", "Application/JSON; charset=utf-8"))
            .set_payload("{\"a\":1}");
        assert_eq!(read(req, 7).await, Ok(Bytes::from_static(b"{\"a\":1}")));
        let req = TestRequest::post()
            .insert_header(("content-type", "application/merge-patch+json"))
            .set_payload("{}");
        assert_eq!(read(req, 7).await, Ok(Bytes::from_static(b"{}")));
    }

    #[actix_web::test]
    async fn another_or_no_type_is_refused_before_reading() {
        for content_type in [Some("text/plain"), Some("application/jsonx"), None] {
            let mut req = TestRequest::post().set_payload("{}");
            if let Some(t) = content_type {
                req = req.insert_header(("content-type", t));
            }
            assert_eq!(
                read(req, 64).await,
                Err(BodyError::UnsupportedMediaType),
                "{content_type:?}"
            );
        }
    }

    #[actix_web::test]
    async fn a_declared_length_over_the_limit_is_refused() {
        let req = TestRequest::post()
            .insert_header(("content-type", JSON))
            .set_payload("{}")
            // After the payload, which sets its own length.
            .insert_header(("content-length", "8"));
        assert_eq!(read(req, 7).await, Err(BodyError::TooLarge));
    }

    #[actix_web::test]
    async fn a_body_longer_than_declared_is_cut_off_at_the_limit() {
        let (req, _) = TestRequest::post()
            .insert_header(("content-type", JSON))
            .insert_header(("content-length", "2"))
            .to_http_parts();
        let (_, mut pl) = TestRequest::post()
            .set_payload("{\"long\":true}")
            .to_http_parts();
        let payload = web::Payload::from_request(&req, &mut pl).await.unwrap();
        assert_eq!(
            read_bounded(&req, payload, &[JSON], 7).await,
            Err(BodyError::TooLarge)
        );
    }
}
