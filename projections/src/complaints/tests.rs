//! Exact answers of the complaints fold's views, given events: deadlines to the nanosecond, sorting,
//! filters, paging, history, repeats and trends, satisfaction figures, and what a checkpoint keeps.

use super::*;
use crate::state_store::{Checkpoint, FoldStore, FoldStores, MemoryFoldStores};
use redress_schemas::{EventId, Hash, Metadata, Position, ProposedEvent, StreamName, Timestamp};
use serde_json::json;
use std::sync::Arc;

/// A complaints fold with its state and storage, fed by hand.
struct Given {
    fold: ComplaintsFold,
    state: ComplaintsState,
    store: Arc<dyn FoldStore>,
    next: u64,
}

impl Given {
    async fn new() -> Given {
        Given::with_resident_max(RESIDENT_RECORDS_MAX).await
    }

    async fn with_resident_max(resident_records_max: usize) -> Given {
        Given::with(SlaPolicy::default(), resident_records_max).await
    }

    async fn with(policy: SlaPolicy, resident_records_max: usize) -> Given {
        let fold = ComplaintsFold { policy, resident_records_max };
        let (_, store) = MemoryFoldStores::default().current("complaints").await.unwrap();
        let state = fold.open(&*store).await.unwrap();
        Given { fold, state, store, next: 0 }
    }

    fn event(&mut self, id: &str, event_type: &str, data: Value, at: &str) -> RecordedEvent {
        self.event_on(StreamName::complaint(id).unwrap(), event_type, data, at)
    }

    fn event_on(&mut self, stream: StreamName, event_type: &str, data: Value, at: &str) -> RecordedEvent {
        let proposed =
            ProposedEvent::from_json(json!({"event_type": event_type, "data": data}), &stream).expect("a valid event");
        let at = Timestamp::parse(at).unwrap();
        self.next += 1;
        RecordedEvent {
            event_id: EventId::new_v7(),
            stream,
            version: 0,
            position: Position(self.next - 1),
            schema_version: 1,
            occurred_at: at,
            recorded_at: at,
            recorded_by: None,
            metadata: Metadata::default(),
            data: proposed.data,
            hash: Hash::GENESIS,
        }
    }

    /// Applies one event of a problem stream.
    async fn apply_problem(&mut self, id: &str, event_type: &str, data: Value, at: &str) -> Result<(), Anomaly> {
        let event = self.event_on(StreamName::new(format!("problem-{id}")).unwrap(), event_type, data, at);
        self.fold.apply(&mut self.state, &event)
    }

    /// Applies one event as the runner does: read the keys it wants, hand them in, apply.
    async fn apply(&mut self, id: &str, event_type: &str, data: Value, at: &str) -> Result<(), Anomaly> {
        self.apply_by(None, id, event_type, data, at).await
    }

    /// [`Given::apply`] of an event the credential `by` appended (v1.1 `recorded_by`).
    async fn apply_by(
        &mut self,
        by: Option<&str>,
        id: &str,
        event_type: &str,
        data: Value,
        at: &str,
    ) -> Result<(), Anomaly> {
        let mut event = self.event(id, event_type, data, at);
        event.recorded_by = by.map(|by| redress_schemas::RecordedBy::new(by).unwrap());
        let mut keys = Vec::new();
        self.fold.wanted(&self.state, &event, &mut keys);
        let values = self.store.get_many(&keys).await.unwrap();
        for (key, value) in keys.into_iter().zip(values) {
            self.fold.provide(&mut self.state, key, value).unwrap();
        }
        self.fold.apply(&mut self.state, &event)
    }

    async fn steps(steps: &[(&str, &str, Value, &str)]) -> Given {
        Given::steps_with(SlaPolicy::default(), steps).await
    }

    async fn steps_with(policy: SlaPolicy, steps: &[(&str, &str, Value, &str)]) -> Given {
        let mut given = Given::with(policy, RESIDENT_RECORDS_MAX).await;
        for (id, event_type, data, at) in steps {
            given.apply(id, event_type, data.clone(), at).await.expect("a valid history");
        }
        given
    }

    /// Writes a checkpoint and lets memory go, as the runner does.
    async fn checkpoint(&mut self) {
        let changes = self.fold.take_changes(&mut self.state).unwrap();
        self.store
            .commit(changes, Checkpoint { version: self.fold.version(), next_position: self.next })
            .await
            .unwrap();
        self.fold.committed(&mut self.state);
    }

    async fn view(&self, view: &str, query: &Query) -> Result<Value, ProjectionError> {
        self.fold.query(&self.state, &*self.store, view, query).await
    }

    async fn ok(&self, view: &str, query: &Query) -> Value {
        self.view(view, query).await.unwrap()
    }
}

fn received(id: &str, customer: &str, category: &str, severity: &str) -> Value {
    json!({"complaint_id": id, "customer_id": customer, "channel": "hotline", "category": category,
           "severity": severity, "description": format!("description of {id}")})
}

fn at(t: &str) -> Query {
    Query::at(Timestamp::parse(t).unwrap())
}

