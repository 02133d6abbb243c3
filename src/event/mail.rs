//! RecordType 28, `TIMailData`: a phishing, malware or spam verdict on an email message.

use std::borrow::Cow;

use serde::de::MapAccess;

use super::decode::{self, Model};
use super::enums::{DetectionType, FileVerdict, Policy, PolicyAction};
use super::hash::Sha256;
use super::time::{self, Timestamp};
use super::Assessment;

/// A TIMailData record's own fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailData {
    /// `AttachmentData[]`: the attachments and their verdicts.
    pub attachments: Vec<Attachment>,
    /// `DetectionType`: Inline, Delayed or ZAP.
    pub detection_type: Option<DetectionType>,
    /// `DetectionMethod`: the technology that reached the verdict.
    pub detection_method: Option<String>,
    /// `InternetMessageId`: the RFC 5322 Message-ID.
    pub internet_message_id: Option<String>,
    /// `NetworkMessageId`: Exchange Online's message GUID.
    pub network_message_id: Option<String>,
    /// `P1Sender`: the envelope sender (5321.MailFrom).
    pub p1_sender: Option<String>,
    /// `P2Sender`: the header sender (5322.From).
    pub p2_sender: Option<String>,
    /// `Policy`: the filtering policy that acted.
    pub policy: Option<Policy>,
    /// `PolicyAction`: what that policy did.
    pub policy_action: Option<PolicyAction>,
    /// `Recipients[]`.
    pub recipients: Vec<String>,
    /// `SenderIp`: the connecting IP.
    pub sender_ip: Option<String>,
    /// `Subject`.
    pub subject: Option<String>,
    /// `Verdict`: Phish, Malware, Spam, …
    pub verdict: Option<String>,
    /// `MessageTime`: when the message was received.
    pub message_time: Option<Timestamp>,
    /// `EventDeepLink`: the Threat Explorer link.
    pub event_deep_link: Option<String>,
    /// `DeliveryAction`: Delivered, DeliveredAsSpam, Blocked, Replaced, …
    pub delivery_action: Option<String>,
    /// `OriginalDeliveryLocation`: where the message first went.
    pub original_delivery_location: Option<String>,
    /// `LatestDeliveryLocation`: where the message is now.
    pub latest_delivery_location: Option<String>,
    /// `Directionality`: Inbound, Outbound or IntraOrg.
    pub directionality: Option<String>,
    /// `ThreatsAndDetectionTech[]`, e.g. `Phish: [Spoof DMARC]`.
    pub threats_and_detection_tech: Vec<String>,
    /// `AdditionalActionsAndResults[]`, e.g. `OriginalDelivery: [N/A]`.
    pub additional_actions_and_results: Vec<String>,
    /// `Connector`: the inbound connector.
    pub connector: Option<String>,
    /// `AuthDetails[]`: SPF, DKIM, DMARC and composite authentication results.
    pub auth_details: Vec<AuthDetail>,
    /// `SystemOverrides[]`: tenant or user overrides of the verdict.
    pub system_overrides: Vec<SystemOverride>,
    /// `PhishConfidenceLevel`: Normal or High.
    pub phish_confidence_level: Option<String>,
}

