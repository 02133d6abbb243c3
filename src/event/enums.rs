//! Enumerations of the ATP records, with readable names.
//!
//! Microsoft documents these as integers; real records carry the integer, the integer as a string (`"1"`), or a
//! name (`"HighConfidencePhish"`, `"MoveToJmf"`). Each enum accepts all three: numbers and numeric strings go
//! through the code table, names are matched case-insensitively (with the misspellings seen in the wild as
//! aliases), and anything else is kept — a code as [`Code`](FileVerdict::Code), a name as
//! [`Text`](FileVerdict::Text). [`name`](FileVerdict::name) is what the outputs show.

use std::borrow::Cow;

use serde::de::MapAccess;

use super::decode::{self, Scalar};

macro_rules! coded_enum {
    (
        $(#[$doc:meta])*
        $name:ident {
            $( $(#[$vdoc:meta])* $code:literal => $variant:ident = $text:literal $(| $alias:literal)* ),* $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )*
            /// A code missing from the table.
            Code(i64),
            /// A name missing from the table, as sent.
            Text(String),
        }

        impl $name {
            /// Every documented `(code, name)`, for documentation and tests.
            pub const TABLE: &'static [(i64, &'static str)] = &[$(($code, $text)),*];

            /// The value for a code.
            pub fn from_code(code: i64) -> Self {
                match code {
                    $( $code => Self::$variant, )*
                    other => Self::Code(other),
                }
            }

            /// The value for a text: a number goes through the code table, a name is matched ignoring case.
            pub fn from_text(text: &str) -> Self {
                let trimmed = text.trim();
                if let Ok(code) = trimmed.parse::<i64>() {
                    return Self::from_code(code);
                }
                $(
                    if trimmed.eq_ignore_ascii_case($text) $(|| trimmed.eq_ignore_ascii_case($alias))* {
                        return Self::$variant;
                    }
                )*
                Self::Text(text.to_owned())
            }

            /// The value for an int-or-string field.
            pub fn from_scalar(value: &Scalar) -> Self {
                match value {
                    Scalar::Int(code) => Self::from_code(*code),
                    Scalar::Text(text) => Self::from_text(text),
                }
            }

            /// The documented code; `None` for a name missing from the table.
            pub fn code(&self) -> Option<i64> {
                match self {
                    $( Self::$variant => Some($code), )*
                    Self::Code(code) => Some(*code),
                    Self::Text(_) => None,
                }
            }

            /// The readable name; an unknown code shows as its number, an unknown name as sent.
            pub fn name(&self) -> Cow<'_, str> {
                match self {
                    $( Self::$variant => Cow::Borrowed($text), )*
                    Self::Code(code) => Cow::Owned(code.to_string()),
                    Self::Text(text) => Cow::Borrowed(text.as_str()),
                }
            }

            /// Reads the next map value as this enum; `null` and `""` are absent.
            pub(crate) fn next<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Self>, A::Error> {
                Ok(decode::scalar(map)?.map(|value| Self::from_scalar(&value)))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.name())
            }
        }
    };
}

coded_enum! {
    /// `Policy` of a TIMailData record: the filtering policy that acted on the message.
    Policy {
        1 => HighConfidenceSpam = "HighConfidenceSpam" | "HSPM",
        2 => Spam = "Spam" | "SPM",
        3 => Bulk = "Bulk",
        4 => Phish = "Phish" | "PHSH",
        5 => DomainImpersonation = "DomainImpersonation" | "DIMP",
        6 => UserImpersonation = "UserImpersonation" | "UIMP",
        7 => Spoof = "Spoof" | "SPOOF",
        8 => MailboxIntelligenceImpersonation = "MailboxIntelligenceImpersonation" | "GIMP",
        9 => AntiMalware = "AntiMalware" | "AMP",
        10 => SafeAttachments = "SafeAttachments" | "SafeAttachements" | "SafeAttachment" | "SAP",
        11 => ExchangeTransportRule = "ExchangeTransportRule" | "ETR",
        12 => ZapMalware = "ZapMalware" | "ZAPM",
        13 => ZapPhish = "ZapPhish" | "ZAPP",
        14 => ZapSpam = "ZapSpam" | "ZAPS",
        15 => HighConfidencePhish = "HighConfidencePhish" | "HPHISH",
        17 => OutboundSpam = "OutboundSpam" | "OSPM",
    }
}

