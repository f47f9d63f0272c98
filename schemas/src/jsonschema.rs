//! The catalogue as JSON Schema (draft-07), one document per event type, for publishing services that
//! want to validate an event before they send it. `schemas/json/` holds the generated files; a test
//! keeps them equal to the code.

use crate::catalogue::EventType;
use crate::envelope::METADATA_ENTRIES_MAX;
use crate::time::TIMESTAMP_PATTERN;
use serde_json::{json, Value};

/// What a publisher must know about `event_id` that a type cannot say (EVENTS.md v1.1).
const EVENT_ID_DESCRIPTION: &str = "The event's identity. Sent again with the same content (stream, event_type, \
    data, metadata) it is a retry, answered with the first result; with other content it is refused (409 \
    idempotency_conflict). Absent: the store assigns one, and a retry cannot be recognised.";

/// What a publisher must know about `occurred_at` that a type cannot say (EVENTS.md v1.1).
const OCCURRED_AT_DESCRIPTION: &str = "When it happened in the world. Absent: when the store records it. Never \
    later than that plus the allowed clock skew (default 5 minutes); in a complaint stream never earlier than \
    the complaint's complaint_received.";

/// The JSON Schema of one event object of an append request (`event_id`, `event_type`, `occurred_at`,
/// `metadata`, `data`) for `event_type`.
pub fn event_schema(event_type: EventType) -> Value {
    let data = serde_json::to_value(event_type.data_schema()).expect("schemars output is JSON");
    let mut data = data.as_object().cloned().unwrap_or_default();
    let definitions = data.remove("definitions").unwrap_or_else(|| json!({}));
    data.remove("$schema");
    data.remove("title");
    if event_type == EventType::StandardAnswerRevised {
        // "At least one field": a rule of the type that its struct of optional fields cannot say. A
        // given field is a value (the type says so), so serde's `default: null` does not apply.
        data.insert("minProperties".into(), json!(1));
        if let Some(Value::Object(properties)) = data.get_mut("properties") {
            properties.values_mut().filter_map(Value::as_object_mut).for_each(|p| {
                p.remove("default");
            });
        }
    }
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": format!("https://redress.dev/schemas/{}.json", event_type.name()),
        "title": event_type.name(),
        "description": format!(
            "One `{}` event of an append request (schema version {}). Stream kind: {:?}.",
            event_type.name(), event_type.schema_version(), event_type.stream_kind()),
        "type": "object",
        "additionalProperties": false,
        "required": ["event_type", "data"],
        "properties": {
            "event_id": {"type": "string", "format": "uuid", "description": EVENT_ID_DESCRIPTION},
            "event_type": {"const": event_type.name()},
            "occurred_at": {
                "type": "string",
                "format": "date-time",
                "pattern": TIMESTAMP_PATTERN,
                "description": OCCURRED_AT_DESCRIPTION,
            },
            "metadata": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "maxProperties": METADATA_ENTRIES_MAX,
            },
            "data": Value::Object(data),
        },
        "definitions": definitions,
    })
}

/// Every event type's schema, as `(file name, pretty JSON)`.
pub fn all_schema_files() -> Vec<(String, String)> {
    EventType::ALL
        .iter()
        .map(|t| {
            let text = serde_json::to_string_pretty(&event_schema(*t)).expect("a Value always serializes");
            (format!("{}.json", t.name()), text + "\n")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_required_fields_and_bounds() {
        let schema = event_schema(EventType::RevisitDone);
        let data = &schema["properties"]["data"];
        let required: Vec<&str> = data["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(required.contains(&"satisfaction") && required.contains(&"via"));
        assert!(!required.contains(&"note"), "optional fields are not required");
        assert_eq!(data["properties"]["satisfaction"]["minimum"], 1.0);
        assert_eq!(data["properties"]["satisfaction"]["maximum"], 5.0);
        assert_eq!(data["additionalProperties"], false);
        assert_eq!(schema["properties"]["event_type"]["const"], "revisit_done");
    }

    #[test]
    fn a_revision_names_at_least_one_non_blank_field() {
        let data = &event_schema(EventType::StandardAnswerRevised)["properties"]["data"];
        assert_eq!(data["minProperties"], 1);
        assert_eq!(
            data["properties"]["title"]["type"], "string",
            "null is not offered: a revision of nulls is refused"
        );
        assert_eq!(data["properties"]["keywords"]["items"]["pattern"], "\\S");
    }

    #[test]
    fn required_text_must_hold_a_non_blank_character_and_instants_a_storable_year() {
        let data = &event_schema(EventType::CommitmentMade)["properties"]["data"];
        assert_eq!(data["properties"]["what"]["pattern"], "\\S", "validate_values refuses blank text");
        assert_eq!(data["properties"]["due_at"]["allOf"][0]["$ref"], "#/definitions/Timestamp");
        let schema = event_schema(EventType::CommitmentMade);
        assert_eq!(schema["definitions"]["Timestamp"]["pattern"], crate::TIMESTAMP_PATTERN);
        assert_eq!(schema["properties"]["occurred_at"]["pattern"], crate::TIMESTAMP_PATTERN);
    }

    #[test]
    fn enums_list_their_wire_values() {
        let schema = event_schema(EventType::ComplaintReceived);
        let channel = &schema["definitions"]["Channel"];
        let values: Vec<&str> = channel["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(values, ["hotline", "email", "web", "letter", "in_person", "survey", "social", "other"]);
    }

    #[test]
    fn the_committed_schema_files_match_the_code() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("json");
        let bless = std::env::var_os("REDRESS_BLESS").is_some();
        for (name, text) in all_schema_files() {
            let path = dir.join(&name);
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_else(|_| {
                panic!("{} is missing: run REDRESS_BLESS=1 cargo test -p redress-schemas", path.display())
            });
            assert_eq!(committed, text, "{name} is stale: run REDRESS_BLESS=1 cargo test -p redress-schemas");
        }
    }
}
