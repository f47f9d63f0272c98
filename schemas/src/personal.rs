//! Which fields of a payload are personal data (EVENTS.md "Personal data (v1.1)").
//!
//! The engine seals these fields with the customer's data key before an event is hashed, and reads
//! show them as [`ERASED_TEXT`] once the key is destroyed. The lists are exhaustive `match`es, so a new
//! event type cannot be added without deciding which of its fields are personal.

use crate::catalogue::EventData;

/// What a read shows in place of a personal field whose customer's key was destroyed.
pub const ERASED_TEXT: &str = "[erased]";

impl EventData {
    /// The personal free-text fields this payload holds (`description`, `message`, `note`, `comment`,
    /// `reason`, `what`, `gift`; absent optional ones are left out), by field name, in a fixed order.
    /// Only complaint events are about a customer; answers, problems and the erasure record hold none.
    pub fn personal_texts_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        let mut texts: Vec<(&'static str, &mut String)> = Vec::new();
        match self {
            EventData::ComplaintReceived(d) => texts.push(("description", &mut d.description)),
            EventData::ComplaintAcknowledged(d) => texts.push(("message", &mut d.message)),
            EventData::ApologySent(d) => texts.push(("message", &mut d.message)),
            EventData::SolutionOffered(d) => texts.push(("description", &mut d.description)),
            EventData::SolutionRejected(d) => texts.push(("reason", &mut d.reason)),
            EventData::CommitmentMade(d) => texts.push(("what", &mut d.what)),
            EventData::ProgressUpdated(d) => texts.push(("note", &mut d.note)),
            EventData::Escalated(d) => texts.push(("reason", &mut d.reason)),
            EventData::SolutionDelivered(d) => texts.push(("note", &mut d.note)),
            EventData::ResolutionConfirmed(d) => texts.extend(d.comment.as_mut().map(|t| ("comment", t))),
            EventData::RevisitDone(d) => texts.extend(d.note.as_mut().map(|t| ("note", t))),
            EventData::ApologyVisitMade(d) => {
                texts.extend(d.gift.as_mut().map(|t| ("gift", t)));
                texts.extend(d.note.as_mut().map(|t| ("note", t)));
            }
            EventData::ComplaintReopened(d) => texts.push(("reason", &mut d.reason)),
            EventData::ComplaintAssigned(d) => texts.extend(d.note.as_mut().map(|t| ("note", t))),
            EventData::WaitingOnCustomer(d) => texts.push(("reason", &mut d.reason)),
            EventData::CustomerResponded(d) => texts.extend(d.note.as_mut().map(|t| ("note", t))),
            EventData::ComplaintLinked(d) => texts.extend(d.note.as_mut().map(|t| ("note", t))),
            EventData::CauseAnalyzed(_)
            | EventData::SolutionAccepted(_)
            | EventData::StandardAnswerUsed(_)
            | EventData::ComplaintClosed(_)
            | EventData::StandardAnswerPublished(_)
            | EventData::StandardAnswerRevised(_)
            | EventData::StandardAnswerRetired(_)
            | EventData::ProblemIdentified(_)
            | EventData::CorrectiveActionTaken(_)
            | EventData::ProblemResolved(_)
            | EventData::ProblemReopened(_)
            | EventData::CustomerDataErased(_) => {}
        }
        texts
    }

    /// The customer this payload names, if it names one (`complaint_received`, `customer_data_erased`).
    pub fn customer_id(&self) -> Option<&str> {
        match self {
            EventData::ComplaintReceived(d) => Some(&d.customer_id),
            EventData::CustomerDataErased(d) => Some(&d.customer_id),
            _ => None,
        }
    }

    /// The customer id field of a `complaint_received`, to be shown as a pseudonym after erasure.
    pub fn customer_id_mut(&mut self) -> Option<&mut String> {
        match self {
            EventData::ComplaintReceived(d) => Some(&mut d.customer_id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::catalogue::*;

    #[test]
    fn every_personal_field_of_a_complaint_event_is_listed_and_others_are_not() {
        let mut received = EventData::ComplaintReceived(ComplaintReceived {
            complaint_id: "C-1".into(),
            customer_id: "K-1".into(),
            channel: Channel::Hotline,
            category: "delivery".into(),
            severity: Severity::High,
            description: "my phone 138".into(),
            product: Some("phone".into()),
            customer_tier: None,
        });
        let names: Vec<&str> = received.personal_texts_mut().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["description"]);
        let mut visit = EventData::ApologyVisitMade(ApologyVisitMade {
            visitor: "manager".into(),
            gift: Some("flowers".into()),
            note: None,
        });
        let names: Vec<&str> = visit.personal_texts_mut().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["gift"], "an absent optional text is not listed; the visitor is staff, not personal");
        let mut retired = EventData::StandardAnswerRetired(StandardAnswerRetired { reason: "old".into() });
        assert!(retired.personal_texts_mut().is_empty(), "answers are not about a customer");
    }
}
