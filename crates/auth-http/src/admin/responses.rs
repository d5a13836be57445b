//! The problem responses that several operations document in the same
//! words, written once for their `#[utoipa::path(responses(...))]`; a
//! response only one operation gives stays in its own attribute.

use super::problem::ProblemDetails;

/// Each `Name: status, "description";` becomes a type whose
/// `IntoResponses` is that status with a problem+json [`ProblemDetails`]
/// body, as the tuple form `(status = …, description = …, body =
/// ProblemDetails, content_type = "application/problem+json")` documents it.
macro_rules! problem_responses {
    ($($name:ident: $status:tt, $description:tt;)*) => {$(
        #[doc = $description]
        #[derive(utoipa::IntoResponses)]
        #[response(status = $status, description = $description, content_type = "application/problem+json")]
        pub struct $name(pub ProblemDetails);
    )*};
}

/// Each `Name: "description";` becomes a type whose `IntoResponses` is
/// what the bearer check of an operation answers: 401 when the token is
/// missing or invalid, 403 (with that description) when it lacks the
/// operation's permission; both problem+json.
macro_rules! bearer_responses {
    ($($name:ident: $forbidden:tt;)*) => {$(
        #[doc = concat!("401, or 403: ", $forbidden)]
        #[derive(utoipa::IntoResponses)]
        pub enum $name {
            #[response(status = 401, description = "Missing or invalid bearer token", content_type = "application/problem+json")]
            Unauthorized(ProblemDetails),
            #[response(status = 403, description = $forbidden, content_type = "application/problem+json")]
            Forbidden(ProblemDetails),
        }
    )*};
}

bearer_responses! {
    BearerClientRead: "The token lacks client.read";
    BearerClientWrite: "The token lacks client.write";
    BearerClientWriteNoEscalation: "The token lacks client.write, or an admin permission that the affected service account grants (named in the detail)";
    BearerUsersRead: "The token lacks users.read";
    BearerUsersWriteNoEscalation: "The token lacks users.write, or an admin permission that the affected service account grants (named in the detail)";
}

problem_responses! {
    PublicClient: 400, "A public client";
    NoSuchClient: 404, "No such client";
    NoSuchAccount: 404, "No such account";
    IfMatchFailed: 412, "If-Match does not match the secret state";
    BodyTooLarge: 413, "Body over 64 KiB";
    NotJson: 415, "Not application/json";
    DatabaseUnavailable: 503, "Database unavailable";
}
