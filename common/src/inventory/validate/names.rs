//! Host names and "did you mean" hints.

pub(super) fn valid_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Levenshtein distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

pub(super) fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> String {
    let known: Vec<&String> = known.collect();
    if known.is_empty() {
        return "no profiles are defined: add a [profiles.NAME] table or remove `profile`"
            .to_string();
    }
    if let Some(best) = known
        .iter()
        .filter(|k| distance(name, k) <= 2)
        .min_by_key(|k| distance(name, k))
    {
        return format!("did you mean `{best}`?");
    }
    let list: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
    format!("defined profiles: {}", list.join(", "))
}
