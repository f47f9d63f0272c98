//! What a subscription is: which events, from where, pushed to which webhook, and how often an event
//! is tried before it is parked. Parsed from API.md's JSON with errors that name the field.

use crate::error::SubscriptionError;
use crate::limits::*;
use redress_schemas::EventType;
use serde_json::{json, Map, Value};
use std::fmt;

/// Where a new subscription starts reading the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Position 0.
    Beginning,
    /// After the last event stored when the subscription is created.
    Now,
    /// This log position.
    Position(u64),
}

/// A webhook secret. Its `Debug` says only that it is set, so it cannot reach a log by accident, and it
/// has no `Display`; [`Definition::public_json`] leaves it out.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret's bytes, for signing.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a subscription pushes its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// An `http://` URL whose host is on the allow-list.
    pub url: String,
    pub secret: Secret,
}

/// A subscription's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The event types delivered; empty: every type.
    pub event_types: Vec<EventType>,
    pub start: Start,
    pub webhook: Option<Webhook>,
    /// Deliveries of one event before it is parked (1..=[`MAX_ATTEMPTS_MAX`]).
    pub max_attempts: u32,
}

/// `max_attempts` when the definition does not say (API.md's example).
pub const MAX_ATTEMPTS_DEFAULT: u32 = 10;

fn invalid(field: &'static str, reason: impl Into<String>) -> SubscriptionError {
    SubscriptionError::Invalid { field, reason: reason.into() }
}

/// Refuses a name that is empty, longer than [`SUBSCRIPTION_NAME_BYTES_MAX`] or not `[a-z0-9_-]`: names
/// are keys in both backends and labels in `/metrics`.
pub fn check_name(name: &str) -> Result<(), SubscriptionError> {
    let plain = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if plain && !name.is_empty() && name.len() <= SUBSCRIPTION_NAME_BYTES_MAX {
        Ok(())
    } else {
        Err(invalid("name", format!("use 1..={SUBSCRIPTION_NAME_BYTES_MAX} bytes of [a-z0-9_-]")))
    }
}

/// Which webhook hosts a server may call: exact host names or IP literals. The default is loopback only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookHosts(Vec<String>);

impl Default for WebhookHosts {
    fn default() -> Self {
        WebhookHosts(vec!["127.0.0.1".into(), "::1".into(), "localhost".into()])
    }
}

impl WebhookHosts {
    /// Exactly these hosts (compared case-insensitively).
    pub fn new(hosts: impl IntoIterator<Item = String>) -> WebhookHosts {
        WebhookHosts(hosts.into_iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect())
    }

