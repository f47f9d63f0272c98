//! Webhook delivery: one task per subscription with a webhook. It leases a batch exclusively (no other
//! batch of the subscription is in flight, on any server, so batches arrive in log order), POSTs it
//! signed, acks it on a 2xx, and otherwise nacks it and waits a capped, jittered, doubling backoff.
//! Delivery is at least once: a receiver deduplicates by `event_id`.

use crate::error::SubscriptionError;
use crate::service::{Fetched, Subscriptions};
use hmac::{Hmac, KeyInit, Mac};
use redress_schemas::Timestamp;
use serde_json::json;
use std::time::Duration;

/// The header carrying `sha256=<hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Redress-Signature";
/// The header carrying the delivery's id (a new UUID per POST, retries included).
pub const DELIVERY_HEADER: &str = "X-Redress-Delivery";

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`: the value of [`SIGNATURE_HEADER`].
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for byte in tag.iter() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// The wait before the next attempt after `failures` failures in a row: `min` doubled per failure,
/// capped at `max`, then drawn uniformly from its upper half (jitter, so receivers that come back are
/// not hit by every server at once).
pub fn backoff(failures: u32, min: Duration, max: Duration, unit_random: f64) -> Duration {
    let doubled = min.saturating_mul(1u32 << failures.min(20)).min(max);
    doubled.mul_f64(0.5 + 0.5 * unit_random.clamp(0.0, 1.0))
}

/// Delivers subscription `name` until it is deleted or loses its webhook, or the task is aborted.
pub(crate) async fn deliver(subscriptions: Subscriptions, name: String) {
    let inner = &subscriptions.inner;
    let mut failures = 0u32;
    loop {
        let stored = match subscriptions.stored(&name).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return, // deleted
            Err(error) => {
                failures += 1;
                fail(&subscriptions, &name, failures, &format!("reading the subscription: {error}")).await;
                continue;
            }
        };
        let Some(hook) = stored.definition.webhook.clone() else { return };
        let batch = inner.config.webhook_batch_events.clamp(1, crate::limits::WEBHOOK_BATCH_EVENTS_MAX);
        let fetched = match subscriptions.fetch_leases(&name, batch, Duration::from_secs(1), true).await {
            Ok(fetched) if fetched.events.is_empty() => continue,
            Ok(fetched) => fetched,
            Err(SubscriptionError::NotFound { .. }) => return,
            Err(error) => {
                failures += 1;
                fail(&subscriptions, &name, failures, &format!("reading events: {error}")).await;
                continue;
            }
        };
        match post(&subscriptions, &name, &hook, &fetched).await {
            Ok(()) => {
                failures = 0;
                let positions: Vec<u64> = fetched.events.iter().map(|d| d.event.position.0).collect();
                if let Err(error) = subscriptions.ack(&name, positions).await {
                    // The receiver has the batch; it comes again when the lease ends (at least once).
                    subscriptions.record_error(&name, &format!("acking a delivered batch: {error}"));
                    continue;
                }
                let now = Timestamp::now().unix_nanos();
                // Retried events count too: their latency is what the receiver saw.
                let latencies =
                    fetched.events.iter().map(|d| ((now - d.event.recorded_at.unix_nanos()).max(0) / 1_000_000) as u64);
                subscriptions.record_delivery(&name, latencies, fetched.events.len());
            }
            Err(reason) => {
                let positions: Vec<u64> = fetched.events.iter().map(|d| d.event.position.0).collect();
                // Released at once (parked if that was its last attempt), so the next fetch takes the
                // same events first, in order, after the backoff.
                let reason = match subscriptions.nack(&name, positions, false, Some(fetched.lease_id)).await {
                    Ok(_) => reason,
                    Err(error) => format!("{reason}; releasing the batch: {error}"),
                };
                failures += 1;
                fail(&subscriptions, &name, failures, &reason).await;
            }
        }
    }
}

/// Records `reason` as the subscription's last error and waits the backoff for `failures` failures.
async fn fail(subscriptions: &Subscriptions, name: &str, failures: u32, reason: &str) {
    subscriptions.record_error(name, reason);
    let config = &subscriptions.inner.config;
    tokio::time::sleep(backoff(
        failures,
        config.backoff_min,
        config.backoff_max,
        redress_schemas::rng::Rng::unseeded().unit(),
    ))
    .await;
}

/// POSTs one batch; `Err` says why it did not count as delivered (never the secret).
async fn post(
    subscriptions: &Subscriptions,
    name: &str,
    hook: &crate::definition::Webhook,
    fetched: &Fetched,
) -> Result<(), String> {
    let inner = &subscriptions.inner;
    // Checked again at send time: the allow-list may have been narrowed since the definition was made.
    inner.config.webhook_hosts.check(&hook.url).map_err(|e| e.to_string())?;
    let delivery_id = uuid::Uuid::new_v4().to_string();
    let events: Vec<_> = fetched.events.iter().map(crate::service::Delivery::to_json).collect();
    let body = serde_json::to_vec(&json!({"subscription": name, "delivery_id": delivery_id, "events": events}))
        .map_err(|e| format!("encoding the batch: {e}"))?;
    signed_post(subscriptions, hook, &delivery_id, None, body).await
}

/// POSTs `body` to `hook` signed with its secret, with the delivery id (and `kind`, if any, as
/// `X-Redress-Kind`); `Err` unless the answer is 2xx, saying why (never the URL's secret parts or the
/// secret).
pub(crate) async fn signed_post(
    subscriptions: &Subscriptions,
    hook: &crate::definition::Webhook,
    delivery_id: &str,
    kind: Option<&str>,
    body: Vec<u8>,
) -> Result<(), String> {
    let mut request = subscriptions
        .inner
        .client
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature(hook.secret.expose(), &body))
        .header(DELIVERY_HEADER, delivery_id);
    if let Some(kind) = kind {
        request = request.header(crate::alerts::KIND_HEADER, kind);
    }
    let response =
        request.body(body).send().await.map_err(|e| format!("POST to the webhook failed: {}", e.without_url()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {}", response.status().as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_is_capped_and_jitters_within_its_upper_half() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        assert_eq!(backoff(1, min, max, 1.0), Duration::from_millis(200));
        assert_eq!(backoff(3, min, max, 1.0), Duration::from_millis(800));
        assert_eq!(backoff(3, min, max, 0.0), Duration::from_millis(400));
        assert_eq!(backoff(40, min, max, 1.0), max);
    }
}
