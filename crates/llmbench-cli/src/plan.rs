//! `llmbench plan`: how many samples per model tell two pass rates apart.

use llmbench_report::format::{percent, points, thousands};
use llmbench_report::stats::samples_per_model;

use crate::common::{EXIT_CONFIG, Failure, print};

#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// The pass rate you expect from the reference model (0..1).
    #[arg(long)]
    baseline_pass_rate: f64,
    /// The smallest difference in pass rate worth detecting (0.15 = 15 points). The other rate
    /// is baseline + difference, or baseline - difference when that would pass 1.
    #[arg(long, allow_negative_numbers = true)]
    difference: f64,
    /// Significance level of the two-sided test.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// The chance of detecting the difference when it is real.
    #[arg(long, default_value_t = 0.8)]
    power: f64,
    /// Items per task, to turn samples into repeats.
    #[arg(long)]
    items: Option<u64>,
}

pub(crate) fn run(args: PlanArgs) -> Result<u8, Failure> {
    print(&render(&args)?);
    Ok(0)
}

fn render(args: &PlanArgs) -> Result<String, Failure> {
    let p1 = args.baseline_pass_rate;
    let up = p1 + args.difference;
    let p2 = if up < 1.0 { up } else { p1 - args.difference };
    let plan = samples_per_model(p1, p2, args.alpha, args.power)
        .map_err(|e| Failure::new(EXIT_CONFIG, anyhow::anyhow!("cannot plan: {e}")))?;
    let mut out = format!(
        "To tell a pass rate of {} from {} ({}) with a two-sided test at alpha {} and power {}:\n  {} samples per model ({:.2} before rounding up)\n",
        percent(p1),
        percent(p2),
        points(p2 - p1),
        args.alpha,
        args.power,
        thousands(plan.per_model as f64),
        plan.exact
    );
    if let Some(items) = args.items.filter(|n| *n > 0) {
        let repeats = plan.per_model.div_ceil(items);
        out.push_str(&format!(
            "  with {items} item{}: {repeats} repeat{} ({} samples per model)\n",
            if items == 1 { "" } else { "s" },
            if repeats == 1 { "" } else { "s" },
            thousands((repeats * items) as f64)
        ));
    }
    out.push_str(
        "Method: two-proportion normal approximation without continuity correction (Fleiss, Levin and Paik 2003, eq. 4.14; what R's power.prop.test solves), for two independent groups of equal size. Models graded on the same items and compared with McNemar's test usually need fewer samples.\n",
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(p: f64, d: f64, items: Option<u64>) -> PlanArgs {
        PlanArgs {
            baseline_pass_rate: p,
            difference: d,
            alpha: 0.05,
            power: 0.8,
            items,
        }
    }

    #[test]
    fn the_documented_example() {
        let text = render(&args(0.6, 0.15, Some(10))).unwrap();
        assert!(text.starts_with("To tell a pass rate of 60% from 75% (+15 points) with a two-sided test at alpha 0.05 and power 0.8:\n  152 samples per model (151.87 before rounding up)\n  with 10 items: 16 repeats (160 samples per model)\n"), "{text}");
    }

    #[test]
    fn near_one_plans_a_drop_and_nonsense_is_refused() {
        let text = render(&args(0.95, 0.15, None)).unwrap();
        assert!(text.contains("from 80% (-15 points)"), "{text}");
        let e = render(&args(0.6, 0.0, None)).unwrap_err();
        assert_eq!(e.code, EXIT_CONFIG);
    }
}
