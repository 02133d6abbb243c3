//! Reading the API's answers within bounds: header size, body size, and excerpts for messages.

use crate::config::InputLimits;

/// The whole body, or `Err` once it grows past `limit` bytes.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| crate::api::error_chain(&error))?
    {
        if body.len() + chunk.len() > limit {
            return Err(format!("answer larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The first 300 characters of a body, for messages.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        excerpt.push('…');
    }
    excerpt
}

/// `Err` with a message when the answer's headers (names and values) add up to more than the limit.
pub(crate) fn headers_within(
    headers: &reqwest::header::HeaderMap,
    limits: &InputLimits,
) -> Result<(), String> {
    let size: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > limits.max_response_header_bytes {
        return Err(format!(
            "its headers take {size} bytes, more than limits.max_response_header_bytes = {}",
            limits.max_response_header_bytes
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn headers_over_the_limit_are_refused_with_the_key_to_raise() {
        let mut headers = HeaderMap::new();
        headers.insert("nextpageuri", HeaderValue::from_static("https://x/"));
        let limits = InputLimits {
            max_response_header_bytes: 100,
            ..InputLimits::default()
        };
        assert!(headers_within(&headers, &limits).is_ok());
        let long = "a".repeat(200);
        headers.insert("x-long", HeaderValue::from_str(&long).unwrap());
        let message = headers_within(&headers, &limits).unwrap_err();
        assert!(
            message.contains("limits.max_response_header_bytes = 100"),
            "{message}"
        );
    }

    #[test]
    fn an_excerpt_is_cut_at_300_characters() {
        assert_eq!(excerpt(b"short"), "short");
        let cut = excerpt("é".repeat(400).as_bytes());
        assert_eq!(cut.chars().count(), 301);
    }
}
