//! The error responses every route shares, added to the OpenAPI document
//! from each operation's shape. They come from extraction, authentication
//! and the body limit rather than from the handler, so a handler's own
//! annotation would forget them; deriving them here means no route can.
//!
//! A handler documents the statuses only it gives (409, 422 for a plugin
//! failure, 503); a status it documents itself keeps
//! its own description.

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, Type,
};

/// A shared response: its status, its name under `components.responses`,
/// and what it means.
struct Shared {
    status: &'static str,
    name: &'static str,
    description: &'static str,
}

const BAD_REQUEST: Shared = Shared {
    status: "400",
    name: "BadRequest",
    description: "the request is malformed: a path segment, query parameter or body that does not have the documented type or range (the message says which)",
};
const UNAUTHORIZED: Shared = Shared {
    status: "401",
    name: "Unauthorized",
    description: "no `Authorization: Bearer <token>` header (nor the console's session cookie), or a token or session that is unknown, revoked, ended or not valid",
};
/// Every secured route checks the caller's roles, if only to refuse a
/// scraper's token, so any of them may answer 403.
const FORBIDDEN: Shared = Shared {
    status: "403",
    name: "Forbidden",
    description: "the token's roles do not allow this (the message says which role it needs), or a state change by the console's session cookie without its `X-CSRF-Token`",
};
const NOT_FOUND: Shared = Shared {
    status: "404",
    name: "NotFound",
    description: "nothing has this id or name",
};
const PAYLOAD_TOO_LARGE: Shared = Shared {
    status: "413",
    name: "PayloadTooLarge",
    description: "the body is larger than the server accepts",
};

const ALL: [&Shared; 5] = [
    &BAD_REQUEST,
    &UNAUTHORIZED,
    &FORBIDDEN,
    &NOT_FOUND,
    &PAYLOAD_TOO_LARGE,
];

fn error_response(shared: &Shared) -> Response {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    let mut response = ResponseBuilder::new()
        .description(shared.description)
        .content("application/json", content);
    if shared.status == UNAUTHORIZED.status {
        response = response.header(
            "WWW-Authenticate",
            HeaderBuilder::new()
                .schema(utoipa::openapi::ObjectBuilder::new().schema_type(Type::String))
                .description(Some("`Bearer`"))
                .build(),
        );
    }
    response.build()
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
        item.options.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The shared responses `operation` can give, from its shape.
fn shared_responses(operation: &Operation) -> Vec<&'static Shared> {
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let takes_input = !parameters.is_empty() || operation.request_body.is_some();
    let has_path_parameter = parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Path);
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let mut shared = Vec::new();
    if takes_input {
        shared.push(&BAD_REQUEST);
    }
    if secured {
        shared.push(&UNAUTHORIZED);
        shared.push(&FORBIDDEN);
    }
    if has_path_parameter {
        shared.push(&NOT_FOUND);
    }
    if operation.request_body.is_some() {
        shared.push(&PAYLOAD_TOO_LARGE);
    }
    shared
}

/// Adds the shared error responses to every operation of `doc`.
pub fn complete(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    for shared in ALL {
        components
            .responses
            .insert(shared.name.to_string(), RefOr::T(error_response(shared)));
    }
    for item in doc.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            for shared in shared_responses(operation) {
                operation
                    .responses
                    .responses
                    .entry(shared.status.to_string())
                    .or_insert_with(|| {
                        RefOr::Ref(Ref::new(format!("#/components/responses/{}", shared.name)))
                    });
            }
        }
    }
}
