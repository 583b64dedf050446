//! Text fields the API takes: each rule the server checks sits next to the
//! JSON Schema that states it, so `/openapi.json` and the server agree on
//! what is valid (schemathesis checks both directions). Lengths count
//! characters, as JSON Schema does.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Array, Object};

/// Ids, names and keys that end up in paths, logs and metric labels.
pub const MAX_ID_CHARS: usize = 128;

/// One character that is neither whitespace (as `char::is_whitespace`
/// reads it) nor a control character (`char::is_control`).
const VISIBLE: &str =
    "[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
/// One character that is not a control character.
const NOT_CONTROL: &str = "[^\\u0000-\\u001f\\u007f-\\u009f]";
/// A capability, `category:skill`: two parts, neither with a colon or
/// whitespace.
const CAPABILITY: &str = "^[^:\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+:[^:\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+$";
/// One character that is not whitespace. Unanchored, a pattern made of it
/// says "not blank".
const NOT_SPACE: &str =
    "[^\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";

pub fn is_blank(value: &str) -> bool {
    value.trim().is_empty()
}

pub fn char_len(value: &str) -> usize {
    value.chars().count()
}

/// Why a text field was refused. Each variant names the field, as the
/// request spells it, so the client can tell which one to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    #[error("`{field}` is empty")]
    Empty { field: String },
    #[error("`{field}` is {length} characters long; at most {max}")]
    TooLong {
        field: String,
        length: usize,
        max: usize,
    },
    #[error("`{field}` contains a control character")]
    ControlCharacter { field: String },
    #[error("`{field}` must be 1 to {max} characters, not blank")]
    BlankOrTooLong { field: String, max: usize },
}

/// An id: 1 to 128 characters, not blank, no control characters.
pub fn check_id(field: &str, value: &str) -> Result<(), TextError> {
    let field = || field.to_string();
    if is_blank(value) {
        return Err(TextError::Empty { field: field() });
    }
    if char_len(value) > MAX_ID_CHARS {
        return Err(TextError::TooLong {
            field: field(),
            length: char_len(value),
            max: MAX_ID_CHARS,
        });
    }
    if value.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter { field: field() });
    }
    Ok(())
}

/// Free text a person must fill in (a reason, a name): not blank, at most
/// `max` characters.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), TextError> {
    if is_blank(value) || char_len(value) > max {
        return Err(TextError::BlankOrTooLong {
            field: field.to_string(),
            max,
        });
    }
    Ok(())
}

fn string(nullable: bool) -> ObjectBuilder {
    let ty = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new().schema_type(ty)
}

fn id_schema(nullable: bool) -> Object {
    string(nullable)
        .min_length(Some(1))
        .max_length(Some(MAX_ID_CHARS))
        .pattern(Some(format!("^{NOT_CONTROL}*{VISIBLE}{NOT_CONTROL}*$")))
        .description(Some(
            "1 to 128 characters, not blank, no control characters",
        ))
        .build()
}

fn text_schema(max: Option<usize>) -> Object {
    string(false)
        .min_length(Some(1))
        .max_length(max)
        .pattern(Some(NOT_SPACE))
        .build()
}

/// `schema_with` targets: one per rule above.
pub fn id() -> Object {
    id_schema(false)
}
pub fn optional_id() -> Object {
    id_schema(true)
}
pub fn text_100() -> Object {
    text_schema(Some(100))
}
pub fn text_200() -> Object {
    text_schema(Some(200))
}
pub fn text_1000() -> Object {
    text_schema(Some(1000))
}
pub fn text() -> Object {
    text_schema(None)
}

fn capabilities(unique: bool) -> Array {
    ArrayBuilder::new()
        .items(
            string(false)
                .max_length(Some(100))
                .pattern(Some(CAPABILITY))
                .build(),
        )
        .min_items(Some(1))
        .unique_items(unique)
        .build()
}
/// An agent's capabilities: each listed once.
pub fn capability_set() -> Array {
    capabilities(true)
}
/// The capabilities a task needs.
pub fn capability_list() -> Array {
    capabilities(false)
}
