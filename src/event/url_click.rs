//! RecordType 41, `TIUrlClickData`: a Safe Links time-of-click decision (block, wait, or user override).

use std::borrow::Cow;

use serde::de::MapAccess;

use super::decode::{self, Model};
use super::enums::UrlClickAction;
use super::time::{self, Timestamp};
use super::Assessment;

/// A TIUrlClickData record's own fields (the clicker is the common `UserId`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlClickData {
    /// `AppName`: where the link was clicked (Mail, Teams, Word, …).
    pub app_name: Option<String>,
    /// `AppVersion`.
    pub app_version: Option<String>,
    /// `UrlClickAction` (docs: `URLClickAction`).
    pub url_click_action: Option<UrlClickAction>,
    /// `SourceId`: for email, the NetworkMessageId of the message with the link.
    pub source_id: Option<String>,
    /// `TimeOfClick`.
    pub time_of_click: Option<Timestamp>,
    /// `Url` (docs: `URL`): the clicked link.
    pub url: Option<String>,
    /// `UserIp`: the clicker's IP.
    pub user_ip: Option<String>,
    /// `EventDeepLink`: the Threat Explorer link.
    pub event_deep_link: Option<String>,
}

impl Model for UrlClickData {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &[u8], map: &mut A) -> Result<bool, A::Error> {
        match key {
            b"appname" => self.app_name = decode::text(map)?,
            b"appversion" => self.app_version = decode::text(map)?,
            b"urlclickaction" => self.url_click_action = UrlClickAction::next(map)?,
            b"sourceid" => self.source_id = decode::text(map)?,
            b"timeofclick" => self.time_of_click = time::timestamp(map)?,
            b"url" => self.url = decode::text(map)?,
            b"userip" => self.user_ip = decode::text(map)?,
            b"eventdeeplink" => self.event_deep_link = decode::text(map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

// === impl UrlClickData ===

impl UrlClickData {
    /// What happened to the click, in one word: `blocked`, `allowed` or `pending`; `None` when not said.
    pub fn outcome(&self) -> Option<&'static str> {
        match self.url_click_action {
            Some(UrlClickAction::BlockPage) => Some("blocked"),
            Some(UrlClickAction::PendingDetonationPage) => Some("pending"),
            Some(
                UrlClickAction::Allowed
                | UrlClickAction::BlockPageOverride
                | UrlClickAction::PendingDetonationPageOverride,
            ) => Some("allowed"),
            _ => None,
        }
    }

    /// Classification: see `docs/formats.md` for the name and severity tables.
    pub(crate) fn assess(&self) -> Assessment {
        let (name, severity, alert, types): (&'static str, u8, bool, &'static [&'static str]) =
            match self.url_click_action {
                Some(UrlClickAction::BlockPage) => {
                    ("Malicious URL click blocked", 6, true, &["denied"])
                }
                Some(UrlClickAction::BlockPageOverride) => (
                    "Malicious URL click allowed by user override",
                    9,
                    true,
                    &["allowed"],
                ),
                Some(UrlClickAction::PendingDetonationPage) => {
                    ("URL click held for detonation", 3, false, &["denied"])
                }
                Some(UrlClickAction::PendingDetonationPageOverride) => (
                    "URL click allowed before detonation by user override",
                    6,
                    true,
                    &["allowed"],
                ),
                Some(UrlClickAction::Allowed) => ("URL click allowed", 2, false, &["allowed"]),
                _ => ("URL click detected", 5, false, &["info"]),
            };
        Assessment {
            alert,
            severity,
            name: Cow::Borrowed(name),
            category: &["web", "threat"],
            types,
        }
    }
}
