//! RecordType 64, `AirInvestigationData`: a status change of an automated investigation (AIR).
//!
//! `Data` is the triggering alert as a JSON-encoded string (some records repeat keys inside it, e.g. `QueryTime`;
//! the last value wins). `Actions` are objects, or JSON strings of objects. Both are decoded into a compact tree
//! ([`doc`]: strings are spans of the decoded text) that writes back the same JSON value, in document order, and
//! their entities are flattened into [`AirEntities`] for pivoting: mail messages, clusters, IPs, URLs, mailboxes
//! and file hashes, whichever `Type` spelling they use.
//!
//! Decoding `Data` and `Actions` is most of the cost of an AIR record (a JSON document inside a JSON string,
//! into a tree of maps), and only some formats use them (`json` passes the raw record through). The record
//! decode therefore keeps their raw JSON; the encoders' accessors and [`AirInvestigation::entities`] decode them
//! once, on first use. [`AirInvestigation::data`] and [`AirInvestigation::actions`] give them as
//! [`serde_json::Value`]s (decoded separately, on their own first use; no encoder needs them).

pub(crate) mod doc;
pub(crate) mod scan;

use std::borrow::Cow;
use std::sync::OnceLock;

use bytestring::ByteString;
use serde::de::MapAccess;
use serde_json::value::RawValue;
use serde_json::Value;

use self::doc::{Json, Node, Texts};
use super::decode::{self, Model, Scalar};
use super::hash;
use super::time::{self, Timestamp};
use super::Assessment;
use crate::json_bytes;

/// An AirInvestigationData record's own fields.
#[derive(Debug, Clone, Default)]
pub struct AirInvestigation {
    /// `InvestigationId`, e.g. `urn:ZappedUrlInvestigation:…`.
    pub investigation_id: Option<String>,
    /// `InvestigationName`.
    pub investigation_name: Option<String>,
    /// `InvestigationType`, e.g. `ZappedUrlInvestigation`.
    pub investigation_type: Option<String>,
    /// `LastUpdateTimeUtc`.
    pub last_update_time: Option<Timestamp>,
    /// `StartTimeUtc`.
    pub start_time: Option<Timestamp>,
    /// `EndTimeUtc` (year 1 while running).
    pub end_time: Option<Timestamp>,
    /// `RunningTime` in seconds (number or string).
    pub running_time: Option<Scalar>,
    /// `Status`: Running, Pending Action, Threats Found, Remediated, …
    pub status: Option<String>,
    /// `DeepLinkUrl` (docs: `DeeplinkURL`).
    pub deep_link_url: Option<String>,
    /// `Actions` as received (raw JSON text, valid), decoded on first use; usually a slice of the record's
    /// own bytes (see [`set_large`](Self::set_large)), not a copy.
    actions_raw: Option<ByteString>,
    /// `Data` as received (raw JSON text, valid, usually a string), decoded on first use; as `actions_raw`.
    data_raw: Option<ByteString>,
    /// `Data`, `Actions` and their entities, once decoded.
    decoded: OnceLock<AirDecoded>,
    /// `Data` and `Actions` as [`Value`]s, once asked for.
    values: OnceLock<AirValues>,
}

/// The decoded `Data`, `Actions` and their entities.
#[derive(Debug, Clone, Default)]
struct AirDecoded {
    texts: Texts,
    actions: Vec<Node>,
    data: Option<Node>,
    entities: AirEntities,
}

/// `Data` and `Actions` as [`Value`]s.
#[derive(Debug, Clone, Default, PartialEq)]
struct AirValues {
    actions: Vec<Value>,
    data: Option<Value>,
}

impl PartialEq for AirInvestigation {
    fn eq(&self, other: &Self) -> bool {
        self.investigation_id == other.investigation_id
            && self.investigation_name == other.investigation_name
            && self.investigation_type == other.investigation_type
            && self.last_update_time == other.last_update_time
            && self.start_time == other.start_time
            && self.end_time == other.end_time
            && self.running_time == other.running_time
            && self.status == other.status
            && self.deep_link_url == other.deep_link_url
            && self.values() == other.values()
    }
}

