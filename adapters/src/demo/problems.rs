//! Problems (root causes) the desk tracks in `problem-<id>` streams (EVENTS.md v1.1): recurring causes of the
//! catalogue, identified once they recur, with a corrective action mid-year. Most actions work (complaints with
//! that cause become rare), one does not (they keep coming), one problem is verified resolved, and one is
//! resolved and then reopened.
//!
//! Complaints whose analysis finds a problem's root cause are linked to it (`same_problem`), after the problem
//! stream exists in the log: when analysed after the problem was identified, soon after the analysis; when
//! analysed in the weeks before, once the problem is identified.

use super::catalogue::GATEWAY_CALLBACK;
use super::catalogue::{Cause, CARRIER_BACKLOG, FIRMWARE_DEFECT, PANEL_BATCH, PARTS_STOCKOUT, ROLLER_WEAR};
use super::rng::Rng;
use super::timeline::{Planned, DAY, HOUR, MINUTE};
use super::{DemoConfig, APPEND_WINDOW_SECONDS};
use redress_schemas::{
    ComplaintLinked, CorrectiveActionTaken, EventData, LinkRelation, ProblemIdentified, ProblemReopened,
    ProblemResolved, StreamName, Timestamp,
};

/// Complaints analysed up to this long before a problem was identified are linked when it is.
const LINK_BACK_SECONDS: i64 = 60 * DAY;
/// A link comes at least this long after its problem was identified: its append (which may start up to the
/// append window earlier) then follows the problem's first append in the log.
const LINK_AFTER_IDENTIFIED_SECONDS: i64 = APPEND_WINDOW_SECONDS + HOUR;

