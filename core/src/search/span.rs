//! The last span: the cells the last pass searches together (`prepare`, `finish`), as rows of
//! summed values per coupling group of its first cell.
//!
//! Usually the last cell alone. When the second-to-last cell's groups hold a few candidates
//! each (a ResNet- or MobileNet-type cell: one per depth) and the last cell few in all, the
//! span is the last two cells, each row a pair of candidates with the coupling between them.
//! The dynamic programme then stops a cell earlier: its last stage holds a thousand networks
//! or so instead of several thousand, each of which entered every group of the last cell, and
//! the pairs of a group are filtered once, as the networks entering it would have been.

use std::borrow::Cow;

use super::dominance::pareto;
use super::programme::Ceilings;
use super::tables::{Engine, column};

/// Most pairs of candidates a group of the second-to-last cell may have for the last two cells
/// to be one span: ResNet-type spaces have 8 depths a group and at most 256 candidates a cell.
const MOST_PAIRS: usize = 2048;

/// The rows of the last span: values, the rows kept per coupling group of its first cell,
/// and each row's grid candidates.
pub(super) struct Span<'a> {
    /// The first cell of the span.
    pub(super) first: usize,
    /// Each row's values (`dims` each): a candidate's, or a pair's with their coupling.
    pub(super) values: Cow<'a, [f64]>,
    /// Per coupling group of the first cell: its rows that may matter.
    pub(super) groups: Vec<Vec<u32>>,
    /// With two cells, each row's candidates; with one, a row is its candidate.
    pairs: Vec<[u32; 2]>,
}

impl Span<'_> {
    /// The grid candidates of `row`, one per cell of the span.
    pub(super) fn candidates(&self, row: u32) -> Vec<u32> {
        match self.pairs.get(row as usize) {
            Some(pair) => pair.to_vec(),
            None => vec![row],
        }
    }

    /// The values of `row`.
    pub(super) fn row(&self, row: u32, d: usize) -> &[f64] {
        &self.values[row as usize * d..(row as usize + 1) * d]
    }
}

impl<'a> Engine<'a> {
    /// How many cells the last span holds: two when every group of the second-to-last cell
    /// has at most `MOST_PAIRS` pairs with the last cell's candidates, else one.
    pub(super) fn span_cells(&self) -> usize {
        let n = self.tables.len();
        if n < 2 {
            return 1;
        }
        let last: usize = self.tables[n - 1].groups.iter().map(Vec::len).sum();
        let most = self.tables[n - 2].groups.iter().map(Vec::len).max();
        if most.unwrap_or(0) * last <= MOST_PAIRS {
            2
        } else {
            1
        }
    }

    /// The last `cells` cells as one span (`cells` is 1 or 2), its pairs kept when they can
    /// meet `ceilings` with the least of what comes before.
    pub(super) fn span(&'a self, cells: usize, ceilings: &Ceilings) -> Span<'a> {
        let n = self.tables.len();
        if cells == 1 {
            let table = &self.tables[n - 1];
            return Span {
                first: n - 1,
                values: Cow::Borrowed(&table.values),
                groups: table.groups.clone(),
                pairs: Vec::new(),
            };
        }
        assert_eq!(cells, 2, "a span holds one cell or two");
        let (d, ng, first) = (self.dims, self.space.num_groups(), n - 2);
        let (head, tail) = (&self.tables[first], &self.tables[n - 1]);
        let before = self.before(first);
        let mut values = Vec::new();
        let mut pairs = Vec::new();
        let mut groups = Vec::with_capacity(head.groups.len());
        for (g, group) in head.groups.iter().enumerate() {
            let at = self.space.group_width(g) * ng;
            let start = pairs.len() as u32;
            for &a in group {
                let a_row = &head.values[a as usize * d..(a as usize + 1) * d];
                for (h, later) in tail.groups.iter().enumerate() {
                    let coupling = &tail.coupling[(at + h) * d..(at + h + 1) * d];
                    for &b in later {
                        let b_row = &tail.values[b as usize * d..(b as usize + 1) * d];
                        let len = values.len();
                        values.extend((0..d).map(|k| a_row[k] + coupling[k] + b_row[k]));
                        if ceilings.admit_with(&values[len..], &before) {
                            pairs.push([a, b]);
                        } else {
                            values.truncate(len);
                        }
                    }
                }
            }
            // A pair another of the group is no worse than in every quantity is never
            // needed: every network entering the group adds the same to both.
            groups.push(pareto(&values, d, (start..pairs.len() as u32).collect()));
        }
        Span {
            first,
            values: Cow::Owned(values),
            groups,
            pairs,
        }
    }

    /// The least of each quantity over what a network holds entering cell `c`: the cells
    /// before it and the coupling into it.
    fn before(&self, c: usize) -> Vec<f64> {
        let coupling = &self.extremes(c, false).coupling;
        let cells = self.total_of(0..c, false);
        cells.iter().zip(coupling).map(|(a, b)| a + b).collect()
    }

    /// The least of each quantity over the rows `rows` of `span`.
    pub(super) fn span_least(&self, span: &Span, rows: &[u32]) -> Vec<f64> {
        column(
            rows.iter().map(|&r| span.row(r, self.dims)),
            self.dims,
            false,
        )
    }
}
