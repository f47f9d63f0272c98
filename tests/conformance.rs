//! The store conformance suite: every case runs against every backend, unchanged.

use crate::support::*;
use redress_engine::lifecycle::LifecycleViolation;
use redress_engine::{
    verify_store, Direction, EventFilter, EventStore, ExpectedVersion, StoreError, Subscription, Verification,
};
use redress_schemas::{EventType, Position, RecordedEvent, Timestamp};
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Instantiates every case for one backend: `conformance_suite!(module_name, opener_expression);`
macro_rules! conformance_suite {
    ($backend:ident, $opener:expr) => {
        conformance_suite!(@cases $backend, $opener, [
            first_append_starts_at_version_zero_and_position_zero,
            expected_version_any_no_stream_exists_and_exact_are_enforced,
            append_with_stale_version_is_rejected_and_writes_nothing,
            racing_tasks_on_one_stream_lose_no_update_and_share_no_version,
            a_conflict_is_answered_only_once_the_version_it_names_is_readable,
            a_batch_is_written_whole_in_order_or_not_at_all,
            retrying_an_append_returns_the_first_result_and_writes_nothing,
            a_retry_mixing_stored_and_new_ids_is_refused_and_writes_nothing,
            reusing_event_ids_on_another_stream_is_refused,
            the_same_id_with_other_data_metadata_or_type_is_a_conflict_and_writes_nothing,
            a_retry_with_another_occurred_at_is_a_retry_and_keeps_the_first_instant,
            an_event_stored_in_an_older_schema_version_is_retried_in_its_current_form,
            concurrent_copies_of_one_append_write_it_once,
            concurrent_appends_of_one_id_with_other_content_write_one_and_refuse_the_rest,
            parallel_writers_on_many_streams_get_gapless_positions,
            streams_read_forward_and_backward_with_paging,
            reading_all_filters_by_event_type_and_pages,
            an_unknown_stream_reads_empty_and_has_no_version,
            subscribers_before_and_after_a_burst_see_every_event_once_in_order,
            a_lagging_subscriber_catches_up_from_the_log_without_blocking_writers,
            a_filtered_subscription_sees_only_its_types,
            limits_are_typed_errors_and_write_nothing,
            lifecycle_violations_are_refused_and_write_nothing,
            occurred_at_beyond_the_clock_skew_is_refused_and_within_it_accepted,
            an_event_dated_before_its_complaints_receipt_is_refused,
            a_commitment_due_before_it_is_made_is_refused,
            an_import_keeps_history_that_breaks_the_instant_rules_and_appends_continue_under_them,
            an_event_for_the_wrong_kind_of_stream_is_refused,
            a_close_without_the_customers_confirmation_is_refused_unless_overridden,
            an_import_keeps_a_v1_close_without_confirmation,
            a_used_standard_answer_must_be_published_and_not_retired,
            an_answer_published_or_retired_earlier_in_the_same_group_counts_for_a_later_use,
            a_link_needs_an_existing_target_that_is_not_the_complaint_itself,
            the_hash_chain_verifies_and_ends_at_the_head,
            an_export_imports_into_an_empty_store_with_the_same_head_hash,
            an_import_that_does_not_continue_the_chain_is_refused_whole,
            recorded_by_is_stored_read_back_and_covered_by_the_hash,
            history_without_recorded_by_imports_and_new_events_chain_after_it,
        ]);
    };
    (@cases $backend:ident, $opener:expr, [$($case:ident),* $(,)?]) => {
        mod $backend {
            /// The cases this backend runs, by name (see `every_case_is_listed_in_the_suite`).
            pub const CASES: &[&str] = &[$(stringify!($case)),*];
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let opener: $crate::support::Opener = $opener;
                    $crate::conformance::cases::$case(opener).await;
                }
            )*
        }
    };
}

conformance_suite!(sled, crate::support::sled_opener());
conformance_suite!(postgres, crate::support::postgres_opener());

/// The cases. Each takes an opener so it can make as many fresh stores as it needs.
pub mod cases {
    use super::*;

    async fn head_position(store: &dyn EventStore) -> Option<u64> {
        store.head().await.expect("head").map(|h| h.position.0)
    }

