//! UID sets as commands carry them: compact (`1:5,7,9:12`), and cut into groups whose set
//! fits a bounded command line, so a long run of scattered UIDs never makes a line a server
//! refuses (RFC 7162 asks clients to keep lines under 8,192 octets).

/// Longest UID set one command carries.
pub const MAX_SET_BYTES: usize = 4000;

/// A compact UID set: `1:5,7,9:12`.
pub fn uid_set(uids: impl IntoIterator<Item = u32>) -> String {
    let mut out = String::new();
    for (start, end) in ranges(uids) {
        push_range(&mut out, start, end);
    }
    out
}

/// `uids`, sorted, in groups whose compact set is at most `max_bytes` long.
pub fn uid_groups(uids: impl IntoIterator<Item = u32>, max_bytes: usize) -> Vec<Vec<u32>> {
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let mut len = 0;
    for (start, end) in ranges(uids) {
        let mut piece = String::new();
        push_range(&mut piece, start, end);
        let needed = piece.len() + usize::from(len > 0);
        if groups.is_empty() || len + needed > max_bytes {
            groups.push(Vec::new());
            len = 0;
        }
        len += piece.len() + usize::from(len > 0);
        groups.last_mut().expect("a group").extend(start..=end);
    }
    groups
}

/// The runs of consecutive UIDs in `uids` (sorted, without repeats).
fn ranges(uids: impl IntoIterator<Item = u32>) -> Vec<(u32, u32)> {
    let mut uids: Vec<u32> = uids.into_iter().collect();
    uids.sort_unstable();
    uids.dedup();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for uid in uids {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == uid => *end = uid,
            _ => out.push((uid, uid)),
        }
    }
    out
}

fn push_range(out: &mut String, start: u32, end: u32) {
    if !out.is_empty() {
        out.push(',');
    }
    if start == end {
        out.push_str(&start.to_string());
    } else {
        out.push_str(&format!("{start}:{end}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set([5, 1, 2, 3, 7, 9, 10, 11, 12]), "1:3,5,7,9:12");
        assert_eq!(uid_set([4]), "4");
        assert_eq!(uid_set([4, 4]), "4");
    }

    #[test]
    fn groups_keep_every_set_short_and_every_uid() {
        let scattered: Vec<u32> = (0..5000).map(|i| 2 * i + 1).collect();
        let groups = uid_groups(scattered.iter().copied(), 100);
        assert!(groups.len() > 1);
        for g in &groups {
            assert!(uid_set(g.iter().copied()).len() <= 100, "{g:?}");
        }
        let all: Vec<u32> = groups.concat();
        assert_eq!(all, scattered);
        assert_eq!(
            uid_groups(1..=100_000, 100),
            [(1..=100_000).collect::<Vec<_>>()]
        );
        assert!(uid_groups([], 100).is_empty());
    }
}
