//! Does a search at a confidence keep its promise when the winner is measured? On this CPU:
//! measure 25 stratified architectures of a space (paired), fit the latency model, then run 20
//! searches with latency budgets spread between the 10th and 90th percentile of the measured
//! latencies, each at confidence 0.95 and without one, and measure every winner (paired,
//! normalized by the run's device reference latency). Prints per search the budget, the
//! prediction, the bound, the measured latency and the predicted accuracy the margin gave up,
//! and how many winners meet their budget with and without the confidence (target: at least
//! 19 of 20 with it).
//!
//! The accuracy model is a fixed stand-in that prefers bigger networks (a + b ln NN-Degree +
//! c ln params, b and c positive), so that each budget binds: it only decides which feasible
//! network wins, and no accuracy figure is claimed here.
//!
//! `cargo bench -p flash-agent --bench chance_search`. Environment: `FLASH_BENCH_SPACE`
//! (flash-densenet), `FLASH_BENCH_FIT` (25), `FLASH_BENCH_SEARCHES` (20),
//! `FLASH_BENCH_CONFIDENCE` (0.95), `FLASH_BENCH_BUDGET_S` (1.5), `FLASH_BENCH_THREADS` (1).

mod support;

use flash_core::ArchSpec;
use flash_core::features::FeatureVector;
use flash_core::fit::{AccuracyForm, AccuracyModel, CostMetric, DegreeTerm, fit_hardware};
use flash_core::measurement::MeasurementResult;
use flash_core::search::{DeviceModels, Objective, SearchProblem, SearchResult, search};
use support::{Bench, device_reference_latency, env, space};

/// A stand-in accuracy model that grows with NN-Degree and with params, so that the most
/// accurate network under a budget spends the budget and every budget binds.
fn accuracy_model() -> AccuracyModel {
    AccuracyModel {
        form: AccuracyForm::new(Some(DegreeTerm::Log), true),
        coefficients: vec![0.3, 0.06, 0.012],
        residual_std: 0.01,
        t_quantile: 2.07,
        inverse_gram: vec![4.0, -0.5, -0.2, -0.5, 0.1, 0.01, -0.2, 0.01, 0.02],
        fitted_nn_degree: None,
        fitted_params: None,
    }
}

/// The `q` quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((q * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

/// One search's winner and what the search said about it.
struct Searched {
    budget: f64,
    result: SearchResult,
}

impl Searched {
    fn winner(&self) -> Option<&ArchSpec> {
        self.result.best.as_ref().map(|b| &b.spec)
    }
}

fn main() {
    let space = space(&env("FLASH_BENCH_SPACE", "flash-densenet".to_string()));
    let n_fit: usize = env("FLASH_BENCH_FIT", 25);
    let n_searches: usize = env("FLASH_BENCH_SEARCHES", 20);
    let confidence: f64 = env("FLASH_BENCH_CONFIDENCE", 0.95);
    let bench = Bench::new(
        env("FLASH_BENCH_THREADS", 1),
        env("FLASH_BENCH_BUDGET_S", 1.5),
    );
    println!(
        "chance-constrained search on this CPU: {} ({n_fit} paired measurements to fit), {n_searches} budgets, confidence {confidence}",
        space.name
    );

    let fit_specs = space.sample_stratified(n_fit, 1);
    let fit_results = bench.measure(&fit_specs, "fit");
    let r_fit = device_reference_latency(&fit_results.iter().collect::<Vec<_>>());
    let samples: Vec<(FeatureVector, f64)> = fit_specs
        .iter()
        .zip(&fit_results)
        .map(|(s, m)| {
            (
                FeatureVector::of_spec(s),
                m.normalized_latency_ms(Some(r_fit)),
            )
        })
        .collect();
    let fit = fit_hardware(CostMetric::Latency, &samples, &[]).unwrap();
    println!(
        "  latency model: {:?}, cross-validated within 10%: {:.0}%, MAPE {:.2}%; interval {}",
        fit.feature_set,
        100.0 * fit.loo.within_10,
        fit.loo.mape,
        if fit.model.interval.is_some() {
            "fitted"
        } else {
            "none"
        }
    );

    let mut measured: Vec<f64> = samples.iter().map(|(_, y)| *y).collect();
    measured.sort_by(f64::total_cmp);
    let (low, high) = (quantile(&measured, 0.1), quantile(&measured, 0.9));
    let accuracy = accuracy_model();
    let run = |budget: f64, confidence: Option<f64>| {
        let problem = SearchProblem {
            accuracy: accuracy.clone(),
            devices: vec![DeviceModels {
                device: "this-cpu".into(),
                latency: Some(fit.model.clone()),
                energy: None,
                area: None,
                max_latency: Some(budget),
                max_energy: None,
                max_area: None,
            }],
            max_params: None,
            max_macs: None,
            objective: Objective::MaxAccuracy,
            confidence,
        };
        Searched {
            budget,
            result: search(space, &problem).unwrap(),
        }
    };
    let budgets: Vec<f64> = (0..n_searches)
        .map(|i| low + (high - low) * i as f64 / (n_searches.max(2) - 1) as f64)
        .collect();
    let sure: Vec<Searched> = budgets.iter().map(|b| run(*b, Some(confidence))).collect();
    let plain: Vec<Searched> = budgets.iter().map(|b| run(*b, None)).collect();

    // Every winner measured once, after the fit set (the device's speed history goes on).
    let mut winners: Vec<ArchSpec> = Vec::new();
    for s in sure.iter().chain(&plain) {
        if let Some(w) = s.winner()
            && !winners.contains(w)
        {
            winners.push(w.clone());
        }
    }
    let winner_results = bench.measure(&winners, "winner");
    let history: Vec<&MeasurementResult> = fit_results.iter().chain(&winner_results).collect();
    let r = device_reference_latency(&history);
    let measured_of = |spec: &ArchSpec| {
        let i = winners.iter().position(|w| w == spec).unwrap();
        winner_results[i].normalized_latency_ms(Some(r))
    };
    println!(
        "  device reference latency: {r:.4} ms (fit set alone: {r_fit:.4} ms); budgets {low:.3} to {high:.3} ms"
    );

    for (title, searches) in [
        (format!("with confidence {confidence}"), &sure),
        ("without a confidence".to_string(), &plain),
    ] {
        println!("\n  {title}:");
        println!(
            "    {:>9} {:>10} {:>10} {:>10} {:>6}  {:>14}",
            "budget", "predicted", "bound", "measured", "meets", "acc. given up"
        );
        let mut met = 0;
        let mut found = 0;
        for s in searches.iter() {
            let Some(best) = &s.result.best else {
                println!("    {:>9.3}  nothing meets the budget", s.budget);
                continue;
            };
            found += 1;
            let check = &s.result.budget_checks[0];
            let m = measured_of(&best.spec);
            met += usize::from(m <= s.budget);
            println!(
                "    {:>9.3} {:>10.3} {:>10.3} {:>10.3} {:>6}  {:>14}",
                s.budget,
                check.predicted,
                check.bound,
                m,
                if m <= s.budget { "yes" } else { "NO" },
                s.result
                    .accuracy_given_up
                    .map_or("-".into(), |g| format!("{:.2} pts", 100.0 * g))
            );
        }
        println!("    {met} of {found} winners meet their budget when measured");
    }
    println!(
        "\ntarget: at least 19 of 20 with confidence 0.95; the whole run took {:.0} s",
        bench.started.elapsed().as_secs_f64()
    );
}
