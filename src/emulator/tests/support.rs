//! Shared set-up: a started emulator, a token, and a small client that follows next-page links.

use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::emulator::{Emulator, EmulatorConfig};

pub(super) const TENANT: &str = "11111111-2222-4333-8444-555555555555";
pub(super) const CLIENT: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
pub(super) const SECRET: &str = "s3cret~value";
pub(super) const GENERAL: &str = "Audit.General";

pub(super) fn config() -> EmulatorConfig {
    EmulatorConfig::single_tenant(TENANT, CLIENT, SECRET)
}

pub(super) async fn start(cfg: EmulatorConfig) -> Emulator {
    Emulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// An HTTP client holding a token for one tenant.
pub(super) struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub tenant: String,
    pub token: String,
}

pub(super) async fn token_form(base: &str, tenant: &str, form: &[(&str, &str)]) -> Response {
    reqwest::Client::new()
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

pub(super) async fn get_token(base: &str, tenant: &str, client: &str, secret: &str) -> String {
    let resp = token_form(
        base,
        tenant,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", secret),
            ("scope", "https://manage.office.com/.default"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

impl Api {
    pub(super) async fn new(emu: &Emulator) -> Self {
        let base = emu.base_url();
        let token = get_token(&base, TENANT, CLIENT, SECRET).await;
        Self {
            http: reqwest::Client::new(),
            base,
            tenant: TENANT.to_owned(),
            token,
        }
    }

    pub(super) fn feed(&self, rest: &str) -> String {
        format!(
            "{}/api/v1.0/{}/activity/feed/{rest}",
            self.base, self.tenant
        )
    }

    pub(super) async fn get(&self, url: &str) -> Response {
        self.http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    pub(super) async fn post(&self, url: &str) -> Response {
        self.http
            .post(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    /// The error code of an API error answer.
    pub(super) async fn code(resp: Response) -> (u16, String) {
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap();
        (
            status,
            v["error"]["code"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// Lists a window and follows every next-page link; returns the items and the links followed.
    pub(super) async fn list_all(
        &self,
        ct: &str,
        window: Option<(&str, &str)>,
    ) -> (Vec<Value>, Vec<String>) {
        let mut url = self.feed(&format!(
            "subscriptions/content?contentType={ct}&PublisherIdentifier={TENANT}"
        ));
        if let Some((s, e)) = window {
            url.push_str(&format!("&startTime={s}&endTime={e}"));
        }
        let mut items = Vec::new();
        let mut links = Vec::new();
        loop {
            let resp = self.get(&url).await;
            assert_eq!(resp.status(), StatusCode::OK, "{url}");
            let next = resp
                .headers()
                .get("NextPageUri")
                .or_else(|| resp.headers().get("NextPageUrl"))
                .map(|v| v.to_str().unwrap().to_owned());
            let page: Vec<Value> = resp.json().await.unwrap();
            items.extend(page);
            match next {
                Some(n) => {
                    links.push(n.clone());
                    url = n;
                }
                None => break,
            }
        }
        (items, links)
    }

    /// Fetches a blob and parses it.
    pub(super) async fn blob(&self, uri: &str) -> Vec<Value> {
        let resp = self.get(uri).await;
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
        resp.json().await.unwrap()
    }
}

/// A window spanning the last `hours` hours, formatted the way the API takes it.
pub(super) fn last_hours(emu: &Emulator, hours: i64) -> (String, String) {
    let now = emu.now();
    let f = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    (
        f(now - chrono::Duration::hours(hours) + chrono::Duration::seconds(1)),
        f(now + chrono::Duration::seconds(1)),
    )
}