fn ids(answer: &Value, list: &str) -> Vec<String> {
    answer[list].as_array().unwrap().iter().map(|c| c["complaint_id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_acknowledgement_deadline_is_met_at_its_instant_and_missed_one_nanosecond_later() {
    // high: acknowledge within 4 h.
    let g =
        Given::steps(&[("a", "complaint_received", received("a", "K", "delivery", "high"), "2026-01-01T08:00:00Z")])
            .await;
    let on_time = g.ok("open-complaints", &at("2026-01-01T12:00:00Z")).await;
    assert_eq!(on_time["complaints"][0]["overdue"], false);
    assert_eq!(on_time["complaints"][0]["ack_due"], "2026-01-01T12:00:00Z");
    let late = g.ok("open-complaints", &at("2026-01-01T12:00:00.000000001Z")).await;
    assert_eq!(late["complaints"][0]["overdue_reasons"], json!(["acknowledgement"]));
    assert_eq!(late["overdue_count"], 1);
}

#[tokio::test]
async fn an_acknowledgement_stops_the_clock_and_the_resolution_deadline_follows_severity() {
    let g = Given::steps(&[
        ("a", "complaint_received", received("a", "K", "delivery", "critical"), "2026-01-01T08:00:00Z"),
        ("a", "complaint_acknowledged", json!({"via": "phone", "message": "sorry"}), "2026-01-01T09:00:00Z"),
    ])
    .await;
    // Critical: updates every 4 h after the acknowledgement, so by the next morning the update is late too.
    let row = &g.ok("open-complaints", &at("2026-01-02T08:00:00Z")).await["complaints"][0];
    assert_eq!(
        (row["overdue_reasons"].clone(), row["resolution_due"].clone()),
        (json!(["update"]), json!("2026-01-02T08:00:00Z"))
    );
    assert_eq!(row["next_update_due"], "2026-01-01T13:00:00Z");
    let row = &g.ok("open-complaints", &at("2026-01-02T08:00:01Z")).await["complaints"][0];
    assert_eq!(row["overdue_reasons"], json!(["resolution", "update"]));
}

#[tokio::test]
async fn a_promise_is_kept_apart_from_the_service_level_and_missing_it_is_its_own_reason() {
    let g = Given::steps(&[
        ("a", "complaint_received", received("a", "K", "delivery", "normal"), "2026-01-01T00:00:00Z"),
        ("a", "complaint_acknowledged", json!({"via": "phone", "message": "sorry"}), "2026-01-01T01:00:00Z"),
        (
            "a",
            "commitment_made",
            json!({"what": "call back", "due_at": "2026-01-02T00:00:00Z"}),
            "2026-01-01T02:00:00Z",
        ),
    ])
    .await;
    let row = &g.ok("open-complaints", &at("2026-01-03T00:00:00Z")).await["complaints"][0];
    assert_eq!(row["resolution_due"], "2026-01-08T00:00:00Z", "7 days from receipt, whatever was promised");
    assert_eq!(row["promised_due"], "2026-01-02T00:00:00Z");
    assert_eq!(row["overdue_reasons"], json!(["promise"]));
}

#[tokio::test]
async fn a_delivery_meets_the_deadline_and_a_reopen_makes_it_count_again() {
    let mut g = Given::new().await;
    for (event_type, data, t) in [
        ("complaint_received", received("a", "K", "delivery", "critical"), "2026-01-01T00:00:00Z"),
        ("complaint_acknowledged", json!({"via": "sms", "message": "m"}), "2026-01-01T00:10:00Z"),
        ("solution_offered", json!({"solution_id": "s", "description": "d"}), "2026-01-01T01:00:00Z"),
        ("solution_accepted", json!({"solution_id": "s"}), "2026-01-01T02:00:00Z"),
        ("solution_delivered", json!({"solution_id": "s", "note": "n"}), "2026-01-01T03:00:00Z"),
    ] {
        g.apply("a", event_type, data, t).await.unwrap();
    }
    let row = &g.ok("open-complaints", &at("2026-01-03T00:00:00Z")).await["complaints"][0];
    assert_eq!((row["status"].clone(), row["overdue"].clone()), (json!("resolved"), json!(false)));
    g.apply("a", "complaint_reopened", json!({"reason": "broke again"}), "2026-01-02T10:00:00Z").await.unwrap();
    let row = &g.ok("open-complaints", &at("2026-01-03T00:00:00Z")).await["complaints"][0];
    // Reopened: the resolution clock counts again, and so does the update clock (from the delivery, the
    // last time the customer heard from the desk).
    assert_eq!(
        (row["status"].clone(), row["overdue_reasons"].clone()),
        (json!("in_progress"), json!(["resolution", "update"]))
    );
    assert_eq!(row["next_update_due"], "2026-01-01T07:00:00Z");
}

#[tokio::test]
async fn open_complaints_sort_by_earliest_unmet_deadline_filter_page_and_hide_closed_ones() {
    let g = Given::steps(&[
        ("low", "complaint_received", received("low", "K1", "billing", "low"), "2026-01-01T00:00:00Z"),
        ("crit", "complaint_received", received("crit", "K2", "delivery", "critical"), "2026-01-01T06:00:00Z"),
        ("gone", "complaint_received", received("gone", "K3", "delivery", "high"), "2026-01-01T01:00:00Z"),
        ("gone", "complaint_closed", json!({"outcome": "withdrawn"}), "2026-01-01T02:00:00Z"),
        (
            "crit",
            "cause_analyzed",
            json!({"root_cause": "courier", "responsible_department": "logistics", "founded": true}),
            "2026-01-01T07:00:00Z",
        ),
        ("hi", "complaint_received", received("hi", "K4", "billing", "high"), "2026-01-01T05:00:00Z"),
    ])
    .await;
    let q = || at("2026-01-01T07:30:00Z");
    let all = g.ok("open-complaints", &q()).await;
    assert_eq!(ids(&all, "complaints"), ["crit", "hi", "low"], "08:00 and 09:00 ack deadlines before 48 h: {all}");
    assert_eq!((all["count"].clone(), all["next_cursor"].clone()), (json!(3), json!(null)));
    let only = |k: &str, v: &str| q().with(k, v);
    assert_eq!(ids(&g.ok("open-complaints", &only("department", "logistics")).await, "complaints"), ["crit"]);
    assert_eq!(ids(&g.ok("open-complaints", &only("category", "billing")).await, "complaints"), ["hi", "low"]);
    assert_eq!(ids(&g.ok("open-complaints", &only("status", "investigating")).await, "complaints"), ["crit"]);
    assert_eq!(ids(&g.ok("open-complaints", &only("severity", "high")).await, "complaints"), ["hi"]);
    assert_eq!(
        ids(&g.ok("open-complaints", &only("category", "never-seen")).await, "complaints"),
        Vec::<String>::new()
    );
    let overdue = g.ok("open-complaints", &at("2026-01-01T08:30:00Z").with("overdue", "true")).await;
    assert_eq!(ids(&overdue, "complaints"), ["crit"]);
    // Two pages of two: the cursor continues where the first page ended, the last page has no cursor.
    let first = g.ok("open-complaints", &q().with("limit", "2")).await;
    assert_eq!((ids(&first, "complaints"), first["count"].clone()), (vec!["crit".to_owned(), "hi".into()], json!(3)));
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let second = g.ok("open-complaints", &q().with("limit", "2").with("cursor", &cursor)).await;
    assert_eq!((ids(&second, "complaints"), second["next_cursor"].clone()), (vec!["low".to_owned()], json!(null)));
    for bad in [q().with("status", "lost"), q().with("limit", "0"), q().with("limit", "1001"), q().with("cursor", "x")]
    {
        assert!(matches!(g.view("open-complaints", &bad).await, Err(ProjectionError::BadQuery(_))), "{:?}", bad.params);
    }
}

#[tokio::test]
async fn customer_history_lists_a_customers_complaints_newest_first_with_outcomes_and_pages() {
    let g = Given::steps(&[
        ("c1", "complaint_received", received("c1", "K9", "delivery", "normal"), "2026-01-01T00:00:00Z"),
        ("c1", "complaint_closed", json!({"outcome": "refunded"}), "2026-01-03T00:00:00Z"),
        ("c2", "complaint_received", received("c2", "K9", "repair", "normal"), "2026-02-01T00:00:00Z"),
        ("x", "complaint_received", received("x", "K1", "repair", "normal"), "2026-02-02T00:00:00Z"),
        ("c3", "complaint_received", received("c3", "K9", "repair", "normal"), "2026-02-03T00:00:00Z"),
    ])
    .await;
    let q = || at("2026-03-01T00:00:00Z").with("customer_id", "K9");
    let answer = g.ok("customer-history", &q()).await;
    assert_eq!(ids(&answer, "complaints"), ["c3", "c2", "c1"]);
    assert_eq!(
        (answer["complaints"][2]["outcome"].clone(), answer["open_count"].clone()),
        (json!("refunded"), json!(2))
    );
    assert_eq!(answer["complaints"][0]["description"], "description of c3", "texts come from the full state");
    assert_eq!(answer["complaints"][0]["description_truncated"], false);
    let first = g.ok("customer-history", &q().with("limit", "2")).await;
    assert_eq!(ids(&first, "complaints"), ["c3", "c2"]);
    let second =
        g.ok("customer-history", &q().with("limit", "2").with("cursor", first["next_cursor"].as_str().unwrap())).await;
    assert_eq!((ids(&second, "complaints"), second["next_cursor"].clone()), (vec!["c1".to_owned()], json!(null)));
    assert!(g.view("customer-history", &at("2026-03-01T00:00:00Z")).await.is_err(), "customer_id is required");
}

#[tokio::test]
async fn a_history_row_carries_the_start_of_a_long_description_and_the_complaint_view_all_of_it() {
    let mut data = received("long", "K5", "repair", "normal");
    let text = "长".repeat(views::DESCRIPTION_PREVIEW_CHARS_MAX + 10);
    data["description"] = json!(text);
    let g = Given::steps(&[("long", "complaint_received", data, "2026-01-01T00:00:00Z")]).await;
    let history = g.ok("customer-history", &at("2026-02-01T00:00:00Z").with("customer_id", "K5")).await;
    let row = &history["complaints"][0];
    assert_eq!(row["description"].as_str().unwrap().chars().count(), views::DESCRIPTION_PREVIEW_CHARS_MAX);
    assert_eq!(row["description_truncated"], true);
    let one = g.ok("complaint", &at("2026-02-01T00:00:00Z").with("complaint_id", "long")).await;
    assert_eq!(one["description"], json!(text), "the complaint view has the whole text");
}

#[tokio::test]
async fn repeat_issues_chain_within_the_window_rank_by_size_and_report_causes_reopens_and_persisting() {
    let cause = json!({"root_cause": "bad batch", "responsible_department": "product_engineering", "founded": true});
    let g = Given::steps(&[
        ("r1", "complaint_received", received("r1", "K1", "product_quality", "normal"), "2026-01-01T00:00:00Z"),
        ("r1", "cause_analyzed", cause.clone(), "2026-01-01T01:00:00Z"),
        ("r2", "complaint_received", received("r2", "K1", "product_quality", "normal"), "2026-03-01T00:00:00Z"),
        ("r2", "cause_analyzed", cause.clone(), "2026-03-01T01:00:00Z"),
        ("r3", "complaint_received", received("r3", "K1", "product_quality", "normal"), "2026-09-01T00:00:00Z"),
        ("t1", "complaint_received", received("t1", "K3", "billing", "normal"), "2026-08-01T00:00:00Z"),
        ("t2", "complaint_received", received("t2", "K3", "billing", "normal"), "2026-08-02T00:00:00Z"),
        ("t3", "complaint_received", received("t3", "K3", "billing", "normal"), "2026-08-03T00:00:00Z"),
        ("o", "complaint_received", received("o", "K2", "billing", "normal"), "2026-03-02T00:00:00Z"),
        ("o", "solution_offered", json!({"solution_id": "s", "description": "refund"}), "2026-03-02T01:00:00Z"),
        ("o", "solution_accepted", json!({"solution_id": "s"}), "2026-03-02T02:00:00Z"),
        ("o", "solution_delivered", json!({"solution_id": "s", "note": "paid"}), "2026-03-03T00:00:00Z"),
        ("o", "resolution_confirmed", json!({"satisfied": true}), "2026-03-03T01:00:00Z"),
        (
            "o",
            "revisit_done",
            json!({"via": "phone", "satisfaction": 2, "issue_persists": true}),
            "2026-03-10T00:00:00Z",
        ),
        ("o", "complaint_reopened", json!({"reason": "charged again"}), "2026-03-11T00:00:00Z"),
    ])
    .await;
    let answer = g.ok("repeat-issues", &at("2026-09-02T00:00:00Z")).await;
    // K3's three billing complaints rank before K1's chain of two; r3 comes 184 days after r2 (outside 90).
    assert_eq!(
        answer["repeat_complaints"],
        json!([
            {"customer_id": "K3", "category": "billing", "count": 3, "complaint_ids": ["t1", "t2", "t3"]},
            {"customer_id": "K1", "category": "product_quality", "count": 2, "complaint_ids": ["r1", "r2"]},
        ])
    );
    assert_eq!(answer["root_causes"][0]["count"], 2);
    assert_eq!(answer["root_causes"][0]["trend"], "steady", "none in the last two windows: {answer}");
    assert_eq!((answer["reopen_rate"].clone(), answer["persisting"].clone()), (json!(1.0), json!(["o"])));
    let wide = g.ok("repeat-issues", &at("2026-09-02T00:00:00Z").with("window_days", "200")).await;
    assert_eq!(wide["repeat_complaints"][0]["complaint_ids"], json!(["r1", "r2", "r3"]));
    // As of a past instant a chain holds only what had arrived by then (r3 and t3 had not).
    let past = g.ok("repeat-issues", &at("2026-08-02T12:00:00Z").with("window_days", "200")).await;
    let chains: Vec<&Value> =
        past["repeat_complaints"].as_array().unwrap().iter().map(|c| &c["complaint_ids"]).collect();
    assert_eq!(chains, [&json!(["r1", "r2"]), &json!(["t1", "t2"])], "{past}");
    let paged = g.ok("repeat-issues", &at("2026-09-02T00:00:00Z").with("limit", "1")).await;
    assert_eq!((paged["count"].clone(), paged["repeat_complaints"][0]["customer_id"].clone()), (json!(2), json!("K3")));
    let next = at("2026-09-02T00:00:00Z").with("limit", "1").with("cursor", paged["next_cursor"].as_str().unwrap());
    let second = g.ok("repeat-issues", &next).await;
    assert_eq!(
        (second["repeat_complaints"][0]["customer_id"].clone(), second["next_cursor"].clone()),
        (json!("K1"), json!(null))
    );
    // Two in the last window and none before is not a meaningful rise; twelve against one is.
    let two = g.ok("repeat-issues", &at("2026-03-05T00:00:00Z")).await;
    assert_eq!(two["root_causes"][0]["trend"], "steady", "{two}");
    assert_eq!((views::trend(12, 1), views::trend(1, 12), views::trend(5, 3)), ("rising", "falling", "steady"));
}

#[tokio::test]
async fn satisfaction_reports_grades_times_and_deadlines_met_per_group() {
    let analysed = json!({"root_cause": "part", "responsible_department": "repair_center", "founded": true});
    let g = Given::steps(&[
        ("s1", "complaint_received", received("s1", "K1", "repair", "high"), "2026-01-01T00:00:00Z"),
        ("s1", "complaint_acknowledged", json!({"via": "sms", "message": "ok"}), "2026-01-01T02:00:00Z"),
        ("s1", "cause_analyzed", analysed.clone(), "2026-01-01T03:00:00Z"),
        ("s1", "solution_offered", json!({"solution_id": "a", "description": "fix"}), "2026-01-01T04:00:00Z"),
        ("s1", "solution_accepted", json!({"solution_id": "a"}), "2026-01-01T05:00:00Z"),
        ("s1", "solution_delivered", json!({"solution_id": "a", "note": "ok"}), "2026-01-02T00:00:00Z"),
        ("s1", "resolution_confirmed", json!({"satisfied": true}), "2026-01-02T01:00:00Z"),
        (
            "s1",
            "revisit_done",
            json!({"via": "phone", "satisfaction": 5, "issue_persists": false}),
            "2026-01-09T00:00:00Z",
        ),
        ("s2", "complaint_received", received("s2", "K2", "repair", "high"), "2026-01-01T00:00:00Z"),
        ("s2", "complaint_acknowledged", json!({"via": "sms", "message": "late"}), "2026-01-01T06:00:00Z"),
        ("s2", "cause_analyzed", analysed, "2026-01-01T07:00:00Z"),
    ])
    .await;
    let answer = g.ok("satisfaction", &at("2026-02-01T00:00:00Z")).await;
    let group = &answer["groups"][0];
    assert_eq!(group["department"], "repair_center");
    assert_eq!(
        (group["complaints"].clone(), group["revisits"].clone(), group["share_satisfied"].clone()),
        (json!(2), json!(1), json!(1.0))
    );
    assert_eq!(group["hours_to_acknowledge"], json!({"p50": 6.0, "p90": 6.0}), "2 h and 6 h; nearest-rank p50 of two");
    assert_eq!(group["hours_to_resolve"], json!({"p50": 24.0, "p90": 24.0}));
    assert_eq!(group["acknowledgement_deadlines_met"], 0.5, "s2 was acknowledged after 4 h");
    assert_eq!(group["resolution_deadlines_met"], 0.5, "s1 in 24 h of 72; s2 undelivered past its 72 h");
    // Before s2's 72 h passed, only s1's delivery is judged.
    let early = g.ok("satisfaction", &at("2026-01-02T12:00:00Z")).await;
    assert_eq!(early["groups"][0]["resolution_deadlines_met"], 1.0);
    let by_channel = g.ok("satisfaction", &at("2026-02-01T00:00:00Z").with("group_by", "channel")).await;
    assert_eq!(by_channel["groups"][0]["channel"], "hotline");
    assert!(g.view("satisfaction", &at("2026-02-01T00:00:00Z").with("group_by", "mood")).await.is_err());
}

#[tokio::test]
async fn an_event_the_rules_refuse_is_skipped_as_an_anomaly_and_the_fold_goes_on() {
    let mut g = Given::new().await;
    // A progress update before any receipt (history imported from an older store, or a replay by occurred_at).
    let refused = g
        .apply("late", "progress_updated", json!({"note": "n", "customer_informed": false}), "2026-01-01T00:00:00Z")
        .await;
    assert!(refused.is_err_and(|a| a.0.contains("progress_updated")));
    g.apply("late", "complaint_received", received("late", "K", "delivery", "low"), "2026-01-02T00:00:00Z")
        .await
        .unwrap();
    let answer = g.ok("open-complaints", &at("2026-01-02T01:00:00Z")).await;
    assert_eq!(ids(&answer, "complaints"), ["late"]);
}

#[tokio::test]
async fn a_checkpoint_writes_only_what_changed_and_a_reopened_fold_answers_the_same() {
    let mut g = Given::with_resident_max(2).await;
    for i in 0..10 {
        let id = format!("k{i}");
        g.apply(
            &id,
            "complaint_received",
            received(&id, &format!("K{}", i % 3), "repair", "normal"),
            "2026-01-01T00:00:00Z",
        )
        .await
        .unwrap();
    }
    let changes = g.fold.take_changes(&mut g.state).unwrap();
    assert_eq!(changes.len(), 20, "a full state and a summary per new complaint");
    g.store.commit(changes, Checkpoint { version: g.fold.version(), next_position: g.next }).await.unwrap();
    g.fold.committed(&mut g.state);
    assert!(g.state.resident_records() <= 2, "unchanged full states leave memory: {}", g.state.resident_records());
    g.apply("k3", "complaint_acknowledged", json!({"via": "sms", "message": "m"}), "2026-01-01T01:00:00Z")
        .await
        .unwrap();
    let changes = g.fold.take_changes(&mut g.state).unwrap();
    let keys: Vec<Vec<u8>> = changes.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys.len(), 2, "one event: its complaint's state and summary only");
    assert!(keys.contains(&b"ck3".to_vec()) && keys.contains(&b"sk3".to_vec()));
    g.store.commit(changes, Checkpoint { version: g.fold.version(), next_position: g.next }).await.unwrap();
    g.fold.committed(&mut g.state);

    let q = at("2026-01-02T00:00:00Z");
    let reopened = ComplaintsState { ..g.fold.open(&*g.store).await.unwrap() };
    for (view, query) in [
        ("open-complaints", q.clone()),
        ("customer-history", q.clone().with("customer_id", "K0")),
        ("satisfaction", q.clone()),
        ("repeat-issues", q.clone()),
        ("complaint", q.clone().with("complaint_id", "k3")),
    ] {
        let before = g.ok(view, &query).await;
        let after = g.fold.query(&reopened, &*g.store, view, &query).await.unwrap();
        assert_eq!(before, after, "{view}: the reopened fold answers as the live one");
    }
    g.checkpoint().await;
}

// ---------------------------------------------------------------------------------------------
// The desk (v1.1): owners, waiting, updates, calendars, needs-attention.

fn ack() -> Value {
    json!({"via": "phone", "message": "sorry"})
}

#[tokio::test]
async fn the_latest_assignment_owns_a_complaint_and_the_desk_filters_and_groups_by_it() {
    let g = Given::steps(&[
        ("a", "complaint_received", received("a", "K1", "billing", "normal"), "2026-01-01T00:00:00Z"),
        ("a", "complaint_assigned", json!({"assignee": "agent-li", "team": "billing"}), "2026-01-01T00:05:00Z"),
        ("a", "complaint_assigned", json!({"assignee": "agent-wang", "team": "key-accounts"}), "2026-01-01T01:00:00Z"),
        ("b", "complaint_received", received("b", "K2", "billing", "normal"), "2026-01-02T00:00:00Z"),
        ("b", "complaint_assigned", json!({"assignee": "agent-li"}), "2026-01-02T00:05:00Z"),
        ("c", "complaint_received", received("c", "K3", "billing", "normal"), "2026-02-01T00:00:00Z"),
    ])
    .await;
    let q = at("2026-02-01T01:00:00Z");
    let all = g.ok("open-complaints", &q).await;
    let row =
        |id: &str| all["complaints"].as_array().unwrap().iter().find(|r| r["complaint_id"] == id).unwrap().clone();
    assert_eq!(
        (row("a")["owner"].clone(), row("a")["team"].clone()),
        (json!("agent-wang"), json!("key-accounts")),
        "a transfer"
    );
    assert_eq!((row("b")["owner"].clone(), row("b")["team"].clone()), (json!("agent-li"), Value::Null));
    assert_eq!(row("c")["owner"], Value::Null);
    assert_eq!(ids(&g.ok("open-complaints", &q.clone().with("owner", "agent-li")).await, "complaints"), ["b"]);
    assert_eq!(ids(&g.ok("open-complaints", &q.clone().with("team", "key-accounts")).await, "complaints"), ["a"]);
    assert_eq!(g.ok("open-complaints", &q.clone().with("owner", "nobody")).await["count"], 0);
    let by_owner = g.ok("satisfaction", &q.clone().with("group_by", "owner")).await;
    let owners: Vec<(String, u64)> = by_owner["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["owner"].as_str().unwrap().to_owned(), r["complaints"].as_u64().unwrap()))
        .collect();
    assert_eq!(owners, [("agent-li".to_owned(), 1), ("agent-wang".to_owned(), 1), ("unassigned".to_owned(), 1)]);
    let team = g.ok("satisfaction", &q.clone().with("group_by", "team")).await;
    assert_eq!(team["groups"].as_array().unwrap().len(), 2, "key-accounts and unassigned: {team}");
    // A period counts the complaints received in it.
    let january =
        q.clone().with("group_by", "owner").with("from", "2026-01-01T00:00:00Z").with("to", "2026-02-01T00:00:00Z");
    let january = g.ok("satisfaction", &january).await;
    assert_eq!(january["groups"].as_array().unwrap().len(), 2, "c arrived in February: {january}");
    let empty = q.clone().with("from", "2026-02-01T00:00:00Z").with("to", "2026-01-01T00:00:00Z");
    assert_eq!(g.ok("satisfaction", &empty).await["groups"], json!([]), "to before from: an empty period");
    let bad = g.view("satisfaction", &q.clone().with("from", "last tuesday")).await;
    assert!(matches!(bad, Err(ProjectionError::BadQuery(_))));
}

#[tokio::test]
async fn who_recorded_the_receipt_groups_satisfaction_and_filters_the_desk_views_and_survives_a_reopen() {
    let mut g = Given::new().await;
    let steps = [
        (Some("publisher:web-portal"), "a", "complaint_received", received("a", "K1", "billing", "normal")),
        // Later events by other credentials do not change who recorded the receipt.
        (Some("admin:lin-supervisor"), "a", "complaint_acknowledged", ack()),
        (Some("publisher:call-centre"), "b", "complaint_received", received("b", "K2", "billing", "normal")),
        (Some("publisher:web-portal"), "c", "complaint_received", received("c", "K3", "billing", "normal")),
        // Written before v1.1: no identity.
        (None, "d", "complaint_received", received("d", "K4", "billing", "normal")),
    ];
    for (by, id, event_type, data) in steps {
        g.apply_by(by, id, event_type, data, "2026-01-01T00:00:00Z").await.unwrap();
    }
    g.apply_by(Some("publisher:call-centre"), "c", "complaint_acknowledged", ack(), "2026-01-01T00:10:00Z")
        .await
        .unwrap();
    let q = at("2026-01-03T00:00:00Z");
    let groups = |answer: &Value| -> Vec<(String, u64)> {
        answer["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["recorded_by"].as_str().unwrap().to_owned(), r["complaints"].as_u64().unwrap()))
            .collect()
    };
    let by = g.ok("satisfaction", &q.clone().with("group_by", "recorded_by")).await;
    assert_eq!(by["group_by"], "recorded_by");
    let expected =
        [("publisher:call-centre".to_owned(), 1), ("publisher:web-portal".to_owned(), 2), ("unrecorded".to_owned(), 1)];
    assert_eq!(groups(&by), expected);
    let web = q.clone().with("recorded_by", "publisher:web-portal");
    assert_eq!(ids(&g.ok("open-complaints", &web).await, "complaints"), ["a", "c"]);
    let all = g.ok("open-complaints", &q).await;
    let row = all["complaints"].as_array().unwrap().iter().find(|r| r["complaint_id"] == "d").unwrap().clone();
    assert_eq!(row["recorded_by"], Value::Null, "no identity before v1.1");
    // b was never acknowledged (due in 24 h): it needs attention, and it is the call centre's only one
    // (c was acknowledged by the call centre, but received through the web portal).
    let call_centre = q.clone().with("recorded_by", "publisher:call-centre");
    assert_eq!(ids(&g.ok("needs-attention", &call_centre).await, "complaints"), ["b"]);
    assert_eq!(g.ok("open-complaints", &q.clone().with("recorded_by", "nobody")).await["count"], 0);

    g.checkpoint().await;
    let reopened = g.fold.open(&*g.store).await.unwrap();
    let again = g.fold.query(&reopened, &*g.store, "satisfaction", &q.clone().with("group_by", "recorded_by")).await;
    assert_eq!(groups(&again.unwrap()), expected, "kept in the stored summaries");
    let bad = g.view("satisfaction", &q.clone().with("group_by", "mood")).await;
    assert!(matches!(bad, Err(ProjectionError::BadQuery(ref m)) if m.contains("recorded_by")), "{bad:?}");
}

#[tokio::test]
async fn waiting_on_the_customer_stops_every_clock_and_the_wait_moves_the_deadlines() {
    // normal: acknowledge 24 h, resolve 7 days, update every 72 h.
    let steps = [
        ("a", "complaint_received", received("a", "K", "repair", "normal"), "2026-01-01T00:00:00Z"),
        ("a", "complaint_acknowledged", ack(), "2026-01-01T01:00:00Z"),
        ("a", "waiting_on_customer", json!({"reason": "which serial number?"}), "2026-01-02T00:00:00Z"),
    ];
    let g = Given::steps(&steps).await;
    // Still waiting ten days later: nothing is overdue, the deadlines are where they would be if the
    // customer answered now.
    let row = &g.ok("open-complaints", &at("2026-01-12T00:00:00Z")).await["complaints"][0];
    assert_eq!(row["waiting_on_customer"], true);
    assert_eq!(row["overdue_reasons"], json!([]));
    assert_eq!(row["resolution_due"], "2026-01-18T00:00:00Z", "6 days of the 7 left after the wait");
    assert_eq!(g.ok("open-complaints", &at("2026-01-12T00:00:00Z").with("waiting", "true")).await["count"], 1);
    assert_eq!(g.ok("open-complaints", &at("2026-01-12T00:00:00Z").with("waiting", "false")).await["count"], 0);
    let mut steps = steps.to_vec();
    steps.push(("a", "customer_responded", json!({"note": "SN-123"}), "2026-01-05T00:00:00Z"));
    let g = Given::steps(&steps).await;
    let row = &g.ok("open-complaints", &at("2026-01-06T00:00:00Z")).await["complaints"][0];
    assert_eq!(row["waiting_on_customer"], false);
    assert_eq!(row["resolution_due"], "2026-01-11T00:00:00Z", "3 days of waiting added to the 7");
    // The last contact was the acknowledgement (01:00): 72 h of updates, of which 23 ran before the wait.
    assert_eq!(row["last_customer_contact_at"], "2026-01-01T01:00:00Z");
    assert_eq!(row["next_update_due"], "2026-01-07T01:00:00Z");
    let row = &g.ok("open-complaints", &at("2026-01-07T01:00:01Z")).await["complaints"][0];
    assert_eq!(row["overdue_reasons"], json!(["update"]));
}

#[tokio::test]
async fn low_severity_runs_on_business_hours_when_the_policy_says_so() {
    let policy = SlaPolicy::from_json(
        r#"{"critical": {"acknowledge_within_hours": 2, "resolve_within_hours": 24},
            "high": {"acknowledge_within_hours": 4, "resolve_within_hours": 72},
            "normal": {"acknowledge_within_hours": 24, "resolve_within_hours": 168},
            "low": {"acknowledge_within_hours": 8, "resolve_within_hours": 40, "business_hours": true},
            "calendar": {"timezone": "Asia/Shanghai", "working_days": ["mon","tue","wed","thu","fri"],
                         "opens": "09:00", "closes": "18:00", "holidays": []}}"#,
    )
    .unwrap();
    // Friday 2026-11-27 17:00 in Shanghai: one working hour that day, then Monday.
    let g = Given::steps_with(
        policy,
        &[
            ("low", "complaint_received", received("low", "K", "repair", "low"), "2026-11-27T09:00:00Z"),
            ("high", "complaint_received", received("high", "K", "repair", "high"), "2026-11-27T09:00:00Z"),
        ],
    )
    .await;
    let answer = g.ok("open-complaints", &at("2026-11-28T09:00:00Z")).await;
    let row =
        |id: &str| answer["complaints"].as_array().unwrap().iter().find(|r| r["complaint_id"] == id).unwrap().clone();
    // 8 working hours: 1 on Friday, 7 on Monday (09:00-16:00 local = 08:00 UTC).
    assert_eq!(row("low")["ack_due"], "2026-11-30T08:00:00Z");
    assert_eq!(row("low")["overdue"], false, "a weekend is not late");
    // 40 working hours: 1 + 4 × 9 + 3 (Friday 12:00 local).
    assert_eq!(row("low")["resolution_due"], "2026-12-04T04:00:00Z");
    // High severity runs around the clock: 4 h.
    assert_eq!(row("high")["ack_due"], "2026-11-27T13:00:00Z");
    assert_eq!(row("high")["overdue_reasons"], json!(["acknowledgement"]));
}

#[tokio::test]
async fn needs_attention_lists_each_complaint_with_why() {
    let key = |id: &str| {
        json!({"complaint_id": id, "customer_id": "K-key", "channel": "hotline", "category": "repair",
               "severity": "normal", "description": "screen broken", "customer_tier": "key"})
    };
    let watched = json!({"complaint_id": "w", "customer_id": "K-w", "channel": "web", "category": "repair",
        "severity": "low", "description": "再不处理我就打12315投诉", "customer_tier": "standard"});
    let mut g = Given::new().await;
    let steps = [
        // late: unacknowledged critical, 3 h old.
        ("late", "complaint_received", received("late", "K1", "repair", "critical"), "2026-03-01T00:00:00Z"),
        // soon: acknowledged critical; update every 4 h, lead 4 h: due at 05:00, listed from 01:00.
        ("soon", "complaint_received", received("soon", "K2", "repair", "critical"), "2026-03-01T01:00:00Z"),
        ("soon", "complaint_acknowledged", ack(), "2026-03-01T01:00:00Z"),
        // calm: acknowledged low, nothing due for days.
        ("calm", "complaint_received", received("calm", "K3", "repair", "low"), "2026-03-01T00:00:00Z"),
        ("calm", "complaint_acknowledged", ack(), "2026-03-01T00:30:00Z"),
        // key: a key customer, acknowledged, no apology visit; visited: the same with a visit.
        ("key", "complaint_received", key("key"), "2026-03-01T00:00:00Z"),
        ("key", "complaint_acknowledged", ack(), "2026-03-01T00:10:00Z"),
        ("visited", "complaint_received", key("visited"), "2026-03-01T00:00:00Z"),
        ("visited", "complaint_acknowledged", ack(), "2026-03-01T00:10:00Z"),
        ("visited", "apology_visit_made", json!({"visitor": "regional director"}), "2026-03-01T00:20:00Z"),
        ("w", "complaint_received", watched, "2026-03-01T00:00:00Z"),
        ("w", "complaint_acknowledged", ack(), "2026-03-01T00:10:00Z"),
    ];
    for (id, event_type, data, t) in steps {
        g.apply(id, event_type, data, t).await.unwrap();
    }
    // persists: resolved, confirmed, closed; a revisit finds the issue still there; never reopened.
    for (event_type, data, t) in [
        ("complaint_received", received("persists", "K4", "repair", "normal"), "2026-02-01T00:00:00Z"),
        ("complaint_acknowledged", ack(), "2026-02-01T00:10:00Z"),
        ("solution_offered", json!({"solution_id": "s", "description": "new part"}), "2026-02-01T01:00:00Z"),
        ("solution_accepted", json!({"solution_id": "s"}), "2026-02-01T02:00:00Z"),
        ("solution_delivered", json!({"solution_id": "s", "note": "fitted"}), "2026-02-02T00:00:00Z"),
        ("resolution_confirmed", json!({"satisfied": true}), "2026-02-02T01:00:00Z"),
        ("complaint_closed", json!({"outcome": "resolved"}), "2026-02-03T00:00:00Z"),
        ("revisit_done", json!({"via": "phone", "satisfaction": 2, "issue_persists": true}), "2026-02-20T00:00:00Z"),
    ] {
        g.apply("persists", event_type, data, t).await.unwrap();
    }
    let q = at("2026-03-01T03:00:00Z");
    let answer = g.ok("needs-attention", &q).await;
    let reasons: Vec<(String, Value)> = answer["complaints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["complaint_id"].as_str().unwrap().to_owned(), r["reasons"].clone()))
        .collect();
    let of = |id: &str| reasons.iter().find(|(i, _)| i == id).map(|(_, r)| r.clone());
    assert_eq!(of("late"), Some(json!(["overdue"])));
    assert_eq!(of("soon"), Some(json!(["update_due_soon"])));
    assert_eq!(of("key"), Some(json!(["key_customer_not_visited"])));
    assert_eq!(of("persists"), Some(json!(["issue_persists"])));
    assert_eq!(of("w"), Some(json!(["watch_word"])));
    assert_eq!(
        answer["complaints"].as_array().unwrap().iter().find(|r| r["complaint_id"] == "w").unwrap()["watch_word"],
        "12315"
    );
    assert_eq!((of("calm"), of("visited")), (None, None), "nothing to see: {reasons:?}");
    assert_eq!(answer["count"], 5);
    assert_eq!(answer["counts"]["overdue"], 1);
    // One reason, and pages of two that add up to the whole list.
    assert_eq!(ids(&g.ok("needs-attention", &q.clone().with("reason", "watch_word")).await, "complaints"), ["w"]);
    let first = g.ok("needs-attention", &q.clone().with("limit", "2")).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = g.ok("needs-attention", &q.clone().with("limit", "2").with("cursor", &cursor)).await;
    let third = g
        .ok("needs-attention", &q.clone().with("limit", "2").with("cursor", second["next_cursor"].as_str().unwrap()))
        .await;
    assert_eq!(third["next_cursor"], Value::Null);
    let paged: Vec<String> = [first, second, third].iter().flat_map(|a| ids(a, "complaints")).collect();
    assert_eq!(paged, ids(&answer, "complaints"));
    // A reopen after the revisit takes it off the list.
    g.apply("persists", "complaint_reopened", json!({"reason": "still broken"}), "2026-02-21T00:00:00Z").await.unwrap();
    let answer = g.ok("needs-attention", &q.clone().with("reason", "issue_persists")).await;
    assert_eq!(answer["count"], 0, "{answer}");
    assert!(matches!(
        g.view("needs-attention", &q.clone().with("reason", "bored")).await,
        Err(ProjectionError::BadQuery(_))
    ));
}

#[tokio::test]
async fn a_problem_counts_the_complaints_that_came_after_its_corrective_action() {
    let mut g = Given::new().await;
    let identified = json!({"problem_id": "P1", "title": "couriers drop parcels", "category": "delivery",
        "root_cause": "rough handling", "responsible_department": "logistics"});
    g.apply_problem("P1", "problem_identified", identified.clone(), "2026-01-01T00:00:00Z").await.unwrap();
    let mut second = identified.clone();
    second["problem_id"] = json!("P2");
    g.apply_problem("P2", "problem_identified", second, "2026-01-01T00:00:00Z").await.unwrap();
    let link = |problem: &str| json!({"target": format!("problem-{problem}"), "relation": "same_problem"});
    // P1: two complaints before its corrective action (2026-02-01), one after; P2: one, no action.
    for (id, received_at, problem) in [
        ("c1", "2026-01-10T00:00:00Z", "P1"),
        ("c2", "2026-01-20T00:00:00Z", "P1"),
        ("c3", "2026-03-01T00:00:00Z", "P1"),
        ("c4", "2026-01-05T00:00:00Z", "P2"),
    ] {
        g.apply(id, "complaint_received", received(id, "K", "delivery", "normal"), received_at).await.unwrap();
        g.apply(id, "complaint_linked", link(problem), received_at).await.unwrap();
    }
    // A duplicate link and a link of another kind change nothing.
    g.apply("c3", "complaint_linked", link("P1"), "2026-03-02T00:00:00Z").await.unwrap();
    g.apply(
        "c3",
        "complaint_linked",
        json!({"target": "complaint-c1", "relation": "follow_up_of"}),
        "2026-03-02T00:00:00Z",
    )
    .await
    .unwrap();
    let action = json!({"action": "retrain couriers", "owner": "logistics lead", "due_at": "2026-02-15T00:00:00Z"});
    g.apply_problem("P1", "corrective_action_taken", action, "2026-02-01T00:00:00Z").await.unwrap();

    let answer = g.ok("problems", &at("2026-04-01T00:00:00Z")).await;
    assert_eq!(answer["count"], 2);
    let p1 = &answer["problems"][0];
    assert_eq!(p1["problem_id"], "P1", "most recurrences first: {answer}");
    assert_eq!((p1["linked_count"].clone(), p1["recurrence_count"].clone()), (json!(3), json!(1)));
    assert_eq!(p1["recurrences"], json!(["c3"]));
    assert_eq!(p1["linked_complaints"], json!(["c3", "c2", "c1"]), "newest first");
    assert_eq!(p1["status"], "action_taken");
    assert_eq!(p1["corrective_actions"][0]["owner"], "logistics lead");
    assert_eq!(
        p1["linked_by_month"],
        json!([{"month": "2026-01", "complaints": 2}, {"month": "2026-02", "complaints": 0},
            {"month": "2026-03", "complaints": 1}]),
        "every month from the first link to the last, empty months included (the chart's axis)"
    );
    let p2 = &answer["problems"][1];
    assert_eq!((p2["problem_id"].clone(), p2["recurrence_count"].clone()), (json!("P2"), json!(0)));
    // Before the action, nothing counts as a recurrence.
    let january = g.ok("problems", &at("2026-01-31T00:00:00Z")).await;
    assert_eq!(january["problems"][0]["recurrence_count"], 0, "{january}");
    assert_eq!(january["problems"][0]["corrective_actions"], json!([]));
    // Filters and paging.
    assert_eq!(g.ok("problems", &at("2026-04-01T00:00:00Z").with("status", "identified")).await["count"], 1);
    let first = g.ok("problems", &at("2026-04-01T00:00:00Z").with("limit", "1")).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let next = g.ok("problems", &at("2026-04-01T00:00:00Z").with("limit", "1").with("cursor", &cursor)).await;
    assert_eq!((next["problems"][0]["problem_id"].clone(), next["next_cursor"].clone()), (json!("P2"), Value::Null));
    assert!(matches!(
        g.view("problems", &at("2026-04-01T00:00:00Z").with("status", "gone")).await,
        Err(ProjectionError::BadQuery(_))
    ));
    // A problem event the lifecycle refuses is an anomaly and changes nothing.
    assert!(g
        .apply_problem("P2", "problem_resolved", json!({"verification": "x"}), "2026-04-01T00:00:00Z")
        .await
        .is_err());
    // The problems survive a checkpoint and a reopen of the state.
    g.checkpoint().await;
    g.state = g.fold.open(&*g.store).await.unwrap();
    assert_eq!(g.ok("problems", &at("2026-04-01T00:00:00Z")).await, answer);
}

#[tokio::test]
async fn deadline_alerts_list_unmet_deadlines_due_soon_or_passed_with_ids_stable_across_looks() {
    // normal: acknowledge within 24 h, resolve within 7 days, update every 72 h.
    let g = Given::steps(&[
        ("a", "complaint_received", received("a", "K1", "billing", "normal"), "2026-01-01T00:00:00Z"),
        ("b", "complaint_received", received("b", "K2", "billing", "normal"), "2026-01-01T00:00:00Z"),
        ("b", "complaint_acknowledged", ack(), "2026-01-01T01:00:00Z"),
        ("c", "complaint_received", received("c", "K3", "billing", "normal"), "2026-01-01T00:00:00Z"),
        ("c", "complaint_closed", json!({"outcome": "withdrawn"}), "2026-01-01T00:30:00Z"),
    ])
    .await;
    let alerts = |answer: &Value| -> Vec<(String, String, String)> {
        answer["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let field = |name: &str| a[name].as_str().unwrap().to_owned();
                (field("complaint_id"), field("deadline"), field("state"))
            })
            .collect()
    };
    let triple = |id: &str, deadline: &str, state: &str| (id.to_owned(), deadline.to_owned(), state.to_owned());
    // Three hours before a's acknowledgement falls due, with the default lead of 4 h.
    let soon = g.ok("deadline-alerts", &at("2026-01-01T21:00:00Z")).await;
    assert_eq!(soon["lead_hours"], 4);
    assert_eq!(alerts(&soon), [triple("a", "acknowledgement", "due_soon")], "{soon}");
    assert_eq!(soon["alerts"][0]["due_at"], "2026-01-02T00:00:00Z");
    // A shorter lead: not yet.
    let short = g.ok("deadline-alerts", &at("2026-01-01T21:00:00Z").with("lead_hours", "2")).await;
    assert_eq!(short["count"], 0, "{short}");
    // One nanosecond after it: overdue; b's update (72 h after its acknowledgement) is not due for days.
    let passed = g.ok("deadline-alerts", &at("2026-01-02T00:00:00.000000001Z")).await;
    assert_eq!(alerts(&passed), [triple("a", "acknowledgement", "overdue")]);
    // Later looks name the same alert by the same id; b's update then falls due (01:00 + 72 h).
    let later = g.ok("deadline-alerts", &at("2026-01-03T22:00:00Z")).await;
    assert_eq!(alerts(&later), [triple("a", "acknowledgement", "overdue"), triple("b", "update", "due_soon")]);
    assert_eq!(later["alerts"][0]["alert_id"], passed["alerts"][0]["alert_id"]);
    assert_ne!(soon["alerts"][0]["alert_id"], passed["alerts"][0]["alert_id"], "due soon and overdue are two alerts");
    // Paged by complaint, in deadline order; the closed complaint c never alerts.
    let first = g.ok("deadline-alerts", &at("2026-01-03T22:00:00Z").with("limit", "1")).await;
    assert_eq!((alerts(&first).len(), first["count"].clone()), (1, json!(2)), "{first}");
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = g.ok("deadline-alerts", &at("2026-01-03T22:00:00Z").with("limit", "1").with("cursor", &cursor)).await;
    assert_eq!(alerts(&second), [triple("b", "update", "due_soon")]);
    assert_eq!(second["next_cursor"], Value::Null);
    for bad in ["-1", "721", "soon"] {
        let refused = g.view("deadline-alerts", &at("2026-01-03T22:00:00Z").with("lead_hours", bad)).await;
        assert!(matches!(refused, Err(ProjectionError::BadQuery(_))), "{bad}: {refused:?}");
    }
}
