//! Channel provenance: where each channel of a tensor comes from, as segments in channel order
//! (see the module docs of `metrics`). A segment also records whether it arrived through an
//! addition, so that NN-Mass can count concatenation-type and addition-type skips by their own
//! rules.

/// A run of channels from one source (a convolution or the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Segment {
    pub source: usize,
    pub channels: u64,
    /// Merged in by an add (a residual join) rather than concatenated.
    pub via_add: bool,
}

pub(super) type Provenance = Vec<Segment>;

/// The provenance of a source's own output.
pub(super) fn own(source: usize, channels: u64) -> Provenance {
    vec![Segment {
        source,
        channels,
        via_add: false,
    }]
}

/// Appends `s`, joining it to the last segment when both come from one source the same way.
pub(super) fn push(p: &mut Provenance, s: Segment) {
    match p.last_mut() {
        Some(last) if last.source == s.source && last.via_add == s.via_add => {
            last.channels += s.channels
        }
        _ => p.push(s),
    }
}

/// Every operand's segments in order (a concat).
pub(super) fn concat<'a>(operands: impl Iterator<Item = &'a Provenance>) -> Provenance {
    let mut p = Vec::new();
    for operand in operands {
        for &s in operand {
            push(&mut p, s);
        }
    }
    p
}

/// Channels `start..end`.
pub(super) fn slice(p: &Provenance, start: u64, end: u64) -> Provenance {
    let mut out = Vec::new();
    let mut offset = 0;
    for &s in p {
        let (lo, hi) = (offset.max(start), (offset + s.channels).min(end));
        if lo < hi {
            push(
                &mut out,
                Segment {
                    channels: hi - lo,
                    ..s
                },
            );
        }
        offset += s.channels;
    }
    out
}

/// Channels beyond which a shuffle keeps its input's provenance order (the counts per source stay
/// exact; only slices after it are approximate), so a hostile graph cannot make it quadratic.
const MAX_SHUFFLED_CHANNELS: u64 = 1 << 16;

/// `p` after a channel shuffle of `groups` groups: output channel `o` is input channel
/// `(o % groups) * (C / groups) + o / groups`.
pub(super) fn shuffle(p: &Provenance, groups: u64) -> Provenance {
    let channels: u64 = p.iter().map(|s| s.channels).sum();
    if groups <= 1 || channels > MAX_SHUFFLED_CHANNELS || !channels.is_multiple_of(groups) {
        return p.clone();
    }
    let mut segment_of: Vec<&Segment> = Vec::with_capacity(channels as usize);
    for s in p {
        segment_of.extend(std::iter::repeat_n(s, s.channels as usize));
    }
    let per_group = channels / groups;
    let mut out = Vec::new();
    for o in 0..channels {
        let i = (o % groups) * per_group + o / groups;
        push(
            &mut out,
            Segment {
                channels: 1,
                ..*segment_of[i as usize]
            },
        );
    }
    out
}

/// The union of the operands' segments, each source once (an add's links). When more than one
/// source meets, every segment is marked as arrived through the add.
pub(super) fn merge<'a>(operands: impl Iterator<Item = &'a Provenance>) -> Provenance {
    let mut p: Provenance = Vec::new();
    for operand in operands {
        for &s in operand {
            if !p.iter().any(|q| q.source == s.source) {
                p.push(s);
            }
        }
    }
    if p.len() > 1 {
        for s in &mut p {
            s.via_add = true;
        }
    }
    p
}

/// What a convolution reading `p` receives: its regular source (the most recent), and its skip
/// channels that came by concatenation and by addition.
pub(super) struct Skips {
    pub concatenated: u64,
    pub added: u64,
}

impl Skips {
    pub const NONE: Skips = Skips {
        concatenated: 0,
        added: 0,
    };
}

pub(super) fn skips(p: &Provenance) -> Skips {
    let regular = p.iter().map(|s| s.source).max().unwrap_or(0);
    let mut skips = Skips {
        concatenated: 0,
        added: 0,
    };
    for s in p.iter().filter(|s| s.source != regular) {
        if s.via_add {
            skips.added += s.channels;
        } else {
            skips.concatenated += s.channels;
        }
    }
    skips
}
