//! Entities inside AIR (RecordType 64) `Data` and `Actions`: mailbox, mail message, URL, IP, file and mail
//! cluster, with `Type` spelled the documented way (`mail-message`, `MailCluster`) or camelCase
//! (`mailMessage`, `mailCluster`), and an optional duplicated `QueryTime` (only ever inside JSON strings).

use chrono::{DateTime, Utc};

use super::super::rng::DetRng;
use super::obj::Obj;
use super::text::{self, dotnet, plain, us_time};

/// Hands out the `$id` values of one JSON document ("1", "2", …).
pub(crate) struct Ids(u32);

impl Ids {
    pub(crate) fn new() -> Self {
        Self(0)
    }

    pub(crate) fn next(&mut self) -> String {
        self.0 += 1;
        self.0.to_string()
    }
}

/// What the investigation is about; entities are drawn consistently from it.
pub(crate) struct Subject {
    pub recipient: String,
    pub sender: String,
    pub sender_ip: String,
    pub nmid: String,
    pub imid: String,
    pub subject: &'static str,
    pub url: &'static str,
    pub file: (&'static str, &'static str),
    pub sha256: String,
    pub seen: DateTime<Utc>,
}

impl Subject {
    pub(crate) fn new(rng: &mut DetRng, domain: &str, seen: DateTime<Utc>) -> Self {
        let sender = text::external_address(rng);
        let sender_domain = sender
            .rsplit('@')
            .next()
            .unwrap_or("example.org")
            .to_owned();
        let mut sha = text::sha256(rng, 0);
        sha.make_ascii_uppercase();
        Self {
            recipient: text::internal_address(rng, domain),
            sender,
            sender_ip: text::ipv4(rng),
            nmid: rng.uuid().to_string(),
            imid: text::internet_message_id(rng, &sender_domain),
            subject: *rng.pick(text::SUBJECTS),
            url: *rng.pick(text::MALICIOUS_URLS),
            file: *rng.pick(text::ATTACHMENTS),
            sha256: sha,
            seen,
        }
    }
}

fn tail(o: &mut Obj, rng: &mut DetRng, kind: &str, s: &Subject) {
    o.push("Urn", format!("urn:{kind}:{}", text::urn_hex(rng)));
    o.push("Source", "OATP");
    o.push("FirstSeen", plain(s.seen));
}

pub(crate) fn mailbox(rng: &mut DetRng, ids: &mut Ids, s: &Subject) -> Obj {
    let mut o = Obj::new()
        .set("$id", ids.next())
        .set("MailboxPrimaryAddress", &s.recipient)
        .set("Upn", &s.recipient)
        .set("AadId", rng.uuid().to_string())
        .set("RiskLevel", "None")
        .set("Type", "mailbox");
    tail(&mut o, rng, "UserEntity", s);
    o
}

pub(crate) fn mail_message(rng: &mut DetRng, ids: &mut Ids, s: &Subject) -> Obj {
    let sender_domain = s.sender.rsplit('@').next().unwrap_or("example.org");
    let mut o = Obj::new().set("$id", ids.next());
    if rng.chance(0.25) {
        o.push("Files", vec![file(rng, ids, s, false)]);
    }
    o.push("Recipient", &s.recipient);
    o.push("Urls", [s.url]);
    o.push("Threats", ["ZapPhish", "HighConfPhish"]);
    o.push("Sender", &s.sender);
    o.push("P1Sender", &s.sender);
    o.push("P1SenderDomain", sender_domain);
    o.push("SenderIP", &s.sender_ip);
    o.push("P2Sender", &s.sender);
    o.push(
        "P2SenderDisplayName",
        s.sender.split('@').next().unwrap_or("sender"),
    );
    o.push("P2SenderDomain", sender_domain);
    o.push("ReceivedDate", plain(s.seen));
    o.push("NetworkMessageId", &s.nmid);
    o.push("InternetMessageId", &s.imid);
    o.push("Subject", s.subject);
    o.push("AntispamDirection", "Inbound");
    o.push("DeliveryAction", "Delivered");
    o.push("ThreatDetectionMethods", ["URLList"]);
    o.push("Language", "en");
    o.push("DeliveryLocation", "Quarantine");
    o.push("OriginalDeliveryLocation", "Inbox");
    o.push("PhishConfidenceLevel", "High");
    o.push(
        "AdditionalActionsAndResults",
        [
            "OriginalDelivery: [N/A]",
            "Zap: [Success: Message moved to quarantine]",
        ],
    );
    o.push(
        "AuthDetails",
        [
            Obj::new().set("Name", "DKIM").set("Value", "None"),
            Obj::new().set("Name", "DMARC").set("Value", "None"),
        ],
    );
    o.push("SystemOverrides", Vec::<Obj>::new());
    o.push(
        "Type",
        if rng.chance(0.5) {
            "mailMessage"
        } else {
            "mail-message"
        },
    );
    tail(&mut o, rng, "MailEntity", s);
    o
}

