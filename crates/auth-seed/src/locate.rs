//! Line numbers for semantic errors. serde does not expose positions, but
//! serde_norway attaches the position of the node where an error happened.
//! So to find a node we walk the document down a path and fail on purpose
//! when we reach it: the error's location is the node's line. This works for
//! block and flow style alike, and costs one re-read of the file per located
//! error, which only happens for entries that are at fault.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a path into a seed document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

const MARKER: &str = "auth-seed-located-node";

/// The 1-based line of the node at `path`, if it exists.
pub(crate) fn line_of(source: &str, path: &[Seg<'_>]) -> Option<usize> {
    let de = serde_norway::Deserializer::from_str(source);
    match Probe(path).deserialize(de) {
        Err(e) if e.to_string().contains(MARKER) => e.location().map(|l| l.line()),
        _ => None,
    }
}

struct Probe<'p, 'a>(&'p [Seg<'a>]);

impl<'de> DeserializeSeed<'de> for Probe<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.0.split_first() {
            None => d.deserialize_any(Found),
            Some((seg, rest)) => d.deserialize_any(Walk { seg: *seg, rest }),
        }
    }
}

/// Fails whatever it is given; every default `visit_*` reports
/// `invalid type …, expected {expecting}`, so the marker is in the message.
struct Found;

impl<'de> Visitor<'de> for Found {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MARKER)
    }
}

struct Walk<'p, 'a> {
    seg: Seg<'a>,
    rest: &'p [Seg<'a>],
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a sequence")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<serde_norway::Value>()? {
            let hit = matches!(self.seg, Seg::Key(k) if key.as_str() == Some(k));
            if hit {
                return map.next_value_seed(Probe(self.rest));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Seg::Index(target) = self.seg else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut i = 0;
        loop {
            if i == target {
                return seq.next_element_seed(Probe(self.rest)).map(|_| ());
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
}

/// Splits serde_norway's `clients.confidential[1].scope: message` into the
/// path and the message. `None` when the message has no path prefix.
pub(crate) fn split_error_path(text: &str) -> Option<(Vec<Seg<'_>>, &str)> {
    let (prefix, rest) = text.split_once(": ")?;
    let mut segs = Vec::new();
    for part in prefix.split('.') {
        let (key, mut indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        let key_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !key_ok {
            return None;
        }
        segs.push(Seg::Key(key));
        while !indices.is_empty() {
            let close = indices.find(']')?;
            let n: usize = indices.get(1..close)?.parse().ok()?;
            segs.push(Seg::Index(n));
            indices = &indices[close + 1..];
            if !indices.is_empty() && !indices.starts_with('[') {
                return None;
            }
        }
    }
    Some((segs, rest))
}

/// The entry (`client "x"`, `service account "y"`, …) and field that a path
/// into a seed document points at, when the entry has a readable id.
pub(crate) fn entry_of(source: &str, path: &[Seg<'_>]) -> Option<(String, Option<String>)> {
    let doc: serde_norway::Value = serde_norway::from_str(source).ok()?;
    let (kind, id_key, entry_len) = match path {
        [Seg::Key("clients"), Seg::Key("confidential" | "public"), Seg::Index(_), ..] => {
            ("client", "client_id", 3)
        }
        [Seg::Key("serviceAccounts"), Seg::Index(_), ..] => ("service account", "id", 2),
        [Seg::Key("permissions"), Seg::Index(_), ..] => ("permission", "name", 2),
        [Seg::Key("roles"), Seg::Index(_), ..] => ("role", "name", 2),
        [Seg::Key("groups"), Seg::Index(_), ..] => ("group", "name", 2),
        _ => return None,
    };
    let mut node = &doc;
    for seg in &path[..entry_len] {
        node = match seg {
            Seg::Key(k) => node.get(*k)?,
            Seg::Index(i) => node.get(*i)?,
        };
    }
    let id = scalar_text(node.get(id_key)?)?;
    let field = match path.get(entry_len) {
        Some(Seg::Key(k)) => Some((*k).to_owned()),
        _ => None,
    };
    Some((format!("{kind} {id:?}"), field))
}

fn scalar_text(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
clients:
  public: []
  confidential:
    - client_id: a
      scope: read
    - client_id: b

      scope: write
      client_name: B
";

    #[test]
    fn finds_entries_and_fields_by_path() {
        let p = |segs: &[Seg<'_>]| line_of(DOC, segs);
        use Seg::{Index, Key};
        assert_eq!(p(&[Key("clients")]), Some(2));
        assert_eq!(p(&[Key("clients"), Key("confidential"), Index(0)]), Some(4));
        assert_eq!(
            p(&[Key("clients"), Key("confidential"), Index(1), Key("scope")]),
            Some(8)
        );
        assert_eq!(
            p(&[
                Key("clients"),
                Key("confidential"),
                Index(1),
                Key("client_name")
            ]),
            Some(9)
        );
        assert_eq!(p(&[Key("clients"), Key("confidential"), Index(2)]), None);
        assert_eq!(p(&[Key("nope")]), None);
    }

    #[test]
    fn finds_nodes_in_flow_style() {
        let doc = "serviceAccounts: [{id: a}, {id: b,\n roles: [X, Y]}]\n";
        use Seg::{Index, Key};
        assert_eq!(
            line_of(
                doc,
                &[Key("serviceAccounts"), Index(1), Key("roles"), Index(1)]
            ),
            Some(2)
        );
    }

    #[test]
    fn splits_serde_paths() {
        let (segs, rest) =
            split_error_path("clients.confidential[1].scope: invalid type: x").unwrap();
        assert_eq!(
            segs,
            vec![
                Seg::Key("clients"),
                Seg::Key("confidential"),
                Seg::Index(1),
                Seg::Key("scope")
            ]
        );
        assert_eq!(rest, "invalid type: x");
        assert!(split_error_path("unknown field `a`, expected `clients`").is_none());
        assert!(split_error_path("did not find expected key: x").is_none());
    }

    #[test]
    fn names_the_entry_of_a_path() {
        let (segs, _) = split_error_path("clients.confidential[1].scope: m").unwrap();
        assert_eq!(
            entry_of(DOC, &segs),
            Some(("client \"b\"".to_owned(), Some("scope".to_owned())))
        );
    }
}
