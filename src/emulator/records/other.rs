//! Records that are not ATP: the rest of `Audit.General` (Teams, Power BI, Forms, Power Automate, security
//! alerts) and the other content types (Exchange, SharePoint, Azure AD, DLP), realistic enough that a filter
//! on RecordType has real work to do.

use super::super::rng::DetRng;
use super::text;
use super::{header, Header, RecordPlan, TenantCtx};

/// Non-ATP record types that live in `Audit.General`.
pub(crate) const GENERAL_TYPES: &[i64] = &[25, 40, 20, 30, 66];

/// Record types of each other content type.
pub(crate) fn types_for(content_type: &str) -> &'static [i64] {
    match content_type {
        "Audit.Exchange" => &[2, 1, 50],
        "Audit.SharePoint" => &[6, 4, 14],
        "Audit.AzureActiveDirectory" => &[15, 8],
        "DLP.All" => &[11, 13],
        _ => GENERAL_TYPES,
    }
}

/// (Operation, Workload) per record type.
fn describe(record_type: i64, rng: &mut DetRng) -> (&'static str, &'static str) {
    match record_type {
        25 => (
            *rng.pick(&["MessageSent", "MemberAdded", "TeamCreated", "ChatCreated"]),
            "MicrosoftTeams",
        ),
        40 => (
            *rng.pick(&["AlertTriggered", "AlertEntityGenerated"]),
            "SecurityComplianceCenter",
        ),
        20 => (*rng.pick(&["ViewReport", "ExportReport"]), "PowerBI"),
        30 => (*rng.pick(&["CreateFlow", "EditFlow"]), "MicrosoftFlow"),
        66 => (*rng.pick(&["ViewForm", "CreateForm"]), "MicrosoftForms"),
        2 => (
            *rng.pick(&[
                "MailItemsAccessed",
                "Send",
                "SoftDelete",
                "MoveToDeletedItems",
            ]),
            "Exchange",
        ),
        1 => (
            *rng.pick(&["Set-Mailbox", "New-InboxRule", "Add-MailboxPermission"]),
            "Exchange",
        ),
        50 => ("MailboxLogin", "Exchange"),
        6 => (
            *rng.pick(&[
                "FileAccessed",
                "FileModified",
                "FileDownloaded",
                "FileUploaded",
            ]),
            "OneDrive",
        ),
        4 => (
            *rng.pick(&["PageViewed", "SiteCollectionCreated"]),
            "SharePoint",
        ),
        14 => (
            *rng.pick(&["SharingSet", "AnonymousLinkCreated"]),
            "SharePoint",
        ),
        15 => (
            *rng.pick(&["UserLoggedIn", "UserLoginFailed"]),
            "AzureActiveDirectory",
        ),
        8 => (
            *rng.pick(&["Add user.", "Update user.", "Add member to role."]),
            "AzureActiveDirectory",
        ),
        11 => ("DLPRuleMatch", "SharePoint"),
        _ => ("DLPRuleMatch", "Exchange"),
    }
}

/// Renders one non-ATP record.
pub(crate) fn render(plan: &RecordPlan, ctx: &TenantCtx, rng: &mut DetRng) -> String {
    let (operation, workload) = describe(plan.record_type, rng);
    let user = text::internal_address(rng, ctx.domain);
    let object = match workload {
        "OneDrive" | "SharePoint" => format!(
            "https://{}.sharepoint.com/sites/Finance/Shared Documents/{}",
            ctx.domain.split('.').next().unwrap_or("contoso"),
            rng.pick(text::ATTACHMENTS).0
        ),
        "Exchange" => user.clone(),
        _ => rng.uuid().to_string(),
    };
    let user_type = *rng.pick(&[0, 0, 0, 2, 5]);
    let mut o = header(
        plan,
        ctx,
        rng,
        Header {
            operation,
            workload,
            user_key: "",
            user_type,
            user_id: user.clone(),
            object_id: Some(object),
        },
    );
    o.push("ClientIP", text::ipv4(rng));
    o.push(
        "ResultStatus",
        *rng.pick(&["Succeeded", "Succeeded", "Success", "PartiallySucceeded"]),
    );
    match plan.record_type {
        2 | 50 => {
            o.push(
                "ClientInfoString",
                "Client=OWA;Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
            );
            o.push("MailboxOwnerUPN", &user);
            o.push("MailboxGuid", rng.uuid().to_string());
            o.push("LogonType", 0);
        }
        6 | 4 | 14 => {
            o.push(
                "SiteUrl",
                format!(
                    "https://{}.sharepoint.com/sites/Finance/",
                    ctx.domain.split('.').next().unwrap_or("contoso")
                ),
            );
            o.push("SourceFileExtension", "xlsx");
            o.push(
                "UserAgent",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
            );
            o.push("ListItemUniqueId", rng.uuid().to_string());
        }
        15 | 8 => {
            o.push("AzureActiveDirectoryEventType", 1);
            o.push("ApplicationId", rng.uuid().to_string());
            o.push(
                "ErrorNumber",
                if operation == "UserLoginFailed" {
                    "50126"
                } else {
                    "0"
                },
            );
        }
        40 => {
            o.push("AlertId", rng.uuid().to_string());
            o.push(
                "Name",
                "Email messages containing malicious URL removed after delivery",
            );
            o.push("Severity", "Informational");
            o.push("Category", "ThreatManagement");
        }
        _ => {
            o.push("AppName", workload);
            o.push("ItemName", *rng.pick(text::SUBJECTS));
        }
    }
    o.to_json()
}