impl Model for MailData {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &[u8], map: &mut A) -> Result<bool, A::Error> {
        match key {
            b"attachmentdata" => self.attachments = decode::list(map)?,
            b"detectiontype" => self.detection_type = DetectionType::next(map)?,
            b"detectionmethod" => self.detection_method = decode::text(map)?,
            b"internetmessageid" => self.internet_message_id = decode::text(map)?,
            b"networkmessageid" => self.network_message_id = decode::text(map)?,
            b"p1sender" => self.p1_sender = decode::text(map)?,
            b"p2sender" => self.p2_sender = decode::text(map)?,
            b"policy" => self.policy = Policy::next(map)?,
            b"policyaction" => self.policy_action = PolicyAction::next(map)?,
            b"recipients" => self.recipients = decode::texts(map)?,
            b"senderip" => self.sender_ip = decode::text(map)?,
            b"subject" => self.subject = decode::text(map)?,
            b"verdict" => self.verdict = decode::text(map)?,
            b"messagetime" => self.message_time = time::timestamp(map)?,
            b"eventdeeplink" => self.event_deep_link = decode::text(map)?,
            b"deliveryaction" => self.delivery_action = decode::text(map)?,
            b"originaldeliverylocation" => self.original_delivery_location = decode::text(map)?,
            b"latestdeliverylocation" => self.latest_delivery_location = decode::text(map)?,
            b"directionality" => self.directionality = decode::text(map)?,
            b"threatsanddetectiontech" => self.threats_and_detection_tech = decode::texts(map)?,
            b"additionalactionsandresults" => {
                self.additional_actions_and_results = decode::texts(map)?
            }
            b"connector" => self.connector = decode::text(map)?,
            b"authdetails" => self.auth_details = decode::list(map)?,
            b"systemoverrides" => self.system_overrides = decode::list(map)?,
            b"phishconfidencelevel" => self.phish_confidence_level = decode::text(map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// One entry of `AttachmentData`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachment {
    /// `FileName`.
    pub file_name: Option<String>,
    /// `FileType`, e.g. `exe;zip`.
    pub file_type: Option<String>,
    /// `FileVerdict` (int or string).
    pub file_verdict: Option<FileVerdict>,
    /// `MalwareFamily`.
    pub malware_family: Option<String>,
    /// `SHA256`, hex or base64.
    pub sha256: Option<Sha256>,
}

impl Model for Attachment {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &[u8], map: &mut A) -> Result<bool, A::Error> {
        match key {
            b"filename" => self.file_name = decode::text(map)?,
            b"filetype" => self.file_type = decode::text(map)?,
            b"fileverdict" => self.file_verdict = FileVerdict::next(map)?,
            b"malwarefamily" => self.malware_family = decode::text(map)?.filter(|s| !s.is_empty()),
            b"sha256" => {
                self.sha256 = decode::text(map)?
                    .filter(|s| !s.is_empty())
                    .map(Sha256::new)
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// One entry of `AuthDetails`: `{Name, Value}` (keys in either order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthDetail {
    /// `Name`: SPF, DKIM, DMARC, Comp Auth.
    pub name: Option<String>,
    /// `Value`: Pass, Fail, None, …
    pub value: Option<String>,
}

impl Model for AuthDetail {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &[u8], map: &mut A) -> Result<bool, A::Error> {
        match key {
            b"name" => self.name = decode::text(map)?,
            b"value" => self.value = decode::text(map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// One entry of `SystemOverrides`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SystemOverride {
    /// `Details`, e.g. `Exchange transport rule`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// `FinalOverride`: Yes or No.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_override: Option<String>,
    /// `Result`: Block, Allow, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// `Source`: Tenant or User.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Model for SystemOverride {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &[u8], map: &mut A) -> Result<bool, A::Error> {
        match key {
            b"details" => self.details = decode::text(map)?,
            b"finaloverride" => self.final_override = decode::text(map)?,
            b"result" => self.result = decode::text(map)?,
            b"source" => self.source = decode::text(map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

// === impl MailData ===

impl MailData {
    /// The attachment a single-valued output shows: the first with a Bad verdict, else the first.
    pub fn primary_attachment(&self) -> Option<&Attachment> {
        self.attachments
            .iter()
            .find(|a| a.file_verdict == Some(FileVerdict::Bad))
            .or_else(|| self.attachments.first())
    }

    /// The malware family to show: the primary attachment's, else any attachment's.
    pub fn malware_family(&self) -> Option<&str> {
        self.primary_attachment()
            .and_then(|a| a.malware_family.as_deref())
            .or_else(|| {
                self.attachments
                    .iter()
                    .find_map(|a| a.malware_family.as_deref())
            })
    }

    /// True when the verdict names phishing or malware, or an attachment is Bad.
    pub fn is_malicious(&self) -> bool {
        let verdict = self.verdict.as_deref().unwrap_or("").to_ascii_lowercase();
        verdict.contains("phish")
            || verdict.contains("malware")
            || self
                .attachments
                .iter()
                .any(|a| a.file_verdict == Some(FileVerdict::Bad))
    }

    /// True when the message was stopped: blocked, quarantined, dropped or failed. The policy's intended action
    /// counts only when the record says nothing about the delivery (an override can deliver a quarantine verdict).
    pub fn is_blocked(&self) -> bool {
        let is = |v: &Option<String>, any: &[&str]| {
            v.as_deref()
                .is_some_and(|v| any.iter().any(|a| v.eq_ignore_ascii_case(a)))
        };
        if self.delivery_action.is_some() || self.latest_delivery_location.is_some() {
            is(&self.delivery_action, &["Blocked"])
                || is(
                    &self.latest_delivery_location,
                    &["Quarantine", "Dropped", "Failed"],
                )
        } else {
            matches!(
                self.policy_action,
                Some(PolicyAction::Quarantine | PolicyAction::Delete)
            )
        }
    }

    /// True when the message reached a mailbox folder the user reads (Inbox, or delivered).
    fn reached_user(&self) -> bool {
        let eq = |v: &Option<String>, want: &str| {
            v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(want))
        };
        eq(&self.latest_delivery_location, "Inbox") || eq(&self.delivery_action, "Delivered")
    }

    /// ECS `email.direction` from `Directionality`.
    pub fn direction(&self) -> Option<&'static str> {
        let d = self.directionality.as_deref()?;
        Some(if d.eq_ignore_ascii_case("Inbound") {
            "inbound"
        } else if d.eq_ignore_ascii_case("Outbound") {
            "outbound"
        } else if d.eq_ignore_ascii_case("IntraOrg") {
            "internal"
        } else {
            "unknown"
        })
    }

    /// Classification: see `docs/formats.md` for the name and severity tables.
    pub(crate) fn assess(&self) -> Assessment {
        let verdict = self.verdict.as_deref().unwrap_or("");
        let high_confidence = self
            .phish_confidence_level
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("High"))
            || matches!(self.policy, Some(Policy::HighConfidencePhish));
        let (name, base): (&'static str, u8) = if verdict.eq_ignore_ascii_case("Malware") {
            ("Malware email detected", 8)
        } else if verdict.eq_ignore_ascii_case("Phish") && high_confidence {
            ("High confidence phish email detected", 8)
        } else if verdict.to_ascii_lowercase().contains("phish") {
            ("Phish email detected", 7)
        } else if verdict.eq_ignore_ascii_case("Spam") {
            ("Spam email detected", 3)
        } else if verdict.eq_ignore_ascii_case("Bulk") {
            ("Bulk email detected", 2)
        } else if self.is_malicious() {
            ("Malicious email detected", 7)
        } else {
            ("Email threat detected", 5)
        };
        let alert = self.is_malicious() || self.is_blocked();
        // A malicious message that reached the user is worse than one that was stopped.
        let severity = if alert && self.reached_user() {
            base.saturating_add(1).min(10)
        } else {
            base
        };
        let malware = verdict.eq_ignore_ascii_case("Malware")
            || self
                .attachments
                .iter()
                .any(|a| a.file_verdict == Some(FileVerdict::Bad));
        Assessment {
            alert,
            severity,
            name: Cow::Borrowed(name),
            category: if malware {
                &["email", "malware", "threat"]
            } else {
                &["email", "threat"]
            },
            types: match (alert, self.is_blocked()) {
                (true, true) => &["indicator", "denied"],
                (true, false) => &["indicator"],
                (false, true) => &["info", "denied"],
                (false, false) => &["info"],
            },
        }
    }
}