impl Model for AirInvestigation {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &[u8], map: &mut A) -> Result<bool, A::Error> {
        match key {
            b"investigationid" => self.investigation_id = decode::text(map)?,
            b"investigationname" => self.investigation_name = decode::text(map)?,
            b"investigationtype" => self.investigation_type = decode::text(map)?,
            b"lastupdatetimeutc" => self.last_update_time = time::timestamp(map)?,
            b"starttimeutc" => self.start_time = time::timestamp(map)?,
            b"endtimeutc" => self.end_time = time::timestamp(map)?,
            b"runningtime" => self.running_time = decode::scalar(map)?,
            b"status" => self.status = decode::text(map)?,
            b"deeplinkurl" => self.deep_link_url = decode::text(map)?,
            b"actions" => self.actions_raw = Some(raw_text(map.next_value::<Box<RawValue>>()?)),
            b"data" => self.data_raw = Some(raw_text(map.next_value::<Box<RawValue>>()?)),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The text of a raw value, as a [`ByteString`] (no copy: it takes over the box).
fn raw_text(raw: Box<RawValue>) -> ByteString {
    ByteString::from(Box::<str>::from(raw))
}

/// The text of a JSON string token (`raw` is known to be valid JSON) when it uses only the short escapes
/// (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`), which an embedded JSON document is full of; `None` for
/// anything else (not a string, a `\u` escape), left to serde_json. Same result as serde_json.
fn unescape_simple(raw: &str) -> Option<String> {
    let body = raw.strip_prefix('"')?.strip_suffix('"')?;
    let mut text = String::new();
    json_bytes::unescape_short(body, &mut text)?;
    Some(text)
}

/// A value that may be a JSON-encoded string: decoded when it is one, kept as it is otherwise.
fn decode_embedded(value: Value) -> Value {
    match value {
        Value::String(text) => match serde_json::from_str::<Value>(&text) {
            Ok(decoded @ (Value::Object(_) | Value::Array(_))) => decoded,
            _ => Value::String(text),
        },
        other => other,
    }
}

/// `Actions`: a list of objects or JSON strings (or, tolerated, one JSON string holding the list).
fn decode_actions(value: Value) -> Vec<Value> {
    match decode_embedded(value) {
        Value::Array(items) => items.into_iter().map(decode_embedded).collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// The tree of a raw `Data` or `Actions` value: a JSON string holding a document is that document (as
/// `decode_embedded` of the value `AirInvestigation::values` reads); `Null` when it does not decode.
fn top(texts: &mut Texts, raw: &str) -> Node {
    match unescape_simple(raw) {
        Some(text) => texts.embedded_text(text),
        None => match texts.parse(raw.to_owned()) {
            Ok(node) => texts.embedded(node),
            Err(_) => Node::Null,
        },
    }
}

/// What the entities of an investigation name, deduplicated, in order of appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AirEntities {
    /// URLs: `url` entities and the `Urls` of mail messages.
    pub urls: Vec<String>,
    /// IPs: `ip` entities and `SenderIP` of mail messages.
    pub ips: Vec<String>,
    /// Users: mailbox addresses, UPNs and mail recipients.
    pub users: Vec<String>,
    /// File hashes, SHA256 as lowercase hex.
    pub hashes: Vec<String>,
    /// File names.
    pub files: Vec<String>,
    /// Mail recipients.
    pub recipients: Vec<String>,
    /// Mail senders (`Sender` / `P2Sender`).
    pub senders: Vec<String>,
    /// NetworkMessageIds of mail messages and clusters.
    pub network_message_ids: Vec<String>,
    /// InternetMessageIds of mail messages.
    pub internet_message_ids: Vec<String>,
    /// Subjects of mail messages.
    pub subjects: Vec<String>,
}

/// Entity `Type`, whichever spelling: `mail-message`, `mailMessage` and `MailMessage` are one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityType {
    /// `mail-message` / `mailMessage`.
    MailMessage,
    /// `MailCluster` / `mailCluster`.
    MailCluster,
    /// `ip`.
    Ip,
    /// `url`.
    Url,
    /// `mailbox`.
    Mailbox,
    /// `account` / `user`.
    Account,
    /// `file`.
    File,
    /// `filehash` / `file-hash`.
    FileHash,
    /// Anything else.
    Other,
}

impl EntityType {
    /// Classifies a `Type` value, ignoring case, `-` and `_`.
    pub fn parse(text: &str) -> EntityType {
        let mut buf = [0u8; 16];
        let mut len = 0;
        for b in text.bytes().filter(|b| *b != b'-' && *b != b'_') {
            match buf.get_mut(len) {
                Some(slot) => *slot = b.to_ascii_lowercase(),
                None => return EntityType::Other,
            }
            len += 1;
        }
        match &buf[..len] {
            b"mailmessage" => EntityType::MailMessage,
            b"mailcluster" => EntityType::MailCluster,
            b"ip" => EntityType::Ip,
            b"url" => EntityType::Url,
            b"mailbox" => EntityType::Mailbox,
            b"account" | b"user" => EntityType::Account,
            b"file" => EntityType::File,
            b"filehash" => EntityType::FileHash,
            _ => EntityType::Other,
        }
    }
}

// === impl AirEntities ===

impl AirEntities {
    /// Collects the entities of `Data.Entities` and of every action's `Entities`.
    pub(crate) fn collect<'a>(
        data: Option<Json<'a>>,
        actions: impl Iterator<Item = Json<'a>>,
    ) -> AirEntities {
        let mut out = AirEntities::default();
        let lists = data
            .into_iter()
            .chain(actions)
            .filter_map(|v| v.get("Entities"));
        for entity in lists.flat_map(Json::items) {
            out.entity(entity);
        }
        out
    }

    fn entity(&mut self, entity: Json<'_>) {
        if !entity.is_object() {
            return;
        }
        let field = |name: &str| text(entity.get(name));
        let each = |name: &str| entity.get(name).into_iter().flat_map(Json::items);
        match field("Type").map_or(EntityType::Other, EntityType::parse) {
            EntityType::MailMessage => {
                if let Some(r) = field("Recipient") {
                    push(&mut self.recipients, r);
                    push(&mut self.users, r);
                }
                for sender in [field("Sender"), field("P2Sender")]
                    .into_iter()
                    .flatten()
                    .filter(|s| *s != "<>")
                {
                    push(&mut self.senders, sender);
                }
                push_opt(&mut self.ips, field("SenderIP"));
                push_opt(&mut self.network_message_ids, field("NetworkMessageId"));
                push_opt(&mut self.internet_message_ids, field("InternetMessageId"));
                push_opt(&mut self.subjects, field("Subject"));
                for url in each("Urls").filter_map(Json::as_str) {
                    push(&mut self.urls, url);
                }
                for file in each("Files") {
                    self.file(file);
                }
            }
            EntityType::MailCluster => {
                for id in each("NetworkMessageIds").filter_map(Json::as_str) {
                    push(&mut self.network_message_ids, id);
                }
            }
            EntityType::Ip => push_opt(&mut self.ips, field("Address")),
            EntityType::Url => push_opt(&mut self.urls, field("Url")),
            EntityType::Mailbox | EntityType::Account => {
                push_opt(&mut self.users, field("MailboxPrimaryAddress"));
                push_opt(&mut self.users, field("Upn"));
            }
            EntityType::File => self.file(entity),
            EntityType::FileHash => self.file_hash(entity),
            EntityType::Other => {}
        }
    }

    fn file(&mut self, file: Json<'_>) {
        push_opt(&mut self.files, text(file.get("Name")));
        for hash in file.get("FileHashes").into_iter().flat_map(Json::items) {
            self.file_hash(hash);
        }
    }

    fn file_hash(&mut self, hash: Json<'_>) {
        let Some(value) = text(hash.get("Value")) else {
            return;
        };
        let sha256 = hash
            .get("Algorithm")
            .and_then(Json::as_str)
            .is_none_or(|a| a.eq_ignore_ascii_case("SHA256"));
        let normalized = match sha256.then(|| hash::to_hex(value)).flatten() {
            Some(hex) => hex,
            None => hash::normalize_other(value),
        };
        push(&mut self.hashes, &normalized);
    }
}

/// A non-empty string value.
fn text(value: Option<Json<'_>>) -> Option<&str> {
    value.and_then(Json::as_str).filter(|s| !s.is_empty())
}

/// Appends `value` unless an equal one (ignoring ASCII case) is already there.
fn push(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|v| v.eq_ignore_ascii_case(value)) {
        list.push(value.to_owned());
    }
}

