//! Properties of the parsers that read operator and client input: ISO-8601
//! durations (`APP_CLIENT_SECRET_TTL` and friends), RFC 6749 §3.3 scope
//! strings, and client ids. Each parser must never panic on any input,
//! accept exactly its grammar, and give back what was written.

use auth_domain::{parse_duration, ClientId, ClientIdError, ScopeError, ScopeSet};
use proptest::prelude::*;
use time::Duration;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// One duration written the way `java.time.Duration.parse` accepts it, with
/// the value it denotes in nanoseconds.
#[derive(Debug, Clone)]
struct Written {
    text: String,
    nanos: i128,
}

fn sign() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", "+", "-"])
}

fn written_duration() -> impl Strategy<Value = Written> {
    (
        sign(),
        prop::option::of((sign(), 0i64..100_000)),
        prop::option::of((sign(), 0i64..10_000)),
        prop::option::of((sign(), 0i64..10_000)),
        prop::option::of((
            sign(),
            0i64..1_000_000,
            prop::option::of("[0-9]{0,9}"),
            any::<bool>(),
        )),
        any::<bool>(),
    )
        .prop_filter("at least one part", |(_, d, h, m, s, _)| {
            d.is_some() || h.is_some() || m.is_some() || s.is_some()
        })
        .prop_map(|(whole, days, hours, minutes, seconds, lower)| {
            let signed = |s: &str, v: i128| if s == "-" { -v } else { v };
            let mut text = format!("{whole}P");
            let mut nanos: i128 = 0;
            if let Some((s, d)) = days {
                text.push_str(&format!("{s}{d}D"));
                nanos += signed(s, i128::from(d)) * 86_400 * NANOS_PER_SEC;
            }
            if hours.is_some() || minutes.is_some() || seconds.is_some() {
                text.push('T');
            }
            if let Some((s, h)) = hours {
                text.push_str(&format!("{s}{h}H"));
                nanos += signed(s, i128::from(h)) * 3_600 * NANOS_PER_SEC;
            }
            if let Some((s, m)) = minutes {
                text.push_str(&format!("{s}{m}M"));
                nanos += signed(s, i128::from(m)) * 60 * NANOS_PER_SEC;
            }
            if let Some((s, secs, fraction, comma)) = seconds {
                let mut value = i128::from(secs) * NANOS_PER_SEC;
                text.push_str(&format!("{s}{secs}"));
                if let Some(f) = fraction {
                    text.push(if comma { ',' } else { '.' });
                    text.push_str(&f);
                    if !f.is_empty() {
                        value += format!("{f:0<9}").parse::<i128>().unwrap();
                    }
                }
                text.push('S');
                // As in Java, a sign on the seconds covers the fraction too.
                nanos += signed(s, value);
            }
            if whole == "-" {
                nanos = -nanos;
            }
            if lower {
                text = text.to_ascii_lowercase();
            }
            Written { text, nanos }
        })
}

fn nanos_of(d: Duration) -> i128 {
    d.whole_nanoseconds()
}

/// Characters that occur in durations, plus a few that must never be accepted.
fn duration_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "P",
            "T",
            "D",
            "H",
            "M",
            "S",
            "Y",
            "W",
            "p",
            "t",
            "d",
            "h",
            "m",
            "s",
            "1",
            "0",
            "9",
            "-",
            "+",
            ".",
            ",",
            " ",
            "\u{0}",
            "é",
            "99999999999999999999",
        ]),
        0..16,
    )
    .prop_map(|v| v.concat())
}