    /// Refuses a URL that is not `http://`, carries credentials, or names a host off the list.
    pub fn check(&self, url: &str) -> Result<(), SubscriptionError> {
        if url.len() > WEBHOOK_URL_BYTES_MAX {
            return Err(invalid("webhook.url", format!("longer than {WEBHOOK_URL_BYTES_MAX} bytes")));
        }
        let parsed = reqwest::Url::parse(url).map_err(|e| invalid("webhook.url", e.to_string()))?;
        // Plain HTTP only: this build has no TLS client, and the default hosts are loopback.
        if parsed.scheme() != "http" {
            return Err(invalid("webhook.url", "use an http:// URL"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid("webhook.url", "credentials in the URL would be stored in clear; use the secret"));
        }
        let Some(host) = parsed.host_str() else { return Err(invalid("webhook.url", "the URL has no host")) };
        // An IPv6 literal comes bracketed; the list holds it bare.
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if self.0.contains(&host) {
            Ok(())
        } else {
            Err(SubscriptionError::HostNotAllowed { host, allowed: self.0.join(", ") })
        }
    }
}

impl Definition {
    /// Parses API.md's `PUT /subscriptions/{name}` body. Unknown fields are refused (a typo must not be
    /// ignored), and so is a webhook whose host `hosts` does not allow.
    pub fn from_json(value: &Value, hosts: &WebhookHosts) -> Result<Definition, SubscriptionError> {
        let object = value.as_object().ok_or_else(|| invalid("body", "expected a JSON object"))?;
        if let Some(unknown) =
            object.keys().find(|k| !["event_types", "start", "webhook", "max_attempts"].contains(&k.as_str()))
        {
            return Err(invalid("body", format!("unknown field {unknown:?}")));
        }
        let event_types = match object.get("event_types") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(names)) => {
                let mut types = Vec::with_capacity(names.len());
                for name in names {
                    let name = name.as_str().ok_or_else(|| invalid("event_types", "expected event type names"))?;
                    let event_type = EventType::from_name(name)
                        .ok_or_else(|| invalid("event_types", format!("unknown event type {name:?}")))?;
                    if !types.contains(&event_type) {
                        types.push(event_type);
                    }
                }
                types
            }
            Some(_) => return Err(invalid("event_types", "expected a list of event type names")),
        };
        let start = match object.get("start") {
            None | Some(Value::Null) => Start::Beginning,
            Some(Value::String(s)) if s == "beginning" => Start::Beginning,
            Some(Value::String(s)) if s == "now" => Start::Now,
            Some(Value::Number(n)) => {
                Start::Position(n.as_u64().ok_or_else(|| invalid("start", "a position is a non-negative integer"))?)
            }
            Some(_) => return Err(invalid("start", "use \"beginning\", \"now\" or a position")),
        };
        let webhook = match object.get("webhook") {
            None | Some(Value::Null) => None,
            Some(Value::Object(hook)) => {
                if let Some(unknown) = hook.keys().find(|k| !["url", "secret"].contains(&k.as_str())) {
                    return Err(invalid("webhook", format!("unknown field {unknown:?}")));
                }
                let url = hook.get("url").and_then(Value::as_str).ok_or_else(|| invalid("webhook.url", "required"))?;
                hosts.check(url)?;
                let secret =
                    hook.get("secret").and_then(Value::as_str).ok_or_else(|| invalid("webhook.secret", "required"))?;
                if !(WEBHOOK_SECRET_BYTES_MIN..=WEBHOOK_SECRET_BYTES_MAX).contains(&secret.len()) {
                    return Err(invalid(
                        "webhook.secret",
                        format!("use {WEBHOOK_SECRET_BYTES_MIN}..={WEBHOOK_SECRET_BYTES_MAX} bytes"),
                    ));
                }
                Some(Webhook { url: url.to_owned(), secret: Secret(secret.to_owned()) })
            }
            Some(_) => return Err(invalid("webhook", "expected {\"url\", \"secret\"} or null")),
        };
        let max_attempts = match object.get("max_attempts") {
            None | Some(Value::Null) => MAX_ATTEMPTS_DEFAULT,
            Some(value) => value
                .as_u64()
                .filter(|n| (1..=u64::from(MAX_ATTEMPTS_MAX)).contains(n))
                .map(|n| n as u32)
                .ok_or_else(|| invalid("max_attempts", format!("use 1..={MAX_ATTEMPTS_MAX}")))?,
        };
        Ok(Definition { event_types, start, webhook, max_attempts })
    }

    /// Whether the subscription delivers events of `event_type`.
    pub fn admits(&self, event_type: EventType) -> bool {
        self.event_types.is_empty() || self.event_types.contains(&event_type)
    }

    /// The definition as answers show it: the webhook's secret is never in it.
    pub fn public_json(&self) -> Value {
        let mut value = self.stored_json();
        if let Some(hook) = value.get_mut("webhook").and_then(Value::as_object_mut) {
            hook.remove("secret");
        }
        value
    }

    /// The definition as stored (with the secret): only the backends call this.
    pub(crate) fn stored_json(&self) -> Value {
        let start = match self.start {
            Start::Beginning => json!("beginning"),
            Start::Now => json!("now"),
            Start::Position(p) => json!(p),
        };
        let webhook = self.webhook.as_ref().map(|hook| {
            let mut object = Map::new();
            object.insert("url".into(), json!(hook.url));
            object.insert("secret".into(), json!(hook.secret.0));
            Value::Object(object)
        });
        json!({
            "event_types": self.event_types.iter().map(|t| t.name()).collect::<Vec<_>>(),
            "start": start,
            "webhook": webhook,
            "max_attempts": self.max_attempts,
        })
    }

    /// Reads a stored definition back. The host is not checked again: a list narrowed later stops
    /// delivery at send time instead (see the webhook task).
    pub(crate) fn from_stored(value: &Value) -> Result<Definition, SubscriptionError> {
        let everyone = WebhookHosts(Vec::new());
        let mut copy = value.clone();
        let hook = copy.get_mut("webhook").map(Value::take);
        let mut definition = Definition::from_json(&copy, &everyone)?;
        if let Some(Value::Object(hook)) = hook {
            let field = |name: &str| hook.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
            definition.webhook = Some(Webhook { url: field("url"), secret: Secret(field("secret")) });
        }
        Ok(definition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definition_round_trips_through_storage_and_answers_never_show_the_secret() {
        let body = json!({"event_types": ["complaint_received"], "start": 7,
            "webhook": {"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef-secret"}, "max_attempts": 3});
        let definition = Definition::from_json(&body, &WebhookHosts::default()).unwrap();
        assert_eq!(Definition::from_stored(&definition.stored_json()).unwrap(), definition);
        assert!(!definition.public_json().to_string().contains("0123456789abcdef"));
        assert!(!format!("{definition:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn bad_definitions_name_the_field() {
        let hosts = WebhookHosts::default();
        let cases = [
            (json!({"event_types": ["nope"]}), "event_types"),
            (json!({"start": "later"}), "start"),
            (json!({"max_attempts": 0}), "max_attempts"),
            (json!({"webhook": {"url": "http://127.0.0.1/"}}), "webhook.secret"),
            (json!({"webhook": {"url": "https://127.0.0.1/", "secret": "0123456789abcdef"}}), "webhook.url"),
            (json!({"webhook": {"url": "http://u:p@127.0.0.1/", "secret": "0123456789abcdef"}}), "webhook.url"),
            (json!({"webhook": {"url": "http://127.0.0.1/", "secret": "short"}}), "webhook.secret"),
            (json!({"typo": 1}), "body"),
        ];
        for (body, field) in cases {
            match Definition::from_json(&body, &hosts) {
                Err(SubscriptionError::Invalid { field: got, .. }) => assert_eq!(got, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        assert!(check_name("orders-1").is_ok());
        assert!(check_name("Orders").is_err() && check_name("").is_err() && check_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn webhook_hosts_default_to_loopback_and_an_operator_can_widen_them() {
        let loopback = WebhookHosts::default();
        for url in ["http://127.0.0.1:8080/h", "http://[::1]:1/", "http://LOCALHOST/"] {
            assert!(loopback.check(url).is_ok(), "{url}");
        }
        for url in ["http://10.0.0.5/", "http://169.254.169.254/latest/meta-data", "http://127.0.0.2/", "http://db/"] {
            assert!(matches!(loopback.check(url), Err(SubscriptionError::HostNotAllowed { .. })), "{url}");
        }
        let wider = WebhookHosts::new(["hooks.example.com".to_string()]);
        assert!(wider.check("http://hooks.example.com/x").is_ok());
        assert!(wider.check("http://127.0.0.1/").is_err());
    }
}
