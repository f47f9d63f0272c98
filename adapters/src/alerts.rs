//! The server's deadline-alert task (API.md v1.1, "Subscriptions for backend services"): every
//! `scan_seconds` of the policy's `alerts`, it reads the `deadline-alerts` view at the current instant
//! (every page, at most [`ALERTS_PER_LOOK_MAX`] alerts) and hands the alerts to each subscription the
//! policy names ([`Subscriptions::send_alerts`]), which sends each alert once and records it. After a
//! complete look it forgets the alerts no longer standing. I/O only: the clocks are the view's, and
//! the view's are `open-complaints`'.

use redress_projections::policy::AlertPolicy;
use redress_projections::{Folds, ProjectionError, Query};
use redress_schemas::Timestamp;
use redress_subscriptions::alerts::alert_ids;
use redress_subscriptions::{SubscriptionError, Subscriptions};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Alerts read in one look; beyond them the next look sends the rest (and nothing is forgotten).
pub const ALERTS_PER_LOOK_MAX: usize = 10_000;
/// Complaints per page of the view.
const PAGE: &str = "1000";

/// Looks for alerts every `policy.scan_seconds` until `stop` turns true.
pub async fn run_alerts(
    projections: Arc<Folds>,
    subscriptions: Subscriptions,
    policy: AlertPolicy,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(policy.scan_seconds));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The last error per subscription: said once when it appears, not at every look.
    let mut failing: HashMap<String, String> = HashMap::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let (standing, complete) = match look(&projections, Timestamp::now()).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, "deadline alerts: cannot read the deadline-alerts view");
                continue;
            }
        };
        let ids: HashSet<String> = alert_ids(&standing).into_iter().collect();
        for name in &policy.subscriptions {
            match subscriptions.send_alerts(name, &standing).await {
                Ok(sent) => {
                    if sent > 0 {
                        tracing::info!(subscription = %name, sent, "deadline alerts sent");
                    }
                    if failing.remove(name).is_some() {
                        tracing::info!(subscription = %name, "deadline alerts are delivered again");
                    }
                }
                Err(error) => {
                    let text = match &error {
                        SubscriptionError::NotFound { .. } => {
                            "the policy names it, but no such subscription exists".into()
                        }
                        other => other.to_string(),
                    };
                    if failing.get(name) != Some(&text) {
                        tracing::warn!(subscription = %name, error = %text, "deadline alerts not delivered; trying again at the next look");
                        failing.insert(name.clone(), text);
                    }
                    continue;
                }
            }
            if complete {
                if let Err(error) = subscriptions.forget_alerts(name, &ids).await {
                    tracing::warn!(subscription = %name, %error, "deadline alerts: cannot forget the alerts past");
                }
            }
        }
    }
}

/// The alerts standing at `now`, and whether that is all of them (every page read within the bound).
pub async fn look(projections: &Folds, now: Timestamp) -> Result<(Vec<Value>, bool), ProjectionError> {
    let mut alerts = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = Query::at(now).with("limit", PAGE);
        if let Some(cursor) = &cursor {
            query = query.with("cursor", cursor);
        }
        let mut page = projections.query("deadline-alerts", &query).await?;
        if let Some(Value::Array(found)) = page.get_mut("alerts").map(Value::take) {
            alerts.extend(found);
        }
        match page["next_cursor"].as_str() {
            None => return Ok((alerts, true)),
            Some(_) if alerts.len() >= ALERTS_PER_LOOK_MAX => return Ok((alerts, false)),
            Some(next) => cursor = Some(next.to_owned()),
        }
    }
}