coded_enum! {
    /// `PolicyAction` of a TIMailData record: what the policy did with the message.
    PolicyAction {
        0 => MoveToJmf = "MoveToJMF" | "MoveToJunk",
        1 => AddXHeader = "AddXHeader",
        2 => ModifySubject = "ModifySubject",
        3 => Redirect = "Redirect",
        4 => Delete = "Delete",
        5 => Quarantine = "Quarantine",
        6 => NoAction = "NoAction",
        7 => BccMessage = "BccMessage",
        8 => ReplaceAttachment = "ReplaceAttachment",
    }
}

coded_enum! {
    /// `FileVerdict` of an attachment (TIMailData) or a file (AtpDetection).
    FileVerdict {
        0 => Good = "Good",
        1 => Bad = "Bad" | "Malicious",
        -1 => Error = "Error",
        -2 => Timeout = "Timeout",
        -3 => Pending = "Pending",
    }
}

coded_enum! {
    /// `UrlClickAction` (docs: `URLClickAction`) of a TIUrlClickData record: what Safe Links did at the click.
    UrlClickAction {
        0 => NoAction = "None",
        1 => Allowed = "Allowed",
        2 => BlockPage = "BlockPage",
        3 => PendingDetonationPage = "PendingDetonationPage",
        4 => BlockPageOverride = "BlockPageOverride",
        5 => PendingDetonationPageOverride = "PendingDetonationPageOverride",
    }
}

coded_enum! {
    /// `SourceWorkload` of an AtpDetection record: where the file lives.
    SourceWorkload {
        0 => SharePoint = "SharePoint" | "SharePointOnline",
        1 => OneDrive = "OneDrive" | "OneDriveForBusiness",
        2 => Teams = "Teams" | "MicrosoftTeams",
    }
}

coded_enum! {
    /// `UserType` of any audit record: the kind of account that performed the operation.
    UserType {
        0 => Regular = "Regular",
        1 => Reserved = "Reserved",
        2 => Admin = "Admin",
        3 => DcAdmin = "DcAdmin",
        4 => System = "System",
        5 => Application = "Application",
        6 => ServicePrincipal = "ServicePrincipal",
        7 => CustomPolicy = "CustomPolicy",
        8 => SystemPolicy = "SystemPolicy",
    }
}

coded_enum! {
    /// `DetectionType` of a TIMailData record: when the verdict was reached. Very old records send 0/1/2.
    DetectionType {
        0 => Inline = "Inline",
        1 => Delayed = "Delayed",
        2 => Zap = "ZAP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_numeric_strings_and_names_decode_to_the_same_value() {
        assert_eq!(FileVerdict::from_scalar(&Scalar::Int(1)), FileVerdict::Bad);
        assert_eq!(FileVerdict::from_text("1"), FileVerdict::Bad);
        assert_eq!(
            Policy::from_text("HighConfidencePhish"),
            Policy::HighConfidencePhish
        );
        assert_eq!(Policy::from_code(15), Policy::HighConfidencePhish);
        assert_eq!(
            PolicyAction::from_text("MoveToJmf"),
            PolicyAction::MoveToJmf
        );
    }

    #[test]
    fn known_misspellings_are_aliases() {
        assert_eq!(
            Policy::from_text("SafeAttachements"),
            Policy::SafeAttachments
        );
    }

    #[test]
    fn unknown_values_are_kept() {
        assert_eq!(FileVerdict::from_text("2").name(), "2");
        assert_eq!(FileVerdict::from_text("2").code(), Some(2));
        assert_eq!(Policy::from_text("BrandNewPolicy").name(), "BrandNewPolicy");
        assert_eq!(Policy::from_text("BrandNewPolicy").code(), None);
    }

    #[test]
    fn every_table_entry_round_trips_through_its_code_and_its_name() {
        for &(code, name) in Policy::TABLE {
            assert_eq!(Policy::from_code(code).name(), name);
            assert_eq!(Policy::from_text(name).code(), Some(code));
        }
        for &(code, name) in UrlClickAction::TABLE {
            assert_eq!(UrlClickAction::from_code(code).name(), name);
        }
    }
}
