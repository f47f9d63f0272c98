//! Deadline alerts (API.md v1.1 "Subscriptions for backend services"): notifications that are not log
//! events. The server looks at the projections' `deadline-alerts` view every `scan_seconds` of its
//! policy and hands the alerts standing then to [`Subscriptions::send_alerts`] for each subscription the
//! policy names. Each alert's id names (complaint, deadline, state, due instant), so the same alert has
//! the same id at every look and on every server; the ids sent are recorded beside the subscription's
//! ledger (sled or PostgreSQL), so a restart does not send them again, and forgotten once the alert no
//! longer stands ([`Subscriptions::forget_alerts`]), so the record stays as large as the alerts standing.
//!
//! Delivery is by webhook, signed like event batches, at least once: an alert is recorded after the
//! webhook's 2xx, so a crash between the two sends it again (a receiver deduplicates by `alert_id`).
//! The body is `{"subscription", "delivery_id", "kind": "deadline_alert", "alerts": [...]}` with the
//! header `X-Redress-Kind: deadline_alert`; event batches carry `events` instead.

use crate::error::SubscriptionError;
use crate::service::Subscriptions;
use crate::store::not_found;
use crate::webhook::signed_post;
use serde_json::{json, Value};
use std::collections::HashSet;

/// Alerts in one POST.
pub const ALERT_BATCH_MAX: usize = 500;
/// The header naming what a webhook POST carries: `deadline_alert` (absent on event batches).
pub const KIND_HEADER: &str = "X-Redress-Kind";
/// Its value on alert deliveries, and the body's `kind`.
pub const ALERT_KIND: &str = "deadline_alert";

/// The ids of `alerts` (objects with a string `alert_id`; others are skipped).
pub fn alert_ids<'a>(alerts: impl IntoIterator<Item = &'a Value>) -> Vec<String> {
    alerts.into_iter().filter_map(|a| a["alert_id"].as_str().map(str::to_owned)).collect()
}

impl Subscriptions {
    /// Sends subscription `name` those of `alerts` (objects with a string `alert_id`) it was not sent
    /// before, in batches of at most [`ALERT_BATCH_MAX`], recording each batch as sent once the webhook
    /// answers 2xx. Returns how many were sent now. A failed POST is the subscription's `last_error` and
    /// [`SubscriptionError::Delivery`] (the batches before it stay recorded). A subscription without a
    /// webhook cannot be told: `Invalid` on `webhook`.
    pub async fn send_alerts(&self, name: &str, alerts: &[Value]) -> Result<usize, SubscriptionError> {
        let stored = self.stored(name).await?.ok_or_else(|| not_found(name))?;
        let Some(hook) = stored.definition.webhook else {
            return Err(SubscriptionError::Invalid {
                field: "webhook",
                reason: "deadline alerts are sent by webhook, and this subscription has none".into(),
            });
        };
        let ids = alert_ids(alerts);
        if ids.is_empty() {
            return Ok(0);
        }
        let unsent: HashSet<String> = self.inner.ledgers.unsent_alerts(name, &ids).await?.into_iter().collect();
        let pending: Vec<&Value> =
            alerts.iter().filter(|a| a["alert_id"].as_str().is_some_and(|id| unsent.contains(id))).collect();
        let mut sent = 0;
        for batch in pending.chunks(ALERT_BATCH_MAX) {
            if let Err(reason) = self.post_alerts(name, &hook, batch).await {
                self.record_error(name, &reason);
                return Err(SubscriptionError::Delivery(reason));
            }
            self.inner.ledgers.record_alerts(name, &alert_ids(batch.iter().copied())).await?;
            sent += batch.len();
        }
        Ok(sent)
    }

    /// Forgets the alerts recorded as sent to `name` that are not in `standing` (the ids of a complete
    /// look); returns how many.
    pub async fn forget_alerts(&self, name: &str, standing: &HashSet<String>) -> Result<usize, SubscriptionError> {
        self.inner.ledgers.forget_alerts(name, standing).await
    }

    /// POSTs one batch of alerts; `Err` says why it did not count as delivered (never the secret).
    async fn post_alerts(
        &self,
        name: &str,
        hook: &crate::definition::Webhook,
        alerts: &[&Value],
    ) -> Result<(), String> {
        let inner = &self.inner;
        inner.config.webhook_hosts.check(&hook.url).map_err(|e| e.to_string())?;
        let delivery_id = uuid::Uuid::new_v4().to_string();
        let body = json!({"subscription": name, "delivery_id": delivery_id, "kind": ALERT_KIND, "alerts": alerts});
        let body = serde_json::to_vec(&body).map_err(|e| format!("encoding the alerts: {e}"))?;
        signed_post(self, hook, &delivery_id, Some(ALERT_KIND), body).await
    }
}
