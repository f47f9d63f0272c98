//! The canonical form of an event that the audit hash chain covers.
//!
//! It is defined on the JSON envelope, not on the storage format, so an auditor can recompute every hash
//! from an export with any SHA-256 and any RFC 8785 (JCS) JSON canonicaliser, and a change of storage
//! codec never changes a hash. The layout (integers big-endian, `str` = u32 length + UTF-8 bytes):
//!
//! ```text
//! "RDX1" | position u64 | stream str | version u64 | event_id 16 bytes | event_type str
//!        | schema_version u16 | occurred_at i64 ns | recorded_at i64 ns | metadata json | data json
//! hash(n) = SHA-256(hash(n-1) | canonical(n)),   hash(-1) = 32 zero bytes
//! ```
//!
//! An event that carries `recorded_by` (v1.1: every event the engine writes from then on) uses tag
//! `"RDX2"` and the same layout with `recorded_by str` after `recorded_at`. An event without it (written
//! before v1.1) keeps the `"RDX1"` layout, so every old hash is reproduced byte for byte.
//!
//! `json` is the value in JCS form (keys sorted by UTF-16 code units, no white space), with object members
//! whose value is `null` left out: for Redress an absent optional field and a `null` one are the same.

use serde_json::Value;

/// The tag in front of every canonical form without `recorded_by`; a new layout gets a new tag.
pub const CANONICAL_TAG: &[u8; 4] = b"RDX1";

/// The tag of the layout that covers `recorded_by` (v1.1).
pub const CANONICAL_TAG_RECORDED_BY: &[u8; 4] = b"RDX2";

/// Writes `value` in canonical JSON form (JCS, nulls dropped from objects) to `out`.
pub fn write_canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Payloads hold only integers; serde_json prints them in their one shortest form.
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical_json(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().filter(|(_, v)| !v.is_null()).collect();
            members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_string(key, out);
                out.push(b':');
                write_canonical_json(item, out);
            }
            out.push(b'}');
        }
    }
}

fn write_json_string(s: &str, out: &mut Vec<u8>) {
    // serde_json escapes exactly as JCS does: `"` `\` and control characters, short forms where they exist.
    serde_json::to_writer(&mut *out, s).expect("writing a string to a Vec cannot fail");
}

/// Appends `bytes` with a u32 big-endian length prefix.
pub(crate) fn put_str(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("event fields are bounded far below 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: Value) -> String {
        let mut out = Vec::new();
        write_canonical_json(&v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn keys_are_sorted_and_nulls_dropped() {
        assert_eq!(canon(json!({"b": 1, "a": [true, null], "c": null})), r#"{"a":[true,null],"b":1}"#);
    }

    #[test]
    fn strings_escape_like_jcs() {
        assert_eq!(canon(json!("a\"b\\c\n\u{1}中")), "\"a\\\"b\\\\c\\n\\u0001中\"");
    }

    #[test]
    fn key_order_is_utf16_not_utf8() {
        // U+E000 sorts after U+1F600 in UTF-8 but before it in UTF-16 (surrogates are 0xD8xx).
        assert_eq!(canon(json!({"\u{E000}": 1, "\u{1F600}": 2})), "{\"\u{1F600}\":2,\"\u{E000}\":1}");
    }
}
