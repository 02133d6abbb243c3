//! Pools of realistic values (people, domains, subjects, files, URLs) and the time and hash spellings seen in
//! real records.

use base64::Engine as _;
use chrono::{DateTime, Utc};

use super::super::rng::DetRng;

pub(crate) const FIRST_NAMES: &[&str] = &[
    "adele",
    "alex",
    "allan",
    "diego",
    "grady",
    "henrietta",
    "isaiah",
    "johanna",
    "joni",
    "lee",
    "lidia",
    "lynne",
    "megan",
    "miriam",
    "nestor",
    "patti",
    "pradeep",
    "zoë",
    "jürgen",
    "françois",
];
pub(crate) const LAST_NAMES: &[&str] = &[
    "vance",
    "wilber",
    "mcdonald",
    "siciliani",
    "archie",
    "mueller",
    "langer",
    "lorenz",
    "sherman",
    "holt",
    "gonzales",
    "cline",
    "bowen",
    "grant",
    "wilke",
    "fernandez",
    "gupta",
    "nakamura",
];
pub(crate) const EXTERNAL_DOMAINS: &[&str] = &[
    "paypa1-secure.com",
    "micros0ft-support.net",
    "invoice-center.biz",
    "dhl-tracking.info",
    "gmail.com",
    "outlook.com",
    "sendgrid.net",
    "docusign-mail.co",
    "example.org",
    "shared-files.xyz",
];
pub(crate) const TENANT_DOMAINS: &[&str] = &[
    "contoso.com",
    "fabrikam.com",
    "northwindtraders.com",
    "adatum.com",
    "tailspintoys.com",
    "woodgrovebank.com",
    "litwareinc.com",
    "wingtiptoys.com",
];
pub(crate) const SUBJECTS: &[&str] = &[
    "Invoice #48213 overdue",
    "Your mailbox is almost full",
    "RE: Q3 \"final\" numbers",
    "Action required: verify your account\nbefore Friday",
    "Payroll update [urgent]",
    "Shared document: Budget|2025.xlsx",
    "Password expires today = reset now",
    "Scan from \\\\PRINTER01\\scans\\inbound",
    "Delivery failed:\tpackage held",
    "Rückerstattung für Ihre Bestellung",
    "Facture impayée – dernier rappel",
    "請求書のご確認",
    "Re: [EXTERNAL] Wire transfer ] confirmation",
    "You've received a voicemail 🎧 (00:42)",
    "DocuSign: \"Contract_v2\" awaits your signature",
    "Weekly report",
];
pub(crate) const MALWARE_FAMILIES: &[&str] = &[
    "Trojan_Gen_FileWithSpoofedExtension_A",
    "HTML/Phish.PAZU!MTB",
    "TrojanDownloader:O97M/Donoff",
    "Trojan:Win32/Emotet.RPJ!MTB",
    "Backdoor:Win32/Qakbot",
    "JS/Phish.AB!MTB",
    "Malicious Payload",
    "",
];
pub(crate) const ATTACHMENTS: &[(&str, &str)] = &[
    ("invoice_48213.pdf.exe", "exe;zip"),
    ("Remittance Advice.html", "html"),
    ("scan_0042.zip", "zip"),
    ("Payroll (Q3).xlsm", "xlsm;ooxml"),
    ("voicemail-00042.htm", "html"),
    ("untitled1.eml", "eml;mime"),
    ("report.docx", "docx;ooxml"),
    ("Contract_v2.pdf", "pdf"),
];
pub(crate) const MALICIOUS_URLS: &[&str] = &[
    "https://paypa1-secure.com/login/verify?session=7f3a",
    "http://micros0ft-support.net/owa/auth.aspx",
    "https://invoice-center.biz/dl/48213?u=user",
    "https://shared-files.xyz/s/Budget%7C2025.xlsx",
    "https://docusign-mail.co/envelope?id=a1b2c3&redirect=https%3A%2F%2Fevil.example",
    "https://storage.googleapis.com/bucket-7781/index.html#user@contoso.com",
];