    pub async fn first_append_starts_at_version_zero_and_position_zero(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let out = f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s), progress(&s, "a")]).await.unwrap();
        assert_eq!((out.result.first_version, out.result.last_version), (0, 1));
        assert_eq!((out.result.first_position, out.result.last_position), (Position(0), Position(1)));
        assert!(!out.idempotent_retry);
        assert_eq!(f.store.stream_version(&s).await.unwrap(), Some(1));
        assert_eq!(head_position(&*f.store).await, Some(1));
    }

    pub async fn expected_version_any_no_stream_exists_and_exact_are_enforced(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let conflict = |r: Result<_, StoreError>| match r {
            Err(StoreError::WrongExpectedVersion { current, .. }) => current,
            other => panic!("expected a version conflict, got {other:?}"),
        };
        assert_eq!(conflict(f.store.append(&s, ExpectedVersion::Exists, vec![received(&s)]).await), None);
        assert_eq!(conflict(f.store.append(&s, ExpectedVersion::Exact(0), vec![received(&s)]).await), None);
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        assert_eq!(conflict(f.store.append(&s, ExpectedVersion::NoStream, vec![progress(&s, "x")]).await), Some(0));
        assert_eq!(conflict(f.store.append(&s, ExpectedVersion::Exact(5), vec![progress(&s, "x")]).await), Some(0));
        f.store.append(&s, ExpectedVersion::Exists, vec![progress(&s, "a")]).await.unwrap();
        f.store.append(&s, ExpectedVersion::Exact(1), vec![progress(&s, "b")]).await.unwrap();
        f.store.append(&s, ExpectedVersion::Any, vec![progress(&s, "c")]).await.unwrap();
        assert_eq!(f.store.stream_version(&s).await.unwrap(), Some(3));
    }

    pub async fn append_with_stale_version_is_rejected_and_writes_nothing(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s), progress(&s, "a")]).await.unwrap();
        let before = read_everything(&*f.store).await;
        let err = f.store.append(&s, ExpectedVersion::Exact(0), vec![progress(&s, "stale")]).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::WrongExpectedVersion { current: Some(1), expected: ExpectedVersion::Exact(0), .. }
            ),
            "{err:?}"
        );
        assert_eq!(read_everything(&*f.store).await, before);
    }

    pub async fn racing_tasks_on_one_stream_lose_no_update_and_share_no_version(open: Opener) {
        let f = open().await;
        let s = complaint("race");
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        const TASKS: u128 = 16;
        const WINS_PER_TASK: u128 = 8;
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let store = Arc::clone(&f.store);
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut won = Vec::new();
                let mut conflicts = 0u32;
                while (won.len() as u128) < WINS_PER_TASK {
                    let current = store.stream_version(&s).await.unwrap().unwrap();
                    let id = 1_000 * (task + 1) + won.len() as u128;
                    let e = with_id(progress(&s, &format!("task {task}")), id);
                    match store.append(&s, ExpectedVersion::Exact(current), vec![e]).await {
                        Ok(out) => {
                            assert_eq!(out.result.first_version, current + 1, "a win lands right after what it read");
                            won.push((id, out.result.first_version));
                        }
                        Err(StoreError::WrongExpectedVersion { .. }) => conflicts += 1,
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
                (won, conflicts)
            }));
        }
        let mut versions = HashSet::new();
        let mut ids = HashMap::new();
        for task in tasks {
            let (won, _) = task.await.unwrap();
            for (id, version) in won {
                assert!(versions.insert(version), "version {version} was given to two appends");
                ids.insert(uuid::Uuid::from_u128(id), version);
            }
        }
        let page = f.store.read_stream(&s, 0, Direction::Forward, 1_000).await.unwrap();
        assert_eq!(page.events.len() as u128, 1 + TASKS * WINS_PER_TASK, "no lost update");
        for (i, e) in page.events.iter().enumerate() {
            assert_eq!(e.version, i as u64);
            if i > 0 {
                assert_eq!(ids.get(&e.event_id.0), Some(&e.version), "every win is stored at its version");
            }
        }
    }

    pub async fn a_batch_is_written_whole_in_order_or_not_at_all(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let before = head_position(&*f.store).await;
        let err = f
            .store
            .append(&s, ExpectedVersion::NoStream, vec![received(&s), offered(&s, "s1"), accepted(&s, "s2")])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Lifecycle { index: 2, .. }), "{err:?}");
        assert_eq!(head_position(&*f.store).await, before, "nothing of the refused batch was written");
        assert_eq!(f.store.stream_version(&s).await.unwrap(), None);

        let batch: Vec<_> = std::iter::once(received(&s)).chain((0..5).map(|i| progress(&s, &i.to_string()))).collect();
        f.store.append(&s, ExpectedVersion::NoStream, batch).await.unwrap();
        let events = f.store.read_stream(&s, 0, Direction::Forward, 100).await.unwrap().events;
        let notes: Vec<String> =
            events[1..].iter().map(|e| e.data.to_json_value()["note"].as_str().unwrap().to_owned()).collect();
        assert_eq!(notes, ["0", "1", "2", "3", "4"], "written in order");
        let positions: Vec<u64> = events.iter().map(|e| e.position.0).collect();
        assert_eq!(positions, (0..6).collect::<Vec<_>>(), "one batch takes consecutive positions");
    }

    pub async fn retrying_an_append_returns_the_first_result_and_writes_nothing(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let batch = || vec![with_id(received(&s), 1), with_id(progress(&s, "a"), 2)];
        let first = f.store.append(&s, ExpectedVersion::NoStream, batch()).await.unwrap();
        let other = complaint("c2");
        f.store.append(&other, ExpectedVersion::NoStream, vec![received(&other)]).await.unwrap();
        let before = read_everything(&*f.store).await;
        // The retry carries the original (now stale) expectation: it must still be answered, not refused.
        let retry = f.store.append(&s, ExpectedVersion::NoStream, batch()).await.unwrap();
        assert!(retry.idempotent_retry);
        assert!(!first.idempotent_retry);
        assert_eq!(retry.result, first.result);
        assert_eq!(read_everything(&*f.store).await, before, "a retry writes nothing");
    }

    pub async fn a_retry_mixing_stored_and_new_ids_is_refused_and_writes_nothing(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        f.store.append(&s, ExpectedVersion::NoStream, vec![with_id(received(&s), 1)]).await.unwrap();
        let before = read_everything(&*f.store).await;
        let err = f
            .store
            .append(&s, ExpectedVersion::Any, vec![with_id(progress(&s, "new"), 2), with_id(received(&s), 1)])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::IdempotencyConflict { .. }), "{err:?}");
        // A subset of an earlier batch is not a retry of it either.
        f.store
            .append(&s, ExpectedVersion::Any, vec![with_id(progress(&s, "a"), 3), with_id(progress(&s, "b"), 4)])
            .await
            .unwrap();
        let err = f.store.append(&s, ExpectedVersion::Any, vec![with_id(progress(&s, "a"), 3)]).await.unwrap_err();
        assert!(matches!(err, StoreError::IdempotencyConflict { .. }), "{err:?}");
        assert_eq!(read_everything(&*f.store).await.len(), before.len() + 2);
    }

    pub async fn reusing_event_ids_on_another_stream_is_refused(open: Opener) {
        let f = open().await;
        let (a, b) = (complaint("a"), complaint("b"));
        f.store.append(&a, ExpectedVersion::NoStream, vec![with_id(received(&a), 9)]).await.unwrap();
        let err = f.store.append(&b, ExpectedVersion::NoStream, vec![with_id(received(&b), 9)]).await.unwrap_err();
        assert!(matches!(err, StoreError::IdempotencyConflict { .. }), "{err:?}");
        assert_eq!(f.store.stream_version(&b).await.unwrap(), None);
    }

    pub async fn the_same_id_with_other_data_metadata_or_type_is_a_conflict_and_writes_nothing(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let apology = |message: &str| event(&s, "apology_sent", json!({"via": "phone", "message": message}));
        let first = vec![with_id(received(&s), 1), with_id(with_actor(apology("sorry"), "agent-1"), 2)];
        f.store.append(&s, ExpectedVersion::NoStream, first.clone()).await.unwrap();
        let before = read_everything(&*f.store).await;
        let mut other_data = first.clone();
        other_data[1] = with_id(with_actor(apology("SORRY"), "agent-1"), 2);
        let mut other_metadata = first.clone();
        other_metadata[1] = with_id(with_actor(apology("sorry"), "agent-2"), 2);
        // complaint_acknowledged has apology_sent's very data shape: only the type tells them apart.
        let mut other_type = first.clone();
        other_type[1] = with_id(
            with_actor(event(&s, "complaint_acknowledged", json!({"via": "phone", "message": "sorry"})), "agent-1"),
            2,
        );
        for (what, append) in [("data", other_data), ("metadata", other_metadata), ("event_type", other_type)] {
            match f.store.append(&s, ExpectedVersion::NoStream, append).await {
                Err(StoreError::IdempotencyConflict { event_id, reason }) => {
                    assert_eq!(event_id.0, uuid::Uuid::from_u128(2), "{what}: names the event whose content differs");
                    assert!(reason.contains(what), "{what}: says what differs: {reason}");
                }
                other => panic!("{what}: expected an idempotency conflict, got {other:?}"),
            }
            assert_eq!(read_everything(&*f.store).await, before, "{what}: nothing written");
        }
        let retry = f.store.append(&s, ExpectedVersion::NoStream, first).await.unwrap();
        assert!(retry.idempotent_retry, "the same content is still a retry");
        assert_eq!(read_everything(&*f.store).await, before);
    }

    pub async fn a_retry_with_another_occurred_at_is_a_retry_and_keeps_the_first_instant(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let then = Timestamp::parse("2026-03-01T08:00:00Z").unwrap();
        let first =
            f.store.append(&s, ExpectedVersion::NoStream, vec![with_id(received(&s), 1).occurred_at(then)]).await;
        let first = first.unwrap();
        let before = read_everything(&*f.store).await;
        // occurred_at is not content (EVENTS.md: stream, type, data, metadata): a publisher that stamps
        // each attempt anew, or leaves it out, is still retrying.
        for retry in [with_id(received(&s), 1).occurred_at(then.plus_seconds(90)), with_id(received(&s), 1)] {
            let again = f.store.append(&s, ExpectedVersion::NoStream, vec![retry]).await.unwrap();
            assert!(again.idempotent_retry);
            assert_eq!(again.result, first.result);
        }
        let after = read_everything(&*f.store).await;
        assert_eq!(after, before, "nothing written");
        assert_eq!(after[0].occurred_at, then, "the stored event keeps its first occurred_at");
    }

    pub async fn an_event_stored_in_an_older_schema_version_is_retried_in_its_current_form(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let received_data = received(&s).data.to_json_value();
        let v1 = json!({"root_cause": "courier", "responsible_department": "logistics", "founded": true});
        let history = exported(
            vec![
                (1, &s, EventType::ComplaintReceived, 1, "2026-03-01T08:00:00Z", received_data),
                (2, &s, EventType::CauseAnalyzed, 1, "2026-03-01T09:00:00Z", v1.clone()),
            ],
            "2026-03-01T10:00:00Z",
        );
        f.store.import(history).await.unwrap();
        let before = read_everything(&*f.store).await;
        assert_eq!(before[1].schema_version, 1, "stored as written, in version 1");
        // The publisher retries the event as it first sent it: the stored one, read in its current form
        // (corrective_action absent), is the same content.
        let retry = f.store.append(&s, ExpectedVersion::Any, vec![with_id(event(&s, "cause_analyzed", v1), 2)]).await;
        let retry = retry.unwrap();
        assert!(retry.idempotent_retry);
        assert_eq!((retry.result.first_position, retry.result.last_position), (Position(1), Position(1)));
        let mut other = json!({"corrective_action": "another courier"});
        other.as_object_mut().unwrap().extend(before[1].data.to_json_value().as_object().unwrap().clone());
        let err = f.store.append(&s, ExpectedVersion::Any, vec![with_id(event(&s, "cause_analyzed", other), 2)]).await;
        assert!(matches!(err, Err(StoreError::IdempotencyConflict { .. })), "{err:?}");
        assert_eq!(read_everything(&*f.store).await, before, "nothing written");
    }

    /// Runs `task(store, i)` for `i` in `0..n` at once; their answers, in `i` order.
    async fn at_once<T, Task>(
        store: &Arc<dyn EventStore>,
        n: usize,
        task: impl Fn(Arc<dyn EventStore>, usize) -> Task,
    ) -> Vec<T>
    where
        Task: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(task(Arc::clone(store), i))).collect();
        let mut answers = Vec::with_capacity(n);
        for t in tasks {
            answers.push(t.await.expect("the task finishes"));
        }
        answers
    }

    /// Racing openers of one stream: each loser is told the current version, and must then be able to
    /// read it. The writer checks an append against its own view, which includes the staged appends of
    /// the same group; a refusal answered before that group was durable let an HTTP client's next append
    /// be refused "no complaint yet" (seen once in the server crash test).
    pub async fn a_conflict_is_answered_only_once_the_version_it_names_is_readable(open: Opener) {
        let f = open().await;
        const ROUNDS: u128 = 30;
        const RACERS: u128 = 6;
        let mut conflicts = 0;
        for round in 0..ROUNDS {
            let s = complaint(&format!("opened-by-many-{round}"));
            let racers: Vec<_> = (0..RACERS)
                .map(|racer| {
                    let (store, s) = (Arc::clone(&f.store), s.clone());
                    tokio::spawn(async move {
                        let opening = with_id(received(&s), 10_000 * (round + 1) + racer);
                        match store.append(&s, ExpectedVersion::NoStream, vec![opening]).await {
                            Ok(_) => None,
                            Err(StoreError::WrongExpectedVersion { current, .. }) => {
                                // Read at once, before anything else can make the winner durable.
                                let page = store.read_stream(&s, 0, Direction::Forward, 1).await.unwrap();
                                Some((current, page.events.len()))
                            }
                            Err(other) => panic!("unexpected {other:?}"),
                        }
                    })
                })
                .collect();
            for racer in racers {
                if let Some((current, readable)) = racer.await.unwrap() {
                    assert_eq!(current, Some(0), "round {round}: a loser is told the winner's version");
                    assert_eq!(
                        readable, 1,
                        "round {round}: the version a conflict names is readable when it is answered"
                    );
                    conflicts += 1;
                }
            }
        }
        assert_eq!(conflicts, ROUNDS * (RACERS - 1), "one opener wins each round");
    }

    pub async fn concurrent_copies_of_one_append_write_it_once(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        let outcomes = at_once(&f.store, 12, |store, _| {
            let s = s.clone();
            async move {
                let batch = vec![with_id(progress(&s, "x"), 50), with_id(progress(&s, "y"), 51)];
                store.append(&s, ExpectedVersion::Any, batch).await.unwrap()
            }
        })
        .await;
        assert_eq!(outcomes.iter().filter(|o| !o.idempotent_retry).count(), 1, "exactly one copy writes");
        assert!(outcomes.iter().all(|o| o.result == outcomes[0].result), "every copy gets the same answer");
        assert_eq!(f.store.stream_version(&s).await.unwrap(), Some(2));
    }

    pub async fn concurrent_appends_of_one_id_with_other_content_write_one_and_refuse_the_rest(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        let answers = at_once(&f.store, 12, |store, task| {
            let s = s.clone();
            let note = if task % 2 == 0 { "even" } else { "odd" };
            async move { (note, store.append(&s, ExpectedVersion::Any, vec![with_id(progress(&s, note), 70)]).await) }
        })
        .await;
        let stored = f.store.read_stream(&s, 1, Direction::Forward, 10).await.unwrap().events;
        assert_eq!(stored.len(), 1, "one copy was written");
        let written = stored[0].data.to_json_value()["note"].as_str().unwrap().to_owned();
        assert_eq!(answers.iter().filter(|(_, a)| matches!(a, Ok(o) if !o.idempotent_retry)).count(), 1);
        for (note, answer) in answers {
            match answer {
                Ok(outcome) => {
                    assert_eq!(note, written, "only the written content is answered as written or retried");
                    assert_eq!(outcome.result.first_position, stored[0].position);
                }
                Err(StoreError::IdempotencyConflict { .. }) => assert_ne!(note, written),
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
    }

    pub async fn parallel_writers_on_many_streams_get_gapless_positions(open: Opener) {
        let f = open().await;
        const STREAMS: usize = 24;
        for i in 0..STREAMS {
            let s = complaint(&format!("p{i}"));
            f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        }
        let mut tasks = Vec::new();
        for task in 0..8u128 {
            let store = Arc::clone(&f.store);
            tasks.push(tokio::spawn(async move {
                let mut acks = Vec::new();
                for n in 0..40u128 {
                    let s = complaint(&format!("p{}", (task * 7 + n) as usize % STREAMS));
                    let size = 1 + (n % 3);
                    let ids: Vec<u128> = (0..size).map(|k| task << 64 | n << 8 | k).collect();
                    let batch = ids.iter().map(|id| with_id(progress(&s, "p"), *id)).collect();
                    let out = store.append(&s, ExpectedVersion::Any, batch).await.unwrap();
                    acks.push((s, out.result, ids));
                }
                acks
            }));
        }
        let all = read_everything(&*f.store).await;
        let mut acks = Vec::new();
        for t in tasks {
            acks.extend(t.await.unwrap());
        }
        let all = if all.len() < STREAMS + acks.iter().map(|a| a.2.len()).sum::<usize>() {
            read_everything(&*f.store).await
        } else {
            all
        };
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.position, Position(i as u64), "positions are gapless from 0");
        }
        for (s, result, ids) in &acks {
            for (k, id) in ids.iter().enumerate() {
                let e = &all[result.first_position.0 as usize + k];
                assert_eq!(e.event_id.0, uuid::Uuid::from_u128(*id));
                assert_eq!(&e.stream, s);
                assert_eq!(e.version, result.first_version + k as u64);
            }
        }
        let mut versions: HashMap<String, u64> = HashMap::new();
        for e in &all {
            let next = versions.entry(e.stream.to_string()).or_insert(0);
            assert_eq!(e.version, *next, "stream versions are gapless in log order");
            *next += 1;
        }
    }

    pub async fn streams_read_forward_and_backward_with_paging(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let other = complaint("c2");
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        f.store.append(&other, ExpectedVersion::NoStream, vec![received(&other)]).await.unwrap();
        let notes: Vec<_> = (1..10).map(|i| progress(&s, &format!("n{i}"))).collect();
        f.store.append(&s, ExpectedVersion::Exact(0), notes).await.unwrap();
        let versions = |events: &[RecordedEvent]| events.iter().map(|e| e.version).collect::<Vec<_>>();

        let page = f.store.read_stream(&s, 0, Direction::Forward, 4).await.unwrap();
        assert_eq!(versions(&page.events), [0, 1, 2, 3]);
        assert_eq!(page.next, Some(4));
        let page = f.store.read_stream(&s, 8, Direction::Forward, 4).await.unwrap();
        assert_eq!(versions(&page.events), [8, 9]);
        assert_eq!(page.next, None);

        let page = f.store.read_stream(&s, u64::MAX, Direction::Backward, 3).await.unwrap();
        assert_eq!(versions(&page.events), [9, 8, 7]);
        assert_eq!(page.next, Some(6));
        let page = f.store.read_stream(&s, 2, Direction::Backward, 10).await.unwrap();
        assert_eq!(versions(&page.events), [2, 1, 0]);
        assert_eq!(page.next, None);
        assert!(page.events.iter().all(|e| e.stream == s), "no event of another stream");
    }

    pub async fn reading_all_filters_by_event_type_and_pages(open: Opener) {
        let f = open().await;
        for i in 0..5 {
            let s = complaint(&format!("c{i}"));
            f.store
                .append(&s, ExpectedVersion::NoStream, vec![received(&s), progress(&s, "a"), progress(&s, "b")])
                .await
                .unwrap();
        }
        let page = f.store.read_all(Position(0), 6, &EventFilter::all()).await.unwrap();
        assert_eq!(page.events.len(), 6);
        assert_eq!(page.next, Some(6));
        let received_only = EventFilter::types([EventType::ComplaintReceived]);
        let page = f.store.read_all(Position(0), 100, &received_only).await.unwrap();
        let positions: Vec<u64> = page.events.iter().map(|e| e.position.0).collect();
        assert_eq!(positions, [0, 3, 6, 9, 12]);
        assert!(page.events.iter().all(|e| e.event_type() == EventType::ComplaintReceived));
        let page = f.store.read_all(Position(4), 2, &received_only).await.unwrap();
        assert_eq!(page.events.iter().map(|e| e.position.0).collect::<Vec<_>>(), [6, 9]);
        assert_eq!(page.next, Some(10));
        assert!(f.store.read_all(Position(15), 10, &EventFilter::all()).await.unwrap().events.is_empty());
    }

    pub async fn an_unknown_stream_reads_empty_and_has_no_version(open: Opener) {
        let f = open().await;
        let s = complaint("nobody");
        assert!(f.store.read_stream(&s, 0, Direction::Forward, 10).await.unwrap().events.is_empty());
        assert!(f.store.read_stream(&s, u64::MAX, Direction::Backward, 10).await.unwrap().events.is_empty());
        assert_eq!(f.store.stream_version(&s).await.unwrap(), None);
        assert_eq!(f.store.head().await.unwrap(), None);
    }

    async fn collect(sub: &mut Subscription, n: usize) -> Vec<RecordedEvent> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let e = tokio::time::timeout(std::time::Duration::from_secs(20), sub.next())
                .await
                .expect("the subscription delivers within 20 s")
                .expect("subscription");
            out.push(e);
        }
        out
    }

    fn assert_exactly_once_in_order(events: &[RecordedEvent], from: u64, count: u64) {
        let positions: Vec<u64> = events.iter().map(|e| e.position.0).collect();
        assert_eq!(positions, (from..from + count).collect::<Vec<_>>(), "every event once, in order");
    }

    pub async fn subscribers_before_and_after_a_burst_see_every_event_once_in_order(open: Opener) {
        let f = open().await;
        let s0 = complaint("pre");
        f.store.append(&s0, ExpectedVersion::NoStream, vec![received(&s0)]).await.unwrap();
        let mut early = Subscription::new(Arc::clone(&f.store), Position(0), EventFilter::all());
        let first = collect(&mut early, 1).await;
        assert_eq!(first[0].position, Position(0));

        let writer = {
            let store = Arc::clone(&f.store);
            tokio::spawn(async move {
                for i in 0..30 {
                    let s = complaint(&format!("burst{i}"));
                    store.append(&s, ExpectedVersion::NoStream, vec![received(&s), progress(&s, "a")]).await.unwrap();
                }
            })
        };
        // Starts mid-burst: part catch-up, part live.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let mut late = Subscription::new(Arc::clone(&f.store), Position(0), EventFilter::all());
        let mid = collect(&mut late, 1).await;
        assert_eq!(mid[0].position, Position(0));
        writer.await.unwrap();
        let rest_early = collect(&mut early, 60).await;
        let rest_late = collect(&mut late, 60).await;
        assert_exactly_once_in_order(&rest_early, 1, 60);
        assert_exactly_once_in_order(&rest_late, 1, 60);
        assert!(late.is_live() && early.is_live());
        // Nothing more is pending: a further event is the next one delivered.
        let s = complaint("after");
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        assert_eq!(collect(&mut early, 1).await[0].position, Position(61));
        assert_eq!(collect(&mut late, 1).await[0].position, Position(61));
    }

    pub async fn a_lagging_subscriber_catches_up_from_the_log_without_blocking_writers(open: Opener) {
        let f = open().await;
        let mut sub = Subscription::new(Arc::clone(&f.store), Position(0), EventFilter::all());
        let s = complaint("lag");
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        assert_eq!(collect(&mut sub, 1).await[0].position, Position(0));
        assert!(sub.is_live());
        // More separate commits than the live buffer holds, while the subscriber does not read.
        let appends = redress_engine::limits::SUBSCRIPTION_QUEUE_BATCHES_MAX as u64 + 200;
        for i in 0..appends {
            f.store.append(&s, ExpectedVersion::Exact(i), vec![progress(&s, "x")]).await.unwrap();
        }
        let events = collect(&mut sub, appends as usize).await;
        assert_exactly_once_in_order(&events, 1, appends);
    }

    pub async fn a_filtered_subscription_sees_only_its_types(open: Opener) {
        let f = open().await;
        let mut sub =
            Subscription::new(Arc::clone(&f.store), Position(0), EventFilter::types([EventType::ComplaintClosed]));
        for i in 0..3 {
            let s = complaint(&format!("f{i}"));
            f.store
                .append(&s, ExpectedVersion::NoStream, vec![received(&s), progress(&s, "a"), closed(&s)])
                .await
                .unwrap();
        }
        let events = collect(&mut sub, 3).await;
        assert_eq!(events.iter().map(|e| e.position.0).collect::<Vec<_>>(), [2, 5, 8]);
        assert_eq!(sub.position(), Position(9));
    }

    pub async fn limits_are_typed_errors_and_write_nothing(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        let limit_of = |r: Result<_, StoreError>| match r {
            Err(StoreError::LimitExceeded { limit, .. }) => limit,
            other => panic!("expected a limit error, got {other:?}"),
        };
        let too_many: Vec<_> = (0..1001).map(|_| progress(&s, "x")).collect();
        assert_eq!(limit_of(f.store.append(&s, ExpectedVersion::Any, too_many).await), "append_events_max");
        let most: Vec<_> = (0..1000).map(|_| progress(&s, "x")).collect();
        f.store.append(&s, ExpectedVersion::Exact(0), most).await.expect("exactly the limit is fine");

        let big = "长".repeat(400_000); // 1.2 MB of UTF-8
        assert_eq!(
            limit_of(f.store.append(&s, ExpectedVersion::Any, vec![progress(&s, &big)]).await),
            "event_bytes_max"
        );
        assert!(matches!(f.store.append(&s, ExpectedVersion::Any, vec![]).await, Err(StoreError::EmptyAppend)));
        let mut crowded = progress(&s, "x");
        for i in 0..=redress_schemas::METADATA_ENTRIES_MAX {
            crowded.metadata.0.insert(format!("k{i}"), "v".into());
        }
        assert_eq!(limit_of(f.store.append(&s, ExpectedVersion::Any, vec![crowded]).await), "metadata_entries_max");
        let dup = vec![with_id(progress(&s, "a"), 7), with_id(progress(&s, "b"), 7)];
        assert!(matches!(f.store.append(&s, ExpectedVersion::Any, dup).await, Err(StoreError::DuplicateEventId(_))));
        assert_eq!(f.store.stream_version(&s).await.unwrap(), Some(1000), "none of the refused appends wrote");
    }

    pub async fn lifecycle_violations_are_refused_and_write_nothing(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let refused = |r: Result<_, StoreError>| assert!(matches!(r, Err(StoreError::Lifecycle { .. })), "{r:?}");
        refused(f.store.append(&s, ExpectedVersion::Any, vec![progress(&s, "before received")]).await);
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        refused(f.store.append(&s, ExpectedVersion::Any, vec![received(&s)]).await);
        refused(f.store.append(&s, ExpectedVersion::Any, vec![accepted(&s, "never-offered")]).await);
        refused(
            f.store
                .append(
                    &s,
                    ExpectedVersion::Any,
                    vec![event(&s, "complaint_reopened", serde_json::json!({"reason": "x"}))],
                )
                .await,
        );
        f.store.append(&s, ExpectedVersion::Any, vec![closed(&s)]).await.unwrap();
        refused(f.store.append(&s, ExpectedVersion::Any, vec![progress(&s, "after close")]).await);
        refused(f.store.append(&s, ExpectedVersion::Any, vec![closed(&s)]).await);
        let qa = stream("qa-7");
        refused(
            f.store
                .append(
                    &qa,
                    ExpectedVersion::Any,
                    vec![event(&qa, "standard_answer_retired", serde_json::json!({"reason": "old"}))],
                )
                .await,
        );
        assert_eq!(f.store.stream_version(&s).await.unwrap(), Some(1));
        assert_eq!(f.store.stream_version(&qa).await.unwrap(), None);
    }

    /// The violation of an append refused by a lifecycle rule, and the index of the event it names.
    fn violation(refusal: Result<redress_engine::AppendOutcome, StoreError>) -> (usize, LifecycleViolation) {
        match refusal {
            Err(StoreError::Lifecycle { index, violation, .. }) => (index, violation),
            other => panic!("expected a lifecycle refusal, got {other:?}"),
        }
    }

    pub async fn occurred_at_beyond_the_clock_skew_is_refused_and_within_it_accepted(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let now = Timestamp::now();
        let (index, refused) = violation(
            f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s).occurred_at(now.plus_seconds(3600))]).await,
        );
        assert_eq!(index, 0);
        assert!(matches!(refused, LifecycleViolation::OccurredInTheFuture { .. }), "{refused:?}");
        assert_eq!(f.store.head().await.unwrap(), None, "nothing written");
        // Within the default skew of 5 minutes: a publisher's clock a minute ahead is fine.
        let ahead = now.plus_seconds(60);
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s).occurred_at(ahead)]).await.unwrap();
        let batch = vec![
            progress(&s, "fine").occurred_at(ahead),
            progress(&s, "tomorrow").occurred_at(now.plus_seconds(86_400)),
        ];
        let (index, refused) = violation(f.store.append(&s, ExpectedVersion::Exact(0), batch).await);
        assert_eq!(index, 1, "names the event in the future");
        assert!(matches!(refused, LifecycleViolation::OccurredInTheFuture { .. }), "{refused:?}");
        assert_eq!(f.store.stream_version(&s).await.unwrap(), Some(0), "nothing of the refused batch written");
    }

    pub async fn an_event_dated_before_its_complaints_receipt_is_refused(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let received_at = Timestamp::parse("2026-03-01T08:00:00Z").unwrap();
        let earlier = received_at.plus_seconds(-3600);
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s).occurred_at(received_at)]).await.unwrap();
        let ack = |at: Timestamp| {
            event(&s, "complaint_acknowledged", json!({"via": "sms", "message": "got it"})).occurred_at(at)
        };
        let (index, refused) = violation(f.store.append(&s, ExpectedVersion::Exact(0), vec![ack(earlier)]).await);
        assert_eq!(index, 0);
        assert_eq!(
            refused,
            LifecycleViolation::OccurredBeforeReceipt {
                event_type: EventType::ComplaintAcknowledged,
                occurred_at: earlier,
                received_at
            }
        );
        let batch = vec![
            progress(&s, "later").occurred_at(received_at.plus_seconds(60)),
            progress(&s, "earlier").occurred_at(earlier),
        ];
        let (index, refused) = violation(f.store.append(&s, ExpectedVersion::Exact(0), batch).await);
        assert_eq!(index, 1);
        assert!(matches!(refused, LifecycleViolation::OccurredBeforeReceipt { .. }), "{refused:?}");
        // Within one append too: the receipt it carries is the one the next events are held to.
        let t = complaint("c2");
        let batch = vec![received(&t).occurred_at(received_at), progress(&t, "earlier").occurred_at(earlier)];
        let (index, _) = violation(f.store.append(&t, ExpectedVersion::NoStream, batch).await);
        assert_eq!(index, 1);
        assert_eq!(f.store.stream_version(&t).await.unwrap(), None);
        assert_eq!(f.store.stream_version(&s).await.unwrap(), Some(0), "nothing written");
        // At the instant of receipt, or without an occurred_at (now, later than the receipt): accepted.
        f.store.append(&s, ExpectedVersion::Exact(0), vec![ack(received_at), progress(&s, "now")]).await.unwrap();
    }

    pub async fn a_commitment_due_before_it_is_made_is_refused(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let yesterday = Timestamp::now().plus_seconds(-86_400);
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s).occurred_at(yesterday)]).await.unwrap();
        let commitment =
            |due_at: &str| event(&s, "commitment_made", json!({"what": "replace the screen", "due_at": due_at}));
        let (index, refused) =
            violation(f.store.append(&s, ExpectedVersion::Exact(0), vec![commitment("2020-01-01T00:00:00Z")]).await);
        assert_eq!(index, 0);
        assert!(matches!(refused, LifecycleViolation::DueBeforeCommitment { .. }), "{refused:?}");
        // Due when it is made is not after it either.
        let made = yesterday.plus_seconds(60);
        let due_now = commitment(&made.to_rfc3339()).occurred_at(made);
        let (_, refused) = violation(f.store.append(&s, ExpectedVersion::Exact(0), vec![due_now]).await);
        assert!(matches!(refused, LifecycleViolation::DueBeforeCommitment { .. }), "{refused:?}");
        assert_eq!(f.store.stream_version(&s).await.unwrap(), Some(0), "nothing written");
        let next_week = Timestamp::now().plus_seconds(7 * 86_400).to_rfc3339();
        f.store.append(&s, ExpectedVersion::Exact(0), vec![commitment(&next_week)]).await.unwrap();
    }

    pub async fn an_import_keeps_history_that_breaks_the_instant_rules_and_appends_continue_under_them(open: Opener) {
        let f = open().await;
        let s = complaint("old");
        // Written before v1.1: an acknowledgement dated before the receipt, a commitment due in the past.
        let history = exported(
            vec![
                (1, &s, EventType::ComplaintReceived, 1, "2024-03-01T08:00:00Z", received(&s).data.to_json_value()),
                (
                    2,
                    &s,
                    EventType::ComplaintAcknowledged,
                    1,
                    "2024-02-01T08:00:00Z",
                    json!({"via": "sms", "message": "m"}),
                ),
                (
                    3,
                    &s,
                    EventType::CommitmentMade,
                    1,
                    "2024-03-02T08:00:00Z",
                    json!({"what": "w", "due_at": "2020-01-01T00:00:00Z"}),
                ),
            ],
            "2024-03-02T09:00:00Z",
        );
        f.store.import(history.clone()).await.expect("an import re-stores history as written");
        let stored = read_everything(&*f.store).await;
        assert_eq!(stored.len(), 3);
        assert_eq!(stored[1].occurred_at, history[1].header.occurred_at, "kept as written");
        assert!(verify_store(&*f.store, |_| {}).await.unwrap().is_intact());
        // What is appended after the import is held to the rules.
        let before_receipt = event(&s, "progress_updated", json!({"note": "n", "customer_informed": true}))
            .occurred_at(Timestamp::parse("2024-02-15T00:00:00Z").unwrap());
        let (_, refused) = violation(f.store.append(&s, ExpectedVersion::Exact(2), vec![before_receipt]).await);
        assert!(matches!(refused, LifecycleViolation::OccurredBeforeReceipt { .. }), "{refused:?}");
        f.store.append(&s, ExpectedVersion::Exact(2), vec![progress(&s, "now")]).await.unwrap();
    }

    pub async fn an_event_for_the_wrong_kind_of_stream_is_refused(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        // Built for one stream, sent to another: the engine checks again, whatever the caller did.
        for to in [stream("qa-1"), stream("orders-1"), complaint("c2")] {
            let err = f.store.append(&to, ExpectedVersion::Any, vec![received(&s)]).await.unwrap_err();
            assert!(matches!(err, StoreError::InvalidEvent { index: 0, .. }), "{to}: {err:?}");
        }
        assert_eq!(f.store.head().await.unwrap(), None);
    }

    fn publish(qa: &redress_schemas::StreamName, answer_id: &str) -> redress_schemas::ProposedEvent {
        event(
            qa,
            "standard_answer_published",
            json!({"answer_id": answer_id, "category": "delivery", "title": "Damaged on arrival",
                   "answer": "We replace it within 3 days.", "keywords": ["broken"]}),
        )
    }

    fn used(to: &redress_schemas::StreamName, answer_id: &str) -> redress_schemas::ProposedEvent {
        event(to, "standard_answer_used", json!({"answer_id": answer_id}))
    }

    fn linked(to: &redress_schemas::StreamName, target: &str) -> redress_schemas::ProposedEvent {
        event(to, "complaint_linked", json!({"target": target, "relation": "same_problem"}))
    }

    pub async fn a_close_without_the_customers_confirmation_is_refused_unless_overridden(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let delivered = event(&s, "solution_delivered", json!({"solution_id": "s1", "note": "new screen fitted"}));
        f.store
            .append(&s, ExpectedVersion::NoStream, vec![received(&s), offered(&s, "s1"), accepted(&s, "s1"), delivered])
            .await
            .unwrap();
        let close = |data: serde_json::Value| event(&s, "complaint_closed", data);
        let (index, refused) = violation(
            f.store
                .append(&s, ExpectedVersion::Exact(3), vec![progress(&s, "p"), close(json!({"outcome": "refunded"}))])
                .await,
        );
        assert_eq!(index, 1);
        assert!(matches!(refused, LifecycleViolation::CloseWithoutConfirmation { .. }), "{refused:?}");
        assert_eq!(f.store.stream_version(&s).await.unwrap(), Some(3), "nothing of the append was written");
        let overridden = close(json!({"outcome": "resolved", "override_reason": "customer unreachable for 10 days"}));
        f.store.append(&s, ExpectedVersion::Exact(3), vec![overridden]).await.unwrap();

        let confirmed = complaint("c2");
        let steps = vec![
            received(&confirmed),
            offered(&confirmed, "s1"),
            accepted(&confirmed, "s1"),
            event(&confirmed, "solution_delivered", json!({"solution_id": "s1", "note": "done"})),
            event(&confirmed, "resolution_confirmed", json!({"satisfied": true, "via": "phone"})),
            event(&confirmed, "complaint_closed", json!({"outcome": "replaced"})),
        ];
        f.store.append(&confirmed, ExpectedVersion::NoStream, steps).await.unwrap();
    }

    pub async fn an_import_keeps_a_v1_close_without_confirmation(open: Opener) {
        let f = open().await;
        let s = complaint("old");
        let history = exported(
            vec![
                (1, &s, EventType::ComplaintReceived, 1, "2024-03-01T08:00:00Z", received(&s).data.to_json_value()),
                (2, &s, EventType::ComplaintClosed, 1, "2024-03-02T08:00:00Z", json!({"outcome": "resolved"})),
            ],
            "2024-03-02T09:00:00Z",
        );
        f.store.import(history).await.expect("history written before v1.1 imports as written");
        let stored = read_everything(&*f.store).await;
        assert_eq!((stored.len(), stored[1].schema_version), (2, 1));
        let reopened = event(&s, "complaint_reopened", json!({"reason": "still broken"}));
        f.store.append(&s, ExpectedVersion::Exact(1), vec![reopened]).await.unwrap();
        let (_, refused) =
            violation(f.store.append(&s, ExpectedVersion::Exact(2), vec![closed_as(&s, "resolved")]).await);
        assert!(matches!(refused, LifecycleViolation::CloseWithoutConfirmation { .. }), "{refused:?}");
    }

    fn closed_as(to: &redress_schemas::StreamName, outcome: &str) -> redress_schemas::ProposedEvent {
        event(to, "complaint_closed", json!({"outcome": outcome}))
    }

    pub async fn a_used_standard_answer_must_be_published_and_not_retired(open: Opener) {
        let f = open().await;
        let s = complaint("c1");
        let qa = stream("qa-A1");
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        for answer_id in ["A1", "not a stream name"] {
            let (index, refused) = violation(
                f.store.append(&s, ExpectedVersion::Exact(0), vec![progress(&s, "p"), used(&s, answer_id)]).await,
            );
            assert_eq!(index, 1);
            assert!(
                matches!(&refused, LifecycleViolation::AnswerNotFound { answer_id: id, .. } if id == answer_id),
                "{refused:?}"
            );
        }
        assert_eq!(f.store.stream_version(&s).await.unwrap(), Some(0), "nothing written");
        f.store.append(&qa, ExpectedVersion::NoStream, vec![publish(&qa, "A1")]).await.unwrap();
        f.store.append(&s, ExpectedVersion::Exact(0), vec![used(&s, "A1")]).await.unwrap();
        let retire = event(&qa, "standard_answer_retired", json!({"reason": "policy changed"}));
        f.store.append(&qa, ExpectedVersion::Exact(0), vec![retire]).await.unwrap();
        let (_, refused) = violation(f.store.append(&s, ExpectedVersion::Exact(1), vec![used(&s, "A1")]).await);
        assert!(matches!(refused, LifecycleViolation::RetiredAnswerUsed { .. }), "{refused:?}");
        assert_eq!(f.store.stream_version(&s).await.unwrap(), Some(1), "nothing written");
    }

    pub async fn an_answer_published_or_retired_earlier_in_the_same_group_counts_for_a_later_use(open: Opener) {
        // Polled in order, the appends are queued in order: whether the writer takes them as one group or
        // several, the use is judged after the publish (or the retirement) queued before it.
        let f = open().await;
        let (s, qa) = (complaint("c1"), stream("qa-A1"));
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        let (published, use_after) = tokio::join!(
            f.store.append(&qa, ExpectedVersion::NoStream, vec![publish(&qa, "A1")]),
            f.store.append(&s, ExpectedVersion::Exact(0), vec![used(&s, "A1")]),
        );
        published.unwrap();
        use_after.expect("an answer published just before is usable");
        let retire = event(&qa, "standard_answer_retired", json!({"reason": "policy changed"}));
        let (retired, use_after) = tokio::join!(
            f.store.append(&qa, ExpectedVersion::Exact(0), vec![retire]),
            f.store.append(&s, ExpectedVersion::Exact(1), vec![used(&s, "A1")]),
        );
        retired.unwrap();
        let (_, refused) = violation(use_after);
        assert!(matches!(refused, LifecycleViolation::RetiredAnswerUsed { .. }), "{refused:?}");
        assert_eq!(f.store.stream_version(&s).await.unwrap(), Some(1));
    }

    pub async fn a_link_needs_an_existing_target_that_is_not_the_complaint_itself(open: Opener) {
        let f = open().await;
        let (s, other, problem) = (complaint("c1"), complaint("c2"), stream("problem-P1"));
        f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s)]).await.unwrap();
        for target in ["problem-P1", "complaint-c2"] {
            let (_, refused) = violation(f.store.append(&s, ExpectedVersion::Exact(0), vec![linked(&s, target)]).await);
            assert!(
                matches!(&refused, LifecycleViolation::LinkTargetMissing { target: t, .. } if t == target),
                "{refused:?}"
            );
        }
        let (_, refused) =
            violation(f.store.append(&s, ExpectedVersion::Exact(0), vec![linked(&s, "complaint-c1")]).await);
        assert!(matches!(refused, LifecycleViolation::LinkToItself { .. }), "{refused:?}");
        assert_eq!(f.store.stream_version(&s).await.unwrap(), Some(0), "nothing written");
        let identified = event(
            &problem,
            "problem_identified",
            json!({"problem_id": "P1", "title": "screens crack", "category": "delivery",
                   "root_cause": "thin packaging", "responsible_department": "logistics"}),
        );
        f.store.append(&problem, ExpectedVersion::NoStream, vec![identified]).await.unwrap();
        f.store.append(&other, ExpectedVersion::NoStream, vec![received(&other)]).await.unwrap();
        f.store
            .append(&s, ExpectedVersion::Exact(0), vec![linked(&s, "problem-P1"), linked(&s, "complaint-c2")])
            .await
            .unwrap();
        // A problem's own lifecycle is held on append as well.
        let resolved = event(&problem, "problem_resolved", json!({"verification": "no cracks for 60 days"}));
        let (_, refused) = violation(f.store.append(&problem, ExpectedVersion::Exact(0), vec![resolved]).await);
        assert!(matches!(refused, LifecycleViolation::NoCorrectiveAction { .. }), "{refused:?}");
    }

    pub async fn the_hash_chain_verifies_and_ends_at_the_head(open: Opener) {
        let f = open().await;
        assert_eq!(verify_store(&*f.store, |_| {}).await.unwrap(), Verification::Intact { events: 0, head: None });
        for i in 0..20 {
            let s = complaint(&format!("v{i}"));
            f.store.append(&s, ExpectedVersion::NoStream, vec![received(&s), progress(&s, "看过了")]).await.unwrap();
        }
        let head = f.store.head().await.unwrap().unwrap();
        assert_eq!(head.position, Position(39));
        match verify_store(&*f.store, |_| {}).await.unwrap() {
            Verification::Intact { events, head: Some((position, hash)) } => {
                assert_eq!(events, 40);
                assert_eq!((position, hash), (head.position, head.hash));
            }
            other => panic!("{other:?}"),
        }
    }

    async fn written(store: &dyn EventStore) -> Vec<redress_schemas::WrittenEvent> {
        store.read_written(Position(0), 10_000).await.unwrap().events
    }

    pub async fn an_export_imports_into_an_empty_store_with_the_same_head_hash(open: Opener) {
        let source = open().await;
        for i in 0..10 {
            let s = complaint(&format!("x{i}"));
            let batch = vec![received(&s), offered(&s, "s1"), accepted(&s, "s1")];
            source.store.append(&s, ExpectedVersion::NoStream, batch).await.unwrap();
        }
        // Through JSON, as an export file carries it.
        let lines: Vec<String> = written(&*source.store).await.iter().map(|e| e.to_json().to_string()).collect();
        let parsed: Vec<_> = lines
            .iter()
            .map(|l| redress_schemas::WrittenEvent::from_json(serde_json::from_str(l).unwrap()).unwrap())
            .collect();
        let target = open().await;
        for chunk in parsed.chunks(7) {
            target.store.import(chunk.to_vec()).await.unwrap();
        }
        assert_eq!(target.store.head().await.unwrap(), source.store.head().await.unwrap());
        assert_eq!(read_everything(&*target.store).await, read_everything(&*source.store).await);
        assert!(verify_store(&*target.store, |_| {}).await.unwrap().is_intact());
        // The imported history is live history: its lifecycle state continues.
        let s = complaint("x3");
        let err = target.store.append(&s, ExpectedVersion::Any, vec![accepted(&s, "s1")]).await.unwrap_err();
        assert!(matches!(err, StoreError::Lifecycle { .. }), "{err:?}");
        target.store.append(&s, ExpectedVersion::Exact(2), vec![progress(&s, "continues")]).await.unwrap();
    }

    pub async fn an_import_that_does_not_continue_the_chain_is_refused_whole(open: Opener) {
        let source = open().await;
        for i in 0..4 {
            let s = complaint(&format!("y{i}"));
            source.store.append(&s, ExpectedVersion::NoStream, vec![received(&s), progress(&s, "a")]).await.unwrap();
        }
        let events = written(&*source.store).await;
        let target = open().await;
        // Tamper with one event's data: its hash no longer matches.
        let mut tampered = events.clone();
        tampered[5].data["note"] = serde_json::json!("edited");
        let err = target.store.import(tampered).await.unwrap_err();
        assert!(matches!(err, StoreError::ImportRejected { position: Position(5), .. }), "{err:?}");
        assert_eq!(target.store.head().await.unwrap(), None, "all or nothing");
        // Starting in the middle does not continue an empty store.
        let err = target.store.import(events[2..].to_vec()).await.unwrap_err();
        assert!(matches!(err, StoreError::ImportRejected { position: Position(2), .. }), "{err:?}");
        // Importing twice: the second time the positions are taken.
        target.store.import(events.clone()).await.unwrap();
        assert!(matches!(target.store.import(events).await, Err(StoreError::ImportRejected { .. })));
    }

    pub async fn recorded_by_is_stored_read_back_and_covered_by_the_hash(open: Opener) {
        use redress_schemas::RecordedBy;
        let f = open().await;
        let s = complaint("rb");
        let callcenter = RecordedBy::credential("callcenter").unwrap();
        f.store
            .append(&s, ExpectedVersion::NoStream, vec![received(&s).recorded_by(callcenter.clone())])
            .await
            .unwrap();
        f.store.append(&s, ExpectedVersion::Exact(0), vec![progress(&s, "no name given")]).await.unwrap();
        let read = read_everything(&*f.store).await;
        assert_eq!(read[0].recorded_by, Some(callcenter.clone()));
        assert_eq!(read[1].recorded_by, Some(RecordedBy::unattributed()), "the engine never leaves it out");
        assert_eq!(f.store.read_stream(&s, 0, Direction::Forward, 10).await.unwrap().events, read);
        assert!(verify_store(&*f.store, |_| {}).await.unwrap().is_intact());
        let events = written(&*f.store).await;
        assert_eq!(events[0].to_json()["recorded_by"], json!("callcenter"));
        // Forging, swapping or dropping the name breaks the chain at that event.
        let forged = |change: &dyn Fn(&mut redress_schemas::WrittenEvent)| {
            let mut copy = events.clone();
            change(&mut copy[0]);
            let mut verifier = redress_engine::ChainVerifier::default();
            copy.iter().try_for_each(|e| verifier.check(e)).unwrap_err().0
        };
        let head_of_service = RecordedBy::credential("head-of-service").unwrap();
        assert_eq!(forged(&|e| e.header.recorded_by = Some(head_of_service.clone())), Position(0));
        assert_eq!(forged(&|e| e.header.recorded_by = None), Position(0));
        // A retry through another credential is a retry, and the event keeps its first name.
        let id = redress_schemas::EventId(uuid::Uuid::from_u128(0xb0b));
        let note = |by: &str| with_id(progress(&s, "retried"), 0xb0b).recorded_by(RecordedBy::credential(by).unwrap());
        let first = f.store.append(&s, ExpectedVersion::Exact(1), vec![note("callcenter")]).await.unwrap();
        let retry = f.store.append(&s, ExpectedVersion::Exact(1), vec![note("backoffice")]).await.unwrap();
        assert!(retry.idempotent_retry && retry.result == first.result);
        let stored = read_everything(&*f.store).await.into_iter().find(|e| e.event_id == id).unwrap();
        assert_eq!(stored.recorded_by, Some(callcenter));
    }

    pub async fn history_without_recorded_by_imports_and_new_events_chain_after_it(open: Opener) {
        let f = open().await;
        let s = complaint("old-rb");
        let history = exported(
            vec![(1, &s, EventType::ComplaintReceived, 1, "2024-03-01T08:00:00Z", received(&s).data.to_json_value())],
            "2024-03-01T09:00:00Z",
        );
        f.store.import(history.clone()).await.expect("history from before v1.1 imports as written");
        f.store.append(&s, ExpectedVersion::Exact(0), vec![progress(&s, "after the upgrade")]).await.unwrap();
        let events = written(&*f.store).await;
        assert_eq!(events[0], history[0], "the old event is stored and read back byte for byte as written");
        assert_eq!(events[0].to_json().get("recorded_by"), None, "an old event has no recorded_by");
        assert!(events[1].header.recorded_by.is_some());
        assert!(verify_store(&*f.store, |_| {}).await.unwrap().is_intact());
        // Both layouts travel through an export file into another store and keep the head hash.
        let lines: Vec<String> = events.iter().map(|e| e.to_json().to_string()).collect();
        let verified = redress_engine::verify_export(lines.join("\n").as_bytes(), |_| {}).unwrap();
        assert!(verified.is_intact(), "{verified:?}");
        let target = open().await;
        let parsed =
            lines.iter().map(|l| redress_schemas::WrittenEvent::from_json(serde_json::from_str(l).unwrap()).unwrap());
        target.store.import(parsed.collect()).await.unwrap();
        assert_eq!(target.store.head().await.unwrap(), f.store.head().await.unwrap());
        assert_eq!(written(&*target.store).await, events);
    }
}

/// The suite cannot drift from its cases: every `pub async fn` of `cases` is listed in
/// `conformance_suite!` for every backend (a listed name that is no case does not compile).
#[test]
fn every_case_is_listed_in_the_suite() {
    let source = include_str!("conformance.rs");
    let defined: BTreeSet<&str> = source
        .lines()
        .skip_while(|line| *line != "pub mod cases {")
        .take_while(|line| *line != "}")
        .filter_map(|line| line.trim_start().strip_prefix("pub async fn "))
        .map(|rest| rest.split(['(', '<']).next().unwrap_or(rest).trim())
        .collect();
    assert!(defined.len() > 20, "found the cases module: {defined:?}");
    for (backend, listed) in [("sled", sled::CASES), ("postgres", postgres::CASES)] {
        let listed: BTreeSet<&str> = listed.iter().copied().collect();
        let missing: Vec<_> = defined.difference(&listed).collect();
        assert!(missing.is_empty(), "cases not run on {backend}: add them to conformance_suite!: {missing:?}");
        assert_eq!(listed, defined, "{backend}");
    }
}
