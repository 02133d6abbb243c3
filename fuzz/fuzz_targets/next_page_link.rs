//! `NextPageUri` / `contentUri` handling: a link is followed only when it has exactly the configured API
//! endpoint's scheme, host and port and no user info — for any text, against an https and an http endpoint.
#![no_main]

use atp_forwarder::api::follow_link;
use libfuzzer_sys::fuzz_target;
use url::Url;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for endpoint in [
        "https://manage.office.com/api/v1.0/0b7c5cb8-1f0d-4a76-a4ba-5f2b3f0e9a11/activity/feed/",
        "http://127.0.0.1:8080/api/v1.0/t/activity/feed/",
    ] {
        let feed = Url::parse(endpoint).expect("endpoint parses");
        if let Ok(url) = follow_link(&feed, text) {
            assert_eq!(url.scheme(), feed.scheme(), "{text}");
            assert_eq!(url.host_str(), feed.host_str(), "{text}");
            assert_eq!(url.port_or_known_default(), feed.port_or_known_default(), "{text}");
            assert!(url.username().is_empty() && url.password().is_none(), "{text}");
        }
    }
});