fn scope_token() -> impl Strategy<Value = String> {
    // %x21 / %x23-5B / %x5D-7E: visible ASCII without '"' and '\'.
    "[!#-\\[\\]-~]{1,12}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn every_written_duration_parses_to_its_value(w in written_duration()) {
        let parsed = parse_duration(&w.text);
        prop_assert!(parsed.is_ok(), "{:?} was refused: {:?}", w.text, parsed);
        prop_assert_eq!(nanos_of(parsed.unwrap()), w.nanos, "{:?}", w.text);
    }

    #[test]
    fn any_text_is_a_duration_or_an_error_naming_it(text in any::<String>()) {
        match parse_duration(&text) {
            Ok(_) => prop_assert!(text.to_ascii_uppercase().contains('P')),
            Err(e) => prop_assert_eq!(e.input, text),
        }
    }

    #[test]
    fn duration_like_text_never_panics_and_never_takes_years_months_or_weeks(text in duration_like()) {
        let upper = text.to_ascii_uppercase();
        if let Ok(d) = parse_duration(&text) {
            // Only days, hours, minutes and seconds are units.
            prop_assert!(!upper.contains(['Y', 'W']), "{:?} gave {:?}", text, d);
            prop_assert!(!upper.contains(' ') && !upper.contains('\u{0}'), "{:?}", text);
            // An M is minutes only after T.
            if let Some(m) = upper.find('M') {
                prop_assert!(upper[..m].contains('T'), "{:?} read M as months", text);
            }
        }
    }

    #[test]
    fn a_duration_with_year_month_or_week_units_is_refused(n in 1u32..1000, unit in prop::sample::select(vec!["Y", "M", "W"])) {
        let alone = format!("P{n}{unit}");
        let with_time = format!("P{n}{unit}T1H");
        prop_assert!(parse_duration(&alone).is_err(), "{:?}", alone);
        prop_assert!(parse_duration(&with_time).is_err(), "{:?}", with_time);
    }

    #[test]
    fn valid_scope_tokens_round_trip_in_order_without_duplicates(tokens in prop::collection::vec(scope_token(), 0..8)) {
        let text = tokens.join(" ");
        let set = ScopeSet::parse(&text).unwrap();
        let mut unique: Vec<&str> = Vec::new();
        for t in &tokens {
            if !unique.contains(&t.as_str()) {
                unique.push(t);
            }
        }
        prop_assert_eq!(set.iter().collect::<Vec<_>>(), unique.clone());
        prop_assert_eq!(set.to_string(), unique.join(" "));
        // Displaying and parsing again changes nothing.
        prop_assert_eq!(ScopeSet::parse(&set.to_string()).unwrap(), set.clone());
        prop_assert_eq!(set.to_option_string().is_none(), tokens.is_empty());
    }

    #[test]
    fn scope_text_outside_the_grammar_is_refused(text in any::<String>()) {
        let result = ScopeSet::parse(&text);
        let grammar_ok = text.is_empty()
            || text.split(' ').all(|t| {
                !t.is_empty() && t.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
            });
        prop_assert_eq!(result.is_ok(), grammar_ok, "{:?}: {:?}", text, result);
        if let Err(e) = result {
            // The error never echoes control characters back unescaped.
            let shown = e.to_string();
            prop_assert!(!shown.contains(['\r', '\n']), "{:?}", shown);
        }
    }

    #[test]
    fn a_scope_with_a_forbidden_byte_is_refused(
        before in scope_token(),
        after in scope_token(),
        bad in prop::sample::select(vec!['"', '\\', '\t', '\r', '\n', '\u{0}', '\u{7f}', 'é', '\u{2028}']),
    ) {
        let text = format!("{before}{bad}{after}");
        prop_assert!(matches!(ScopeSet::parse(&text), Err(ScopeError::InvalidToken(_))), "{:?}", text);
    }

    #[test]
    fn empty_scope_tokens_are_refused(tokens in prop::collection::vec(scope_token(), 1..4), at in 0usize..3) {
        let joined = tokens.join(" ");
        let text = match at {
            0 => format!(" {joined}"),
            1 => format!("{joined} "),
            _ => joined.replacen(' ', "  ", 1) + "  x",
        };
        prop_assert_eq!(ScopeSet::parse(&text), Err(ScopeError::EmptyToken));
    }

    #[test]
    fn grant_is_the_requested_subset_in_registered_order(
        registered in prop::collection::vec(scope_token(), 0..8),
        pick in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let reg = ScopeSet::parse(&registered.join(" ")).unwrap();
        let reg_tokens: Vec<&str> = reg.iter().collect();
        let requested: Vec<&str> = if reg_tokens.is_empty() { Vec::new() } else { pick.iter().map(|i| *i.get(&reg_tokens)).collect() };
        let req = ScopeSet::parse(&requested.join(" ")).unwrap();
        let granted = reg.grant(&req).unwrap();
        if req.is_empty() {
            prop_assert_eq!(&granted, &reg);
        } else {
            let want: Vec<&str> = reg_tokens.iter().copied().filter(|t| req.contains(t)).collect();
            prop_assert_eq!(granted.iter().collect::<Vec<_>>(), want);
        }
    }

    #[test]
    fn grant_never_adds_an_unregistered_scope(
        registered in prop::collection::vec(scope_token(), 0..6),
        extra in scope_token(),
    ) {
        let reg = ScopeSet::parse(&registered.join(" ")).unwrap();
        prop_assume!(!reg.contains(&extra));
        let req = ScopeSet::parse(&extra).unwrap();
        prop_assert_eq!(reg.grant(&req), Err(extra.clone()));
    }

    #[test]
    fn printable_ascii_ids_up_to_255_are_client_ids(id in "[!-~]{1,255}") {
        let parsed = ClientId::parse(&id).unwrap();
        prop_assert_eq!(parsed.as_str(), id.as_str());
        prop_assert_eq!(parsed.to_string(), id);
    }

    #[test]
    fn client_ids_accept_exactly_their_grammar(id in any::<String>()) {
        let ok = !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| (0x21..=0x7e).contains(&b));
        prop_assert_eq!(ClientId::parse(&id).is_ok(), ok, "{:?}", id);
    }

    #[test]
    fn an_id_with_a_space_control_or_non_ascii_character_is_refused(
        before in "[!-~]{0,20}",
        after in "[!-~]{0,20}",
        bad in prop::sample::select(vec![' ', '\t', '\r', '\n', '\u{0}', '\u{7f}', 'é', '\u{feff}']),
    ) {
        let id = format!("{before}{bad}{after}");
        prop_assert_eq!(ClientId::parse(&id), Err(ClientIdError::InvalidCharacter));
    }

    #[test]
    fn ids_over_255_bytes_are_refused(id in "[!-~]{256,400}") {
        prop_assert_eq!(ClientId::parse(&id), Err(ClientIdError::TooLong));
    }
}