/// One problem of the year, its instants as fractions of the year.
struct ProblemPlan {
    problem_id: &'static str,
    cause: Cause,
    category: &'static str,
    identified: f64,
    action: f64,
    /// Whether the corrective action removed the cause (until a reopen).
    worked: bool,
    resolved: Option<(f64, &'static str)>,
    reopened: Option<(f64, &'static str)>,
}

const PLANS: &[ProblemPlan] = &[
    ProblemPlan {
        problem_id: "PRB-01",
        cause: CARRIER_BACKLOG,
        category: "delivery",
        identified: 0.08,
        action: 0.30,
        worked: false,
        resolved: None,
        reopened: None,
    },
    ProblemPlan {
        problem_id: "PRB-02",
        cause: PANEL_BATCH,
        category: "product_quality",
        identified: 0.12,
        action: 0.25,
        worked: true,
        resolved: Some((0.45, "连续八周无同批次面板投诉，来料检验抽检合格 / no panel complaints of the batch for eight weeks; incoming inspection passed")),
        reopened: None,
    },
    ProblemPlan {
        problem_id: "PRB-03",
        cause: PARTS_STOCKOUT,
        category: "repair",
        identified: 0.15,
        action: 0.40,
        worked: true,
        resolved: None,
        reopened: None,
    },
    ProblemPlan {
        problem_id: "PRB-04",
        cause: ROLLER_WEAR,
        category: "product_quality",
        identified: 0.20,
        action: 0.35,
        worked: true,
        resolved: Some((0.50, "更换后抽查 200 台无卡纸 / 200 swapped units sampled without a jam")),
        reopened: Some((0.70, "非更换批次的搓纸轮也出现磨损 / rollers outside the swapped batch wear too")),
    },
    ProblemPlan {
        problem_id: "PRB-05",
        cause: GATEWAY_CALLBACK,
        category: "billing",
        identified: 0.30,
        action: 0.42,
        worked: true,
        resolved: None,
        reopened: None,
    },
    ProblemPlan {
        problem_id: "PRB-06",
        cause: FIRMWARE_DEFECT,
        category: "product_quality",
        identified: 0.50,
        action: 0.66,
        worked: true,
        resolved: None,
        reopened: None,
    },
];

/// The year's problems, their instants placed in the demo's year.
pub(super) struct Problems {
    problems: Vec<Problem>,
}

struct Problem {
    plan: &'static ProblemPlan,
    stream: StreamName,
    identified_at: Timestamp,
    action_at: Timestamp,
    resolved_at: Option<Timestamp>,
    reopened_at: Option<Timestamp>,
}

impl Problems {
    /// The problems of `config`'s year; none in a demo without complaints (a problem is found in complaints).
    pub(super) fn plan(config: &DemoConfig) -> Problems {
        if config.complaints == 0 {
            return Problems { problems: Vec::new() };
        }
        let start = config.start.unix_nanos();
        let span = config.end().unix_nanos() - start;
        let at = |fraction: f64| {
            let nanos = start + (span as f64 * fraction) as i64;
            Timestamp::from_unix_nanos(nanos - nanos.rem_euclid(1_000_000_000))
        };
        let problems = PLANS
            .iter()
            .map(|plan| Problem {
                plan,
                stream: StreamName::problem(plan.problem_id).expect("problem ids are ASCII letters, digits and '-'"),
                identified_at: at(plan.identified),
                action_at: at(plan.action),
                resolved_at: plan.resolved.map(|(f, _)| at(f)),
                reopened_at: plan.reopened.map(|(f, _)| at(f)),
            })
            .collect();
        Problems { problems }
    }

    /// Each problem's stream and history.
    pub(super) fn histories(&self) -> Vec<(StreamName, Vec<Planned>)> {
        self.problems
            .iter()
            .map(|p| {
                let cause = p.plan.cause;
                let mut events = vec![Planned {
                    at: p.identified_at,
                    data: EventData::ProblemIdentified(ProblemIdentified {
                        problem_id: p.plan.problem_id.to_owned(),
                        title: format!("反复出现：{}", cause.text),
                        category: p.plan.category.to_owned(),
                        root_cause: cause.text.to_owned(),
                        responsible_department: cause.department.to_owned(),
                    }),
                    actor: "quality-manager".to_owned(),
                    source: "qms",
                }];
                let owner = format!("{}-lead", cause.department.replace('_', "-"));
                events.push(Planned {
                    at: p.action_at,
                    data: EventData::CorrectiveActionTaken(CorrectiveActionTaken {
                        action: cause.corrective.to_owned(),
                        owner: owner.clone(),
                        due_at: Some(p.action_at.plus_seconds(30 * DAY)),
                    }),
                    actor: owner,
                    source: "qms",
                });
                if let (Some(at), Some((_, verification))) = (p.resolved_at, p.plan.resolved) {
                    events.push(Planned {
                        at,
                        data: EventData::ProblemResolved(ProblemResolved { verification: verification.to_owned() }),
                        actor: "quality-manager".to_owned(),
                        source: "qms",
                    });
                }
                if let (Some(at), Some((_, reason))) = (p.reopened_at, p.plan.reopened) {
                    events.push(Planned {
                        at,
                        data: EventData::ProblemReopened(ProblemReopened { reason: reason.to_owned() }),
                        actor: "quality-manager".to_owned(),
                        source: "qms",
                    });
                }
                (p.stream.clone(), events)
            })
            .collect()
    }

    /// Whether a corrective action that worked has removed `root_cause` by `at` (and no reopen brought it back).
    /// The action takes a couple of weeks to reach the field.
    pub(super) fn removed(&self, root_cause: &str, at: Timestamp) -> bool {
        self.problems.iter().any(|p| {
            p.plan.worked
                && p.plan.cause.text == root_cause
                && at > p.action_at.plus_seconds(14 * DAY)
                && p.reopened_at.is_none_or(|reopened| at < reopened)
        })
    }

    /// Links a complaint analysed at `analysed_at` with `root_cause` to its problem, if it has one the link
    /// can follow: returns the link event. Most are linked; some are missed.
    pub(super) fn link(&self, rng: &mut Rng, root_cause: &str, analysed_at: Timestamp) -> Option<Planned> {
        let problem = self.problems.iter().find(|p| p.plan.cause.text == root_cause)?;
        if !rng.chance(0.9) {
            return None;
        }
        let earliest = problem.identified_at.plus_seconds(LINK_AFTER_IDENTIFIED_SECONDS);
        let at = if analysed_at >= problem.identified_at {
            analysed_at.plus_seconds(rng.range(10 * MINUTE, DAY))
        } else if analysed_at.plus_seconds(LINK_BACK_SECONDS) >= problem.identified_at {
            problem.identified_at.plus_seconds(rng.range(2 * HOUR, 3 * DAY))
        } else {
            return None;
        };
        let data = EventData::ComplaintLinked(ComplaintLinked {
            target: problem.stream.as_str().to_owned(),
            relation: LinkRelation::SameProblem,
            note: None,
        });
        Some(Planned {
            at: at.max(earliest),
            data,
            actor: format!("quality-engineer-{}", rng.range(1, 4)),
            source: "qms",
        })
    }
}