pub(crate) fn url(rng: &mut DetRng, ids: &mut Ids, s: &Subject) -> Obj {
    let mut o = Obj::new()
        .set("$id", ids.next())
        .set("Url", s.url)
        .set("Type", "url")
        .set("ClickCount", rng.range(0, 5))
        .set("EmailCount", rng.range(1, 90));
    tail(&mut o, rng, "UrlEntity", s);
    o
}

pub(crate) fn ip(rng: &mut DetRng, ids: &mut Ids, s: &Subject) -> Obj {
    let mut o = Obj::new()
        .set("$id", ids.next())
        .set("Address", &s.sender_ip)
        .set("Type", "ip");
    tail(&mut o, rng, "IPEntity", s);
    o
}

pub(crate) fn file(rng: &mut DetRng, ids: &mut Ids, s: &Subject, top_level: bool) -> Obj {
    let mut o = Obj::new().set("$id", ids.next()).set("Name", s.file.0);
    let hash = Obj::new()
        .set("$id", ids.next())
        .set("Algorithm", "SHA256")
        .set("Value", &s.sha256)
        .set("Type", "filehash");
    o.push("FileHashes", [hash]);
    o.push("Type", "file");
    o.push("MalwareFamily", *rng.pick(text::MALWARE_FAMILIES));
    if top_level {
        tail(&mut o, rng, "FileEntity", s);
    }
    o
}

/// A mail cluster; `dup_query_time` writes `QueryTime` twice (ISO, then US form) as some real records do.
pub(crate) fn mail_cluster(
    rng: &mut DetRng,
    ids: &mut Ids,
    s: &Subject,
    dup_query_time: bool,
) -> Obj {
    let count = rng.range(1, 40);
    let mut o = Obj::new()
        .set("$id", ids.next())
        .set("NetworkMessageIds", [&s.nmid])
        .set(
            "CountByThreatType",
            Obj::new().set("HighConfPhish", count).set("Phish", 0).set("Malware", 0).set("Spam", 0),
        )
        .set("CountByProtectionStatus", Obj::new().set("Blocked", count))
        .set("CountByDeliveryLocation", Obj::new().set("Quarantine", count))
        .set(
            "Query",
            format!(
                "( ((NormalizedUrl:\"{}\") AND (ContentType: 1)) AND NOT(XmiInfoTenantPolicyFinalVerdictSource:PhishEdu))",
                s.url
            ),
        )
        .set("QueryTime", dotnet(s.seen))
        .set("MailCount", count)
        .set("IsVolumeAnamoly", false)
        .set("ClusterSourceIdentifier", s.url)
        .set("ClusterSourceType", "UrlThreatIndicator")
        .set("ClusterGroup", "UrlThreatIdentifier")
        .set("Type", if rng.chance(0.5) { "mailCluster" } else { "MailCluster" })
        .set("ClusterBy", "NormalizedUrl;ContentType")
        .set("ClusterByValue", format!("{};1", s.url))
        .set("QueryStartTime", us_time(s.seen - chrono::Duration::days(20)));
    if dup_query_time {
        o.push("QueryTime", us_time(s.seen));
    }
    tail(&mut o, rng, "MailClusterEntity", s);
    o
}
