//! The contract shipped inside the binary, so datovcr works from any
//! directory. A test checks that this list matches the files in `schemas/`.

/// `(file name, contents)` of every file in `schemas/`.
pub const SCHEMA_FILES: &[(&str, &str)] = &[
    ("manifest.json", include_str!("../../schemas/manifest.json")),
    (
        "access-token.json",
        include_str!("../../schemas/access-token.json"),
    ),
    (
        "access-token-response.json",
        include_str!("../../schemas/access-token-response.json"),
    ),
    (
        "access-token-list-response.json",
        include_str!("../../schemas/access-token-list-response.json"),
    ),
    (
        "access-token-create-request.json",
        include_str!("../../schemas/access-token-create-request.json"),
    ),
    (
        "access-token-update-request.json",
        include_str!("../../schemas/access-token-update-request.json"),
    ),
    (
        "access-token-destroy-query.json",
        include_str!("../../schemas/access-token-destroy-query.json"),
    ),
    ("no-query.json", include_str!("../../schemas/no-query.json")),
    (
        "error-response.json",
        include_str!("../../schemas/error-response.json"),
    ),
    (
        "request-headers.json",
        include_str!("../../schemas/request-headers.json"),
    ),
    (
        "request-headers-with-body.json",
        include_str!("../../schemas/request-headers-with-body.json"),
    ),
    (
        "response-headers.json",
        include_str!("../../schemas/response-headers.json"),
    ),
];