fn push_opt(list: &mut Vec<String>, value: Option<&str>) {
    if let Some(value) = value {
        push(list, value);
    }
}

// === impl AirInvestigation ===

impl AirInvestigation {
    /// `Data`, decoded from its JSON string (kept as a string when it is not JSON); `None` when absent or null.
    pub fn data(&self) -> Option<&Value> {
        self.values().data.as_ref()
    }

    /// `Actions[]`, each decoded to an object when it was a JSON string.
    pub fn actions(&self) -> &[Value] {
        &self.values().actions
    }

    /// Entities of `Data` and `Actions`, flattened.
    pub fn entities(&self) -> &AirEntities {
        &self.decoded().entities
    }

    /// `Data` as a compact tree (the value [`data`](Self::data) holds, in document order).
    pub(crate) fn data_json(&self) -> Option<Json<'_>> {
        let decoded = self.decoded();
        decoded.data.as_ref().map(|node| Json {
            texts: &decoded.texts,
            node,
        })
    }

    /// `Actions[]` as compact trees (the values [`actions`](Self::actions) holds, in document order).
    pub(crate) fn actions_json(&self) -> impl ExactSizeIterator<Item = Json<'_>> {
        let decoded = self.decoded();
        decoded.actions.iter().map(|node| Json {
            texts: &decoded.texts,
            node,
        })
    }

    /// Decodes `Data` and `Actions` from their raw JSON into compact trees, once.
    fn decoded(&self) -> &AirDecoded {
        self.decoded.get_or_init(|| {
            let mut texts = Texts::default();
            let actions = match self.actions_raw.as_deref().map(|raw| top(&mut texts, raw)) {
                Some(Node::Array(items, _)) => {
                    items.into_iter().map(|n| texts.embedded(n)).collect()
                }
                None | Some(Node::Null) => Vec::new(),
                Some(one) => vec![one],
            };
            let data = match self.data_raw.as_deref().map(|raw| top(&mut texts, raw)) {
                None | Some(Node::Null) => None,
                some => some,
            };
            let entities = {
                let json = |node| Json {
                    texts: &texts,
                    node,
                };
                AirEntities::collect(data.as_ref().map(json), actions.iter().map(json))
            };
            AirDecoded {
                texts,
                actions,
                data,
                entities,
            }
        })
    }

    /// Decodes `Data` and `Actions` from their raw JSON into [`Value`]s, once.
    fn values(&self) -> &AirValues {
        self.values.get_or_init(|| {
            let value = |raw: &Option<ByteString>| {
                raw.as_deref()
                    .and_then(|raw| match unescape_simple(raw) {
                        Some(text) => Some(Value::String(text)),
                        None => serde_json::from_str::<Value>(raw).ok(),
                    })
                    .unwrap_or(Value::Null)
            };
            AirValues {
                actions: decode_actions(value(&self.actions_raw)),
                data: Some(decode_embedded(value(&self.data_raw))).filter(|v| !v.is_null()),
            }
        })
    }

    /// Sets the raw JSON texts of `Data` and `Actions` (which must be valid JSON values, as the decoder's
    /// [`LargeMembers`](super::LargeMembers) spans are) after a decode that had them cut out. They are slices
    /// of the record's own bytes: kilobytes that are not copied again.
    pub(crate) fn set_large(&mut self, data: Option<ByteString>, actions: Option<ByteString>) {
        debug_assert!(
            data.iter()
                .chain(&actions)
                .all(|raw| serde_json::from_str::<serde::de::IgnoredAny>(raw).is_ok()),
            "large members must be valid JSON values"
        );
        if data.is_some() {
            self.data_raw = data;
        }
        if actions.is_some() {
            self.actions_raw = actions;
        }
    }

    /// A string field of the decoded `Data` alert (`AlertDisplayName`, `Severity`, `DetectionTechnology`, …).
    pub fn alert_field(&self, name: &str) -> Option<&str> {
        text(self.data_json()?.get(name))
    }

    /// The alert's own link (`Data.ExtendedLinks[0].Href`).
    pub fn alert_link(&self) -> Option<&str> {
        let links = self.data_json()?.get("ExtendedLinks")?;
        links.items().find_map(|l| l.get("Href")?.as_str())
    }

    /// `RunningTime` in seconds, when it is a number.
    pub fn running_seconds(&self) -> Option<i64> {
        self.running_time.as_ref().and_then(Scalar::as_int)
    }

    /// Each action as `ActionType:ActionStatus` (or its id), for one-line formats.
    pub fn action_summaries(&self) -> impl Iterator<Item = Cow<'_, str>> {
        self.actions_json().filter_map(|action| {
            let get = |k: &str| text(action.get(k));
            match (get("ActionType"), get("ActionStatus")) {
                (Some(t), Some(s)) => Some(Cow::Owned(format!("{t}:{s}"))),
                (Some(t), None) => Some(Cow::Borrowed(t)),
                _ => get("ActionId").or_else(|| get("id")).map(Cow::Borrowed),
            }
        })
    }

    /// Classification by `Status`: see `docs/formats.md` for the table.
    pub(crate) fn assess(&self) -> Assessment {
        let status = self
            .status
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let lower = status.map(str::to_ascii_lowercase).unwrap_or_default();
        let (severity, alert) = match lower.as_str() {
            "threats found" => (8, true),
            "pending action" | "pending approval" | "partially remediated" => (7, true),
            "remediated" => (6, true),
            "failed" => (5, false),
            s if s.starts_with("terminated") => (4, false),
            "running" | "investigation started" | "starting" | "queued" => (3, false),
            "no threats found" | "benign" => (2, false),
            _ => (3, false),
        };
        let name = match status {
            Some(status) => Cow::Owned(format!("Automated investigation: {status}")),
            None => Cow::Borrowed("Automated investigation update"),
        };
        Assessment {
            alert,
            severity,
            name,
            category: &["intrusion_detection", "threat"],
            types: if alert { &["indicator"] } else { &["info"] },
        }
    }
}

#[cfg(test)]
mod tests;
