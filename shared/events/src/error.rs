/// Why a request could not be normalised. Each variant maps to one HTTP status and one
/// problem type, and its message names the field or the limit at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormaliseError {
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("JSON is nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("missing required field `{field}`")]
    MissingField { field: String },
    #[error("field `{field}` {problem}")]
    InvalidField { field: String, problem: String },
    #[error("missing required header `{name}`")]
    MissingHeader { name: String },
    #[error("header `{name}` {problem}")]
    InvalidHeader { name: String, problem: String },
    #[error("the request holds no event")]
    EmptyBatch,
    #[error("the request holds {count} events, over the limit of {limit} per request")]
    TooManyEvents { count: usize, limit: usize },
    #[error("the body is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("content type `{got}` is not supported here; send {expected}")]
    UnsupportedMediaType { got: String, expected: String },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("field `{field}`: {detail}")]
    SourceNotAllowed { field: String, detail: String },
}

impl NormaliseError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            NormaliseError::TooLarge { .. } => 413,
            NormaliseError::UnsupportedMediaType { .. } => 415,
            NormaliseError::Unauthenticated(_) => 401,
            NormaliseError::SourceNotAllowed { .. } => 403,
            _ => 400,
        }
    }

    /// A short stable name for the kind of problem, used in the problem type URI.
    pub fn slug(&self) -> &'static str {
        match self {
            NormaliseError::MalformedJson(_) => "malformed-json",
            NormaliseError::TooDeep { .. } => "json-too-deep",
            NormaliseError::MissingField { .. } => "missing-field",
            NormaliseError::InvalidField { .. } => "invalid-field",
            NormaliseError::MissingHeader { .. } => "missing-header",
            NormaliseError::InvalidHeader { .. } => "invalid-header",
            NormaliseError::EmptyBatch => "empty-batch",
            NormaliseError::TooManyEvents { .. } => "too-many-events",
            NormaliseError::TooLarge { .. } => "body-too-large",
            NormaliseError::UnsupportedMediaType { .. } => "unsupported-media-type",
            NormaliseError::Unauthenticated(_) => "unauthenticated",
            NormaliseError::SourceNotAllowed { .. } => "source-not-allowed",
        }
    }
}
