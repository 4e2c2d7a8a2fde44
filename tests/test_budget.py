import pytest

from harness.budget import BudgetError, parse_budget


@pytest.mark.parametrize("text, seconds", [
    ("500ms", 0.5), ("60s", 60), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("1m30s", 90),
    ("90", 90), ("0.25", 0.25), (2, 2), (1.5, 1.5), ("2.5s", 2.5), (" 10s ", 10),
])
def test_accepted_budgets(text, seconds):
    assert parse_budget(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["0", "0s", "-5", "-1m", "", "abc", "5x", "30m1h", "1.5.2s", "5 m", "inf", "nan", True])
def test_rejected_budgets_name_the_fix(text):
    with pytest.raises(BudgetError) as err:
        parse_budget(text)
    message = str(err.value)
    assert "\n" not in message and "60s" in message
