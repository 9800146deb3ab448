//! The expiry of the Hub's JWTs: any token, any base64, any JSON payload is read or refused
//! without panicking, and a well-formed `exp` is read exactly.

use base64::Engine as _;
use serde_json::{Map, json};

use proptest::prelude::*;
use serde_json::Value;

use super::jwt_expiry;
use crate::testing::*;
use std::time::{Duration, UNIX_EPOCH};

/// A base64 text of arbitrary bytes in one of the alphabets and paddings found in the wild.
fn base64_segment() -> impl Strategy<Value = String> {
    (prop::collection::vec(any::<u8>(), 0..64), 0usize..4).prop_map(|(bytes, engine)| {
        use base64::engine::general_purpose as gp;
        match engine {
            0 => gp::URL_SAFE_NO_PAD.encode(&bytes),
            1 => gp::URL_SAFE.encode(&bytes),
            2 => gp::STANDARD.encode(&bytes),
            _ => gp::STANDARD_NO_PAD.encode(&bytes),
        }
    })
}

fn jwt(header: &str, payload: &str, signature: &str) -> String {
    format!("{header}.{payload}.{signature}")
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn jwt_expiry_takes_any_text(token in any::<String>()) {
        let _ = jwt_expiry(&token);
    }

    #[test]
    fn jwt_expiry_takes_any_base64_segments(
        header in base64_segment(),
        payload in base64_segment(),
        signature in base64_segment(),
        extra in proptest::option::of(base64_segment()),
    ) {
        let mut token = jwt(&header, &payload, &signature);
        if let Some(extra) = extra {
            token = format!("{token}.{extra}");
        }
        let _ = jwt_expiry(&token);
        let _ = jwt_expiry(&format!("{header}.{payload}"));
    }

    #[test]
    fn jwt_expiry_takes_any_json_payload(claims in any_json(), exp in any_json()) {
        let _ = jwt_expiry(&jwt(&b64("{}"), &b64(&claims.to_string()), "sig"));
        let payload = json!({ "exp": exp, "iat": 1 }).to_string();
        if let Some(t) = jwt_expiry(&jwt(&b64("{}"), &b64(&payload), "sig")) {
            // Whatever is read is a time from the epoch to the year 5138.
            let d = t.duration_since(UNIX_EPOCH).expect("not before the epoch");
            prop_assert!(d <= Duration::from_secs(100_000_000_000));
        }
    }

    #[test]
    fn a_well_formed_token_gives_its_exp(
        exp in 1u64..=100_000_000_000,
        other in prop::collection::btree_map("[a-df-z_]{1,8}", any_json(), 0..4),
        padded in any::<bool>(),
        signature in "[A-Za-z0-9_-]{0,40}",
    ) {
        let mut claims: Map<String, Value> = other.into_iter().collect();
        claims.insert("exp".into(), Value::from(exp));
        let payload = Value::Object(claims).to_string();
        let engine = if padded {
            base64::engine::general_purpose::URL_SAFE
        } else {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
        };
        let token = jwt(&b64(r#"{"alg":"RS256","typ":"JWT"}"#), &engine.encode(&payload), &signature);
        prop_assert_eq!(jwt_expiry(&token), Some(UNIX_EPOCH + Duration::from_secs(exp)));
    }

    #[test]
    fn a_fractional_exp_is_read_to_the_microsecond(whole in 1u64..10_000_000_000, micros in 0u32..1_000_000) {
        let exp = whole as f64 + f64::from(micros) / 1e6;
        let token = jwt(&b64("{}"), &b64(&json!({ "exp": exp }).to_string()), "");
        let got = jwt_expiry(&token).expect("an expiry");
        let expected = UNIX_EPOCH + Duration::from_secs(whole) + Duration::from_micros(u64::from(micros));
        let diff = nanos_since_epoch(got) - nanos_since_epoch(expected);
        // Exact but for the precision of an f64 exp (about 2 µs for times near 1e10).
        let tolerance = 1 + (exp * 4.0 * f64::EPSILON * 1e9) as i128;
        prop_assert!(diff.abs() <= tolerance, "{exp}: off by {diff} ns");
    }

    #[test]
    fn an_exp_out_of_range_gives_nothing(exp in prop_oneof![
        i64::MIN..=0,
        100_000_000_001i64..=i64::MAX,
    ]) {
        let token = jwt(&b64("{}"), &b64(&json!({ "exp": exp }).to_string()), "");
        prop_assert_eq!(jwt_expiry(&token), None);
    }
}
