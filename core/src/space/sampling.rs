//! Drawing specs from a space: uniformly, spread over NN-Degree, and the space's reference
//! network.

use super::{ArchSpec, Space};
use crate::rng::SplitMix64;

impl Space {
    fn random_spec(&self, rng: &mut SplitMix64) -> ArchSpec {
        let cells = (0..self.num_cells)
            .map(|_| self.cell_at(rng.below(self.cell_choices())))
            .collect();
        self.spec(cells)
    }

    /// `n` distinct architectures drawn uniformly from the grid with `seed` (fewer only if the
    /// space has fewer than `n`).
    pub fn sample_uniform(&self, n: usize, seed: u64) -> Vec<ArchSpec> {
        let mut rng = SplitMix64::new(seed);
        let n = (n as u128).min(self.size()) as usize;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let spec = self.random_spec(&mut rng);
            if seen.insert(spec.clone()) {
                out.push(spec);
            }
        }
        out
    }

    /// The space's reference network, which paired measurements time alternately with every
    /// network under test: of 1001 architectures drawn uniformly with seed 0, the one of median
    /// MACs (ties by id). A network near the middle of the space's cost keeps the ratios near 1
    /// and the reference's runs neither negligible nor dominant; the rule is deterministic, so
    /// every device and every server picks the same network for the same space.
    pub fn reference_spec(&self) -> ArchSpec {
        let mut pool: Vec<(u64, String, ArchSpec)> = self
            .sample_uniform(1001, 0)
            .into_iter()
            .map(|s| (crate::features::Counts::of_spec(&s).macs(), s.id(), s))
            .collect();
        pool.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let middle = pool.len() / 2;
        pool.swap_remove(middle).2
    }

    /// `n` architectures spread evenly over NN-Degree: a uniform pool of `64 n` candidates is
    /// drawn with `seed`, and for each of `n` evenly spaced NN-Degree targets between the pool's
    /// lowest and highest value the nearest unused candidate is taken.
    pub fn sample_stratified(&self, n: usize, seed: u64) -> Vec<ArchSpec> {
        let pool = self.sample_uniform(n.saturating_mul(64).max(n), seed);
        if pool.len() <= n {
            return pool;
        }
        // Each key once: outside DenseNet cells NN-Degree takes a graph.
        let mut keyed: Vec<(f64, String, ArchSpec)> = pool
            .into_iter()
            .map(|s| (s.nn_degree(), s.id(), s))
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let degrees: Vec<f64> = keyed.iter().map(|k| k.0).collect();
        let pool: Vec<ArchSpec> = keyed.into_iter().map(|k| k.2).collect();
        let (lo, hi) = (degrees[0], degrees[degrees.len() - 1]);
        let mut used = vec![false; pool.len()];
        let mut picked = Vec::with_capacity(n);
        for k in 0..n {
            let target = if n == 1 {
                (lo + hi) / 2.0
            } else {
                lo + (hi - lo) * k as f64 / (n - 1) as f64
            };
            let best = (0..pool.len())
                .filter(|&i| !used[i])
                .min_by(|&a, &b| {
                    (degrees[a] - target)
                        .abs()
                        .total_cmp(&(degrees[b] - target).abs())
                })
                .expect("pool larger than n");
            used[best] = true;
            picked.push(best);
        }
        picked.sort_unstable();
        picked.into_iter().map(|i| pool[i].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_network_is_the_median_cost_of_its_pool() {
        for space in Space::all() {
            let reference = space.reference_spec();
            assert!(space.contains(&reference));
            assert_eq!(reference, space.reference_spec(), "deterministic");
            let macs = |s: &ArchSpec| crate::features::Counts::of_spec(s).macs();
            let pool = space.sample_uniform(1001, 0);
            let below = pool.iter().filter(|s| macs(s) < macs(&reference)).count();
            let above = pool.iter().filter(|s| macs(s) > macs(&reference)).count();
            assert!(below <= 500 && above <= 500, "{below} below, {above} above");
        }
    }

    #[test]
    fn sampling_is_deterministic_distinct_and_on_the_grid() {
        let space = Space::default_space();
        let a = space.sample_uniform(25, 1);
        assert_eq!(a, space.sample_uniform(25, 1));
        assert_ne!(a, space.sample_uniform(25, 2));
        assert!(a.iter().all(ArchSpec::in_space));
        let s = space.sample_stratified(25, 1);
        assert_eq!(s.len(), 25);
        assert!(s.iter().all(ArchSpec::in_space));
        let ids: std::collections::HashSet<_> = s.iter().map(ArchSpec::id).collect();
        assert_eq!(ids.len(), 25);
    }

    #[test]
    fn stratified_sampling_spreads_over_nn_degree_wider_than_uniform() {
        let space = Space::default_space();
        let spread = |v: &[ArchSpec]| {
            let mut d: Vec<f64> = v.iter().map(ArchSpec::nn_degree).collect();
            d.sort_by(f64::total_cmp);
            // the largest gap between neighbours, relative to the range
            let gap = d.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
            gap / (d[d.len() - 1] - d[0])
        };
        let s = space.sample_stratified(25, 3);
        let u = space.sample_uniform(25, 3);
        assert!(spread(&s) < spread(&u), "{} vs {}", spread(&s), spread(&u));
        assert!(spread(&s) < 0.1);
    }
}
