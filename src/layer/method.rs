//! HTTP methods normalised to the bounded set the semantic conventions allow.

/// An HTTP request method as recorded on spans and metrics.
///
/// The semantic conventions allow only the methods of RFC 9110 plus `PATCH`; anything else is
/// recorded as `_OTHER` (with the original on the span as `http.request.method_original`), so a
/// client inventing methods cannot grow metric cardinality.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum HttpMethod {
    /// `GET`
    Get = 0,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `CONNECT`
    Connect,
    /// `OPTIONS`
    Options,
    /// `TRACE`
    Trace,
    /// `PATCH`
    Patch,
    /// Any other method, recorded as `_OTHER`.
    Other,
}

impl HttpMethod {
    /// Number of variants, for tables indexed by method.
    pub const COUNT: usize = 10;

    /// All variants in index order.
    pub const ALL: [HttpMethod; Self::COUNT] = [
        Self::Get,
        Self::Head,
        Self::Post,
        Self::Put,
        Self::Delete,
        Self::Connect,
        Self::Options,
        Self::Trace,
        Self::Patch,
        Self::Other,
    ];

    /// Classifies a request method.
    ///
    /// ```
    /// use pulsecheck::layer::HttpMethod;
    /// assert_eq!(HttpMethod::from_http(&http::Method::GET), HttpMethod::Get);
    /// let odd = http::Method::from_bytes(b"BREW").unwrap();
    /// assert_eq!(HttpMethod::from_http(&odd).as_str(), "_OTHER");
    /// ```
    pub fn from_http(method: &http::Method) -> Self {
        match method.as_str() {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            "CONNECT" => Self::Connect,
            "OPTIONS" => Self::Options,
            "TRACE" => Self::Trace,
            "PATCH" => Self::Patch,
            _ => Self::Other,
        }
    }

    /// The `http.request.method` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Options => "OPTIONS",
            Self::Trace => "TRACE",
            Self::Patch => "PATCH",
            Self::Other => "_OTHER",
        }
    }

    /// The first word of the span name: the method, or `HTTP` when it is unknown.
    pub(crate) fn span_prefix(self) -> &'static str {
        match self {
            Self::Other => "HTTP",
            known => known.as_str(),
        }
    }

    /// Position in [`HttpMethod::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips_through_its_index() {
        for (i, m) in HttpMethod::ALL.iter().enumerate() {
            assert_eq!(m.index(), i);
            if *m != HttpMethod::Other {
                let parsed = http::Method::from_bytes(m.as_str().as_bytes()).unwrap();
                assert_eq!(HttpMethod::from_http(&parsed), *m);
            }
        }
    }

    #[test]
    fn unknown_method_is_other_and_named_http() {
        let m = HttpMethod::from_http(&http::Method::from_bytes(b"PROPFIND").unwrap());
        assert_eq!(m, HttpMethod::Other);
        assert_eq!(m.as_str(), "_OTHER");
        assert_eq!(m.span_prefix(), "HTTP");
    }
}
