//! Links the API hands out (`NextPageUri` / `NextPageUrl` headers, `contentUri` fields) and the one rule for
//! following them: same scheme, host and port as the configured API endpoint, no user info. The bearer
//! token goes with every request, so a link elsewhere would hand it to whoever the answer names.

use url::Url;

/// Why a link from the API is not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("not a URL")]
    NotAUrl,
    #[error("carries a user name or password")]
    Credentials,
    #[error("scheme, host or port differ from the configured API endpoint")]
    Foreign,
}

/// The URL a link from the API (`NextPageUri`, `contentUri`) may be followed at: only an absolute URL with
/// the scheme, host and port of the configured `feed` (so https unless the endpoint override is http), and
/// no user info. Anything else would send the tenant's bearer token to someone else.
pub fn follow_link(feed: &Url, text: &str) -> Result<Url, LinkError> {
    let url = Url::parse(text.trim()).map_err(|_| LinkError::NotAUrl)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(LinkError::Credentials);
    }
    let same_origin = url.scheme() == feed.scheme()
        && url.host() == feed.host()
        && url.port_or_known_default() == feed.port_or_known_default();
    if !same_origin {
        return Err(LinkError::Foreign);
    }
    debug_assert!(url.host().is_some());
    Ok(url)
}

/// The next page link, under either of its documented names.
pub(crate) fn next_page(response: &reqwest::Response) -> Option<String> {
    ["NextPageUri", "NextPageUrl"].iter().find_map(|name| {
        response
            .headers()
            .get(*name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed() -> Url {
        Url::parse("https://manage.office.com/api/v1.0/0b7c5cb8-1f0d-4a76-a4ba-5f2b3f0e9a11/activity/feed/")
            .unwrap()
    }

    #[test]
    fn links_on_the_api_host_are_followed() {
        for link in [
            "https://manage.office.com/api/v1.0/t/activity/feed/subscriptions/content?nextPage=2",
            "https://MANAGE.office.com:443/api/v1.0/t/activity/feed/audit/abc$abc",
            "  https://manage.office.com/x  ",
        ] {
            assert!(follow_link(&feed(), link).is_ok(), "{link}");
        }
    }

    #[test]
    fn links_elsewhere_are_refused() {
        for (link, why) in [
            (
                "https://evil.example/api/v1.0/t/activity/feed/",
                LinkError::Foreign,
            ),
            ("http://manage.office.com/api/v1.0/t/", LinkError::Foreign),
            (
                "https://manage.office.com:8443/api/v1.0/t/",
                LinkError::Foreign,
            ),
            (
                "https://manage.office.com.evil.example/x",
                LinkError::Foreign,
            ),
            ("https://token@manage.office.com/x", LinkError::Credentials),
            ("https://a:b@manage.office.com/x", LinkError::Credentials),
            ("/api/v1.0/t/activity/feed/", LinkError::NotAUrl),
            ("//evil.example/x", LinkError::NotAUrl),
            ("", LinkError::NotAUrl),
            ("file:///etc/passwd", LinkError::Foreign),
        ] {
            assert_eq!(follow_link(&feed(), link), Err(why), "{link}");
        }
    }

    #[test]
    fn an_http_endpoint_override_allows_http_on_that_host_only() {
        let feed = Url::parse("http://127.0.0.1:8080/api/v1.0/t/activity/feed/").unwrap();
        assert!(follow_link(&feed, "http://127.0.0.1:8080/next").is_ok());
        assert_eq!(
            follow_link(&feed, "http://127.0.0.1:8081/next"),
            Err(LinkError::Foreign)
        );
        assert_eq!(
            follow_link(&feed, "http://localhost:8080/next"),
            Err(LinkError::Foreign)
        );
    }
}
