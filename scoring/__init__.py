"""Pure numbers over values passed in: SLOs, error budgets, burn rates, risk and scorecards."""
