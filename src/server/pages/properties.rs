//! The pages' paths and queries as anyone could send them: any query string is answered or
//! refused with what is wrong, never a panic; every link the pages make leads back to the
//! repository it names, whatever the name; and a time the API shows, sent back as `since`,
//! names the same millisecond.

use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;

use super::{changes_query, parameter, percent_decode, repository_path};
use crate::testing::cases;
use crate::views::html::path_segment;

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn any_query_is_read_or_refused_without_panicking(query in "\\PC{0,80}") {
        let _ = changes_query(Some(&query));
        let _ = parameter(Some(&query), "page");
        let _ = percent_decode(&query);
    }

    #[test]
    fn any_encoded_name_decodes_to_itself(text in "\\PC{0,40}") {
        prop_assert_eq!(percent_decode(&path_segment(&text)), Some(text));
    }

    #[test]
    fn a_repository_link_leads_to_its_repository(
        namespace in "\\PC{1,30}",
        name in "\\PC{1,30}",
    ) {
        let rest = format!("{}/{}", path_segment(&namespace), path_segment(&name));
        prop_assert_eq!(repository_path(&rest), Some((namespace, name)));
    }

    #[test]
    fn limits_and_pages_as_numbers(n in any::<usize>(), junk in "[^0-9&=]{1,10}") {
        let q = changes_query(Some(&format!("limit={n}"))).unwrap();
        prop_assert_eq!(q.limit, Some(n));
        let refused = changes_query(Some(&format!("limit={junk}")));
        prop_assert!(refused.unwrap_err().starts_with("limit:"));
    }

    #[test]
    fn a_time_the_api_shows_reads_back_to_the_same_millisecond(
        millis in 0i64..253_402_300_799_000,
    ) {
        let shown = crate::views::rfc3339_millis(millis as f64 / 1000.0).unwrap();
        let encoded: String = shown
            .bytes()
            .map(|b| if b == b':' { "%3A".to_string() } else { char::from(b).to_string() })
            .collect();
        for query in [format!("since={shown}"), format!("since={encoded}")] {
            let since = changes_query(Some(&query)).unwrap().since.unwrap();
            prop_assert_eq!(
                since,
                UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap())
            );
        }
    }
}