/// A display user name part: `first.last`.
pub(crate) fn person(rng: &mut DetRng) -> String {
    format!("{}.{}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES))
}

/// A mailbox in the tenant's domain.
pub(crate) fn internal_address(rng: &mut DetRng, domain: &str) -> String {
    format!("{}@{domain}", person(rng))
}

/// A mailbox outside the tenant.
pub(crate) fn external_address(rng: &mut DetRng) -> String {
    format!("{}@{}", person(rng), rng.pick(EXTERNAL_DOMAINS))
}

/// An IPv4 address from public-looking ranges.
pub(crate) fn ipv4(rng: &mut DetRng) -> String {
    format!(
        "{}.{}.{}.{}",
        rng.pick(&[13u8, 20, 40, 52, 81, 104, 185, 198, 203]),
        rng.below(256),
        rng.below(256),
        rng.range(1, 254)
    )
}

/// `2025-11-24T10:03:19` — how most record timestamps look.
pub(crate) fn plain(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// `2025-11-24T10:03:19.1234567Z` — the .NET round-trip form inside AIR data.
pub(crate) fn dotnet(t: DateTime<Utc>) -> String {
    format!("{}.{:07}Z", plain(t), t.timestamp_subsec_nanos() / 100)
}

/// `11/24/2025 10:03:19 AM` — the US form of the duplicated `QueryTime`.
pub(crate) fn us_time(t: DateTime<Utc>) -> String {
    t.format("%-m/%-d/%Y %-I:%M:%S %p").to_string()
}

/// `CreationTime` in one of the spellings seen on the wire: mostly plain, sometimes with `Z`, a fraction,
/// or both.
pub(crate) fn creation_time(rng: &mut DetRng, t: DateTime<Utc>) -> String {
    match rng.below(100) {
        0..=79 => plain(t),
        80..=87 => format!("{}Z", plain(t)),
        88..=93 => format!("{}.{:03}Z", plain(t), t.timestamp_subsec_millis()),
        _ => format!("{}.{:07}", plain(t), t.timestamp_subsec_nanos() / 100),
    }
}

/// A SHA-256 as uppercase hex, lowercase hex or base64 (all three occur).
pub(crate) fn sha256(rng: &mut DetRng, base64_share: u64) -> String {
    let bytes = rng.bytes(32);
    let roll = rng.below(100);
    if roll < base64_share {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    } else {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        if roll % 3 == 0 {
            hex
        } else {
            hex.to_uppercase()
        }
    }
}

/// An `InternetMessageId` like `<GV1P280MB0123…@GV1P280MB0123.EURP280.PROD.OUTLOOK.COM>` or a sender's own.
pub(crate) fn internet_message_id(rng: &mut DetRng, sender_domain: &str) -> String {
    if rng.chance(0.5) {
        let host = format!(
            "AM{}P{}MB{:04}",
            rng.range(0, 9),
            rng.range(190, 195),
            rng.below(10000)
        );
        format!(
            "<{}{}@{host}.EURP{}.PROD.OUTLOOK.COM>",
            host,
            rng.hex(8).to_uppercase(),
            rng.range(190, 195)
        )
    } else {
        format!("<{}@{sender_domain}>", rng.uuid())
    }
}

/// An uppercase 32-hex urn suffix, as in `urn:MailEntity:…`.
pub(crate) fn urn_hex(rng: &mut DetRng) -> String {
    rng.hex(32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn time_spellings_match_the_wire() {
        let t = Utc
            .with_ymd_and_hms(2025, 11, 24, 10, 3, 19)
            .single()
            .unwrap();
        assert_eq!(plain(t), "2025-11-24T10:03:19");
        assert_eq!(dotnet(t), "2025-11-24T10:03:19.0000000Z");
        assert_eq!(us_time(t), "11/24/2025 10:03:19 AM");
    }

    #[test]
    fn sha256_comes_in_hex_and_base64() {
        let mut rng = DetRng::new(5);
        let all: Vec<String> = (0..60).map(|_| sha256(&mut rng, 30)).collect();
        assert!(all.iter().any(|s| s.len() == 64));
        assert!(all.iter().any(|s| s.len() == 44 && s.ends_with('=')));
    }
}
