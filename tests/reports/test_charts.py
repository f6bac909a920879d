"""The SVG bar charts: bars in proportion, round axis steps, colours with contrast and patterns, no empty chart."""

import datetime

import pytest
from django.template.loader import render_to_string

from reports import charts
from reports.selectors import FORMS, ClinicRow, MonthRow

MONTHS = [datetime.date(2026 if m <= 6 else 2025, m, 1) for m in [7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6]]


def _month_rows(amounts: dict[int, dict[str, int]]) -> list[MonthRow]:
    rows = [MonthRow(month=month) for month in MONTHS]
    for index, by_form in amounts.items():
        for form, amount in by_form.items():
            rows[index].amounts.add(form, amount, 1)
    return rows


@pytest.mark.parametrize(
    "maximum,expected",
    [
        (0, [0]),
        (1, [0, 100]),
        (414_000, [0, 200_000, 400_000, 600_000]),
        (400_000, [0, 100_000, 200_000, 300_000, 400_000]),
        (12_345_678, [0, 5_000_000, 10_000_000, 15_000_000]),
        (900_000, [0, 250_000, 500_000, 750_000, 1_000_000]),
    ],
)
def test_axis_steps_are_round_kronor_reaching_the_maximum(maximum, expected):
    assert charts.nice_ticks(maximum) == expected


def test_each_support_form_has_a_contrasting_colour_and_its_own_pattern():
    # WCAG 2.1 1.4.11 asks 3:1 for parts of graphics; ours reach 4.5:1, the level of text.
    for style in charts.SERIES.values():
        assert charts.contrast_ratio(style.colour, charts.BACKGROUND) >= 4.5, style
    assert len({style.pattern for style in charts.SERIES.values()}) == len(FORMS)
    assert len({style.colour for style in charts.SERIES.values()}) == len(FORMS)
    assert round(charts.contrast_ratio("#000000", "#ffffff"), 2) == 21.0


def test_month_columns_stack_the_forms_in_proportion():
    chart = charts.month_chart(_month_rows({0: {"N": 100_000, "F": 50_000}, 11: {"S": 400_000}}))
    july_n, july_f, june_s = chart.rects
    assert (july_n.fill, july_f.fill, june_s.fill) == ("#005a8c", "url(#chart-pattern-F)", "url(#chart-pattern-S)")
    assert july_n.height == pytest.approx(june_s.height / 4, abs=0.1)
    assert july_f.height == pytest.approx(july_n.height / 2, abs=0.1)
    # F sits on N, and the columns stand on the same baseline.
    assert july_f.y + july_f.height == pytest.approx(july_n.y, abs=0.1)
    assert july_n.y + july_n.height == pytest.approx(june_s.y + june_s.height, abs=0.1)
    assert july_n.x < june_s.x
    assert july_n.tooltip == "jul 2025, N-tandvård: 1\xa0000\xa0kr"
    labels = [text.text for text in chart.texts]
    assert labels.count("2025") == 1 and labels.count("2026") == 1
    assert "jun 2026, 4\xa0000\xa0kr" in chart.description


def test_an_empty_period_draws_no_bars_and_says_so():
    chart = charts.month_chart(_month_rows({}))
    assert chart.rects == []
    assert chart.description == "Inga räkningar kom in under perioden."
    assert charts.clinic_chart([]).rects == []


def test_beyond_ten_clinics_the_rest_share_one_bar():
    rows = []
    for number in range(1, 14):
        row = ClinicRow(clinic_id=number, number=str(number), name=f"Klinik {number}")
        row.amounts.add("N", 100_000 - number, 1)
        rows.append(row)
    chart = charts.clinic_chart(rows)
    labels = [text.text for text in chart.texts if text.anchor == "end"]
    assert labels[:10] == [f"{number} Klinik {number}" for number in range(1, 11)]
    assert labels[10] == "Övriga 3 kliniker"
    widest = max(chart.rects, key=lambda rect: rect.width)
    assert widest.tooltip.startswith("Övriga 3 kliniker")


def test_long_clinic_names_are_shortened_in_the_chart():
    row = ClinicRow(clinic_id=1, number="31", name="Folktandvården Demostaden med ett mycket långt namn")
    row.amounts.add("F", 5_000, 1)
    labels = [text.text for text in charts.clinic_chart([row]).texts if text.anchor == "end"]
    assert labels == ["31 Folktandvården Demostaden…"]


def test_the_svg_is_written_without_localised_numbers():
    chart = charts.month_chart(_month_rows({3: {"N": 123_456}}))
    from django.utils import translation

    with translation.override("sv"):
        svg = render_to_string("reports/includes/chart.html", {"chart": chart})
    rect = chart.rects[0]
    assert f'height="{rect.height}"' in svg and "." in str(rect.height)
    assert 'role="img"' in svg
