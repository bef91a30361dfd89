//! Query strings, parsed one way for every endpoint: each parameter named
//! at most once, only the parameters the endpoint documents, and values in
//! the documented form. Whatever is refused gets a 400 `bad_query` naming
//! the parameter, in our words (never a deserializer's).

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::{shown, AppError};

/// The parameters of one request.
#[derive(Debug, Default)]
pub struct Params(BTreeMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Params::parse(parts.uri.query().unwrap_or(""))
    }
}

fn bad(message: String) -> AppError {
    AppError::bad_request("bad_query", message)
}

impl Params {
    /// Parses `query` (without the `?`).
    ///
    /// # Errors
    /// 400 for a parameter given twice or not percent-decodable.
    pub fn parse(query: &str) -> Result<Params, AppError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| bad("the query string is not valid URL encoding".into()))?;
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            if map.contains_key(&k) {
                return Err(bad(format!(
                    "parameter {} is given more than once",
                    shown(&k)
                )));
            }
            map.insert(k, v);
        }
        Ok(Params(map))
    }

    /// Refuses any parameter not in `allowed`.
    ///
    /// # Errors
    /// 400 naming the first unknown parameter and the ones this endpoint takes.
    pub fn only(self, allowed: &[&str]) -> Result<Params, AppError> {
        if let Some(k) = self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(bad(if allowed.is_empty() {
                format!("unknown parameter {}: this endpoint takes none", shown(k))
            } else {
                format!(
                    "unknown parameter {}: this endpoint takes {}",
                    shown(k),
                    allowed.join(", ")
                )
            }));
        }
        Ok(self)
    }

    /// A parameter's text.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A parameter that is a whole number.
    ///
    /// # Errors
    /// 400 for anything else.
    pub fn u64(&self, name: &str) -> Result<Option<u64>, AppError> {
        self.str(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    bad(format!(
                        "{name} must be a whole number from 0 to {}; got {}",
                        u64::MAX,
                        shown(v)
                    ))
                })
            })
            .transpose()
    }

    /// A whole-number parameter that must be given.
    ///
    /// # Errors
    /// 400 when missing or not a whole number.
    pub fn required_u64(&self, name: &str) -> Result<u64, AppError> {
        self.u64(name)?
            .ok_or_else(|| bad(format!("{name} is required")))
    }

    /// A parameter that must be one of `values`.
    ///
    /// # Errors
    /// 400 for another value.
    pub fn one_of(&self, name: &str, values: &[&str]) -> Result<Option<&str>, AppError> {
        match self.str(name) {
            Some(v) if !values.contains(&v) => Err(bad(format!(
                "{name} must be one of {}; got {}",
                values.join(", "),
                shown(v)
            ))),
            v => Ok(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_unknowns_and_bad_values_are_refused_in_our_words() {
        let dup = Params::parse("wait=proof&wait=none").unwrap_err();
        assert!(dup.message.contains("more than once"), "{}", dup.message);
        let p = Params::parse("index=7&tree_size=x").unwrap();
        assert!(p
            .u64("tree_size")
            .unwrap_err()
            .message
            .contains("whole number"));
        assert_eq!(p.u64("index").unwrap(), Some(7));
        let unknown = Params::parse("index=1&bogus=2")
            .unwrap()
            .only(&["index"])
            .unwrap_err();
        assert!(unknown.message.contains("\"bogus\""), "{}", unknown.message);
        let w = Params::parse("wait=garbage").unwrap();
        assert!(w.one_of("wait", &["proof", "none"]).is_err());
        let long = format!("{}=1", "k".repeat(10_000));
        let e = Params::parse(&long).unwrap().only(&[]).unwrap_err();
        assert!(
            e.message.len() < 300,
            "the echo is bounded: {}",
            e.message.len()
        );
    }
}
