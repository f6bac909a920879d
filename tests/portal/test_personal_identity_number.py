"""Personnummer and samordningsnummer in `portal.validators`: property tests against reference rules written here.

The valid numbers are built from generated dates and serial numbers with the reference check digit below
(Skatteverket's wording: weights 2, 1, 2, … from the left over YYMMDDNNN), not with the module's helpers.
The only literal numbers are Skatteverket's published test personnummer; never write a number that could be
a real person's.
"""

import datetime
import re
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility import imports
from portal import validators
from tests.testdata import TEST_PERSONNUMMER

# As many examples as the profile says (tests/conftest.py): 200 in `make test` and CI, 10 in `make test-fast`.
PROPERTY = settings(deadline=None)
DAY = datetime.timedelta(days=1)
TODAY = timezone.localdate()
EARLIEST = datetime.date(1900, 1, 1)

TOLVAN = "191212121212"

MESSAGES = {
    "required": "Ange ett personnummer.",
    "invalid_characters": "Personnumret innehåller otillåtna tecken.",
    "length": "Personnumret ska ha 10 eller 12 siffror.",
    "format": "Personnumret ska skrivas ÅÅMMDD-NNNN eller ÅÅÅÅMMDD-NNNN.",
    "check_digit": "Personnumret har fel kontrollsiffra.",
    "date": "Personnumret innehåller ett datum som inte finns.",
    "future": "Personnumret ligger i framtiden.",
    "separator": "Personnumret är skrivet med plustecken men personen har inte fyllt 100 år.",
}

# Reference rules ---------------------------------------------------------------------------------


def reference_check_digit(nine_digits: str) -> str:
    """Skatteverket: weights 2, 1, 2, … from the left, add the digits of each product, C = (10 − sum mod 10) mod 10."""
    assert len(nine_digits) == 9
    total = sum(sum(divmod(int(d) * (2 if i % 2 == 0 else 1), 10)) for i, d in enumerate(nine_digits))
    return str((10 - total % 10) % 10)


def reference_check_ok(ten_digits: str) -> bool:
    return reference_check_digit(ten_digits[:9]) == ten_digits[9]


def reference_age(born: datetime.date, on: datetime.date) -> int:
    """Whole years; someone born 29 February has the birthday on 1 March in years without 29 February."""
    try:
        birthday = born.replace(year=on.year)
    except ValueError:
        birthday = datetime.date(on.year, 3, 1)
    return on.year - born.year - (on < birthday)


def hundredth_birthday(born: datetime.date) -> datetime.date:
    try:
        return born.replace(year=born.year + 100)
    except ValueError:
        return datetime.date(born.year + 100, 3, 1)


def build(year: int, month: int, day: int, serial: int) -> str:
    """12 digits with the reference check digit; `day` as written in the number (61–91 for samordningsnummer)."""
    nine = f"{year % 100:02d}{month:02d}{day:02d}{serial:03d}"
    return f"{year // 100:02d}{nine}{reference_check_digit(nine)}"


def pin_for(born: datetime.date, serial: int, *, coordination: bool = False) -> str:
    return build(born.year, born.month, born.day + (60 if coordination else 0), serial)


def ten_digit(pin12: str, separator: str) -> str:
    return f"{pin12[2:8]}{separator}{pin12[8:]}"


def error_of(value, **kwargs) -> ValidationError:
    """The ValidationError `normalize_personal_identity_number` raises, with its message in Swedish."""
    with translation.override("sv"), pytest.raises(ValidationError) as caught:
        validators.normalize_personal_identity_number(value, **kwargs)
    return caught.value


def assert_rejected(value, code: str, **kwargs) -> None:
    error = error_of(value, **kwargs)
    assert error.code == code, (value, error.code)
    assert error.messages == [MESSAGES[code]]


def normalized_or_none(value: str, today: datetime.date) -> str | None:
    try:
        return validators.normalize_personal_identity_number(value, today=today)
    except ValidationError:
        return None


# Strategies ------------------------------------------------------------------------------------

birth_dates = st.dates(min_value=EARLIEST, max_value=TODAY)
serials = st.integers(min_value=0, max_value=999)
changes = st.integers(min_value=1, max_value=9)


def dates_from(born: datetime.date) -> st.SearchStrategy[datetime.date]:
    """Days on which someone born on `born` is 0 to 199 years old: what a 10-digit number can say."""
    return st.dates(min_value=born, max_value=datetime.date(born.year + 199, 12, 31))


# The reference rules themselves ----------------------------------------------------------------


@pytest.mark.parametrize("pin12", TEST_PERSONNUMMER)
def test_reference_check_digit_accepts_every_published_test_number(pin12):
    assert reference_check_ok(pin12[2:])


def test_reference_age_on_29_february():
    born = datetime.date(2000, 2, 29)
    assert reference_age(born, datetime.date(2001, 2, 28)) == 0
    assert reference_age(born, datetime.date(2001, 3, 1)) == 1
    assert reference_age(born, datetime.date(2004, 2, 29)) == 4


# Skatteverket's test numbers ---------------------------------------------------------------------


@pytest.mark.parametrize("pin12", TEST_PERSONNUMMER)
def test_published_test_number_normalizes_to_itself(pin12):
    assert validators.normalize_personal_identity_number(pin12, today=TODAY) == pin12
    assert validators.normalize_personal_identity_number(pin12) == pin12  # today's date by default
    shown = validators.format_personal_identity_number(pin12)
    assert shown == f"{pin12[:8]}-{pin12[8:]}"
    assert validators.normalize_personal_identity_number(shown, today=TODAY) == pin12
    assert validators.validate_personal_identity_number(pin12) is None
    assert not validators.is_coordination_number(pin12)


@pytest.mark.parametrize("pin12", TEST_PERSONNUMMER)
def test_published_test_number_in_ten_digits_with_the_right_sign(pin12):
    born = datetime.date(int(pin12[:4]), int(pin12[4:6]), int(pin12[6:8]))
    assert validators.birth_date(pin12) == born
    separator = "+" if reference_age(born, TODAY) >= 100 else "-"
    assert validators.normalize_personal_identity_number(ten_digit(pin12, separator), today=TODAY) == pin12
    if separator == "-":
        assert validators.normalize_personal_identity_number(ten_digit(pin12, ""), today=TODAY) == pin12


def test_tolvan_tolvansson_turned_100_on_12_december_2012():
    assert validators.age_on(TOLVAN, datetime.date(2012, 12, 11)) == 99
    assert validators.age_on(TOLVAN, datetime.date(2012, 12, 12)) == 100
    assert validators.normalize_personal_identity_number("121212-1212", today=datetime.date(2012, 12, 11)) == TOLVAN
    assert validators.normalize_personal_identity_number("121212+1212", today=datetime.date(2012, 12, 12)) == TOLVAN
    assert validators.normalize_personal_identity_number("121212+1212", today=TODAY) == TOLVAN
    assert validators.normalize_personal_identity_number("19121212+1212", today=TODAY) == TOLVAN
    # Without the plus, today, the same ten digits are someone born in 2012.
    assert validators.birth_date(validators.normalize_personal_identity_number("121212-1212", today=TODAY)).year == 2012
    assert_rejected("19121212+1212", "separator", today=datetime.date(2012, 12, 11))


# Valid numbers -------------------------------------------------------------------------------------


@PROPERTY
@given(born=birth_dates, serial=serials)
def test_twelve_digit_number_normalizes_to_itself_and_round_trips_through_formatting(born, serial):
    pin12 = pin_for(born, serial)
    assert validators.normalize_personal_identity_number(pin12, today=TODAY) == pin12
    assert validators.normalize_personal_identity_number(f" {pin12}\n", today=TODAY) == pin12
    shown = validators.format_personal_identity_number(pin12)
    assert re.fullmatch(r"[0-9]{8}-[0-9]{4}", shown)
    assert shown.replace("-", "") == pin12
    assert validators.normalize_personal_identity_number(shown, today=TODAY) == pin12
    assert validators.birth_date(pin12) == born
    assert not validators.is_coordination_number(pin12)
    assert validators.age_on(pin12, TODAY) == reference_age(born, TODAY)


@PROPERTY
@given(born=birth_dates, serial=serials, data=st.data())
def test_ten_digit_number_with_the_right_sign_normalizes_to_the_twelve_digit_one(born, serial, data):
    today = data.draw(dates_from(born), label="today")
    pin12 = pin_for(born, serial)
    age = reference_age(born, today)
    assert validators.age_on(pin12, today) == age
    right, wrong = ("+", "-") if age >= 100 else ("-", "+")
    assert validators.normalize_personal_identity_number(ten_digit(pin12, right), today=today) == pin12
    assert validators.normalize_personal_identity_number(f"\t{ten_digit(pin12, right)} ", today=today) == pin12
    if right == "-":  # no sign reads as '-'
        assert validators.normalize_personal_identity_number(ten_digit(pin12, ""), today=today) == pin12
    # The other sign means another century: a different person, or a date that does not exist.
    assert normalized_or_none(ten_digit(pin12, wrong), today) != pin12


@PROPERTY
@given(born=st.dates(min_value=EARLIEST, max_value=datetime.date(2099, 12, 31)), serial=serials)
def test_the_sign_and_the_age_flip_exactly_on_the_hundredth_birthday(born, serial):
    pin12 = pin_for(born, serial)
    birthday = hundredth_birthday(born)
    day_before = birthday - DAY
    assert validators.age_on(pin12, day_before) == 99
    assert validators.age_on(pin12, birthday) == 100

    dash, plus = ten_digit(pin12, "-"), ten_digit(pin12, "+")
    assert validators.normalize_personal_identity_number(dash, today=day_before) == pin12
    assert validators.normalize_personal_identity_number(plus, today=birthday) == pin12
    assert normalized_or_none(plus, day_before) != pin12
    assert normalized_or_none(dash, birthday) != pin12

    # Twelve digits with '+' must agree with the age; with '-' they are always fine.
    twelve_plus = f"{pin12[:8]}+{pin12[8:]}"
    assert validators.normalize_personal_identity_number(twelve_plus, today=birthday) == pin12
    assert_rejected(twelve_plus, "separator", today=day_before)
    assert validators.normalize_personal_identity_number(f"{pin12[:8]}-{pin12[8:]}", today=birthday) == pin12


@PROPERTY
@given(year=st.sampled_from(range(1904, 2100, 4)), serial=serials, years_later=st.integers(1, 150))
def test_born_on_29_february_is_a_year_older_on_1_march(year, serial, years_later):
    pin12 = build(year, 2, 29, serial)
    on_year = year + years_later
    assert validators.age_on(pin12, datetime.date(on_year, 2, 28)) == years_later - 1
    assert validators.age_on(pin12, datetime.date(on_year, 3, 1)) == years_later
    if on_year % 4 == 0 and (on_year % 100 != 0 or on_year % 400 == 0):
        assert validators.age_on(pin12, datetime.date(on_year, 2, 29)) == years_later


# Samordningsnummer ---------------------------------------------------------------------------------


@PROPERTY
@given(born=birth_dates, serial=serials, data=st.data())
def test_samordningsnummer_is_accepted_with_the_real_birth_date(born, serial, data):
    coordination = pin_for(born, serial, coordination=True)
    assert 61 <= int(coordination[6:8]) <= 91
    assert validators.normalize_personal_identity_number(coordination, today=TODAY) == coordination
    assert validators.is_coordination_number(coordination)
    assert validators.birth_date(coordination) == born
    shown = validators.format_personal_identity_number(coordination)
    assert validators.normalize_personal_identity_number(shown, today=TODAY) == coordination

    today = data.draw(dates_from(born), label="today")
    assert validators.age_on(coordination, today) == reference_age(born, today)
    sign = "+" if reference_age(born, today) >= 100 else "-"
    assert validators.normalize_personal_identity_number(ten_digit(coordination, sign), today=today) == coordination


@PROPERTY
@given(born=birth_dates, serial=serials)
def test_samordningsnummer_born_today_is_not_in_the_future(born, serial):
    coordination = pin_for(born, serial, coordination=True)
    assert validators.normalize_personal_identity_number(coordination, today=born) == coordination
    assert validators.normalize_personal_identity_number(ten_digit(coordination, "-"), today=born) == coordination
    assert_rejected(coordination, "future", today=born - DAY)


# Invalid numbers -----------------------------------------------------------------------------------


@PROPERTY
@given(
    born=birth_dates,
    serial=serials,
    coordination=st.booleans(),
    position=st.integers(2, 11),
    step=changes,
    ten=st.booleans(),
)
def test_every_single_digit_change_is_caught(born, serial, coordination, position, step, ten):
    pin12 = pin_for(born, serial, coordination=coordination)
    changed = pin12[:position] + str((int(pin12[position]) + step) % 10) + pin12[position + 1 :]
    assert not reference_check_ok(changed[2:])  # the check digit catches every single-digit change
    typed = ten_digit(changed, "-") if ten else changed
    error = error_of(typed, today=TODAY)
    assert error.code in {"check_digit", "date"}
    assert error.messages == [MESSAGES[error.code]]


@PROPERTY
@given(born=birth_dates, serial=serials, step=changes)
def test_wrong_check_digit_is_reported_as_such(born, serial, step):
    pin12 = pin_for(born, serial)
    changed = pin12[:-1] + str((int(pin12[-1]) + step) % 10)
    assert_rejected(changed, "check_digit", today=TODAY)
    assert_rejected(ten_digit(changed, "-"), "check_digit", today=TODAY)


@pytest.mark.parametrize(
    ("year", "month", "day"),
    [
        (2023, 2, 30),
        (2023, 2, 29),  # not a leap year
        (1900, 2, 29),  # nor is 1900
        (2023, 4, 31),
        (2023, 13, 1),
        (2023, 0, 1),
        (2023, 1, 0),
        (2023, 1, 32),
        (2023, 1, 60),  # a samordningsnummer for day 0
        (2023, 2, 90),  # a samordningsnummer for 30 February
        (2023, 1, 92),  # a samordningsnummer for 32 January
        (2023, 1, 99),
    ],
)
def test_impossible_date_is_refused(year, month, day):
    # The check digit is right, so the date is what is wrong. No such date: no real person's number.
    for serial in (0, 238, 999):
        pin12 = build(year, month, day, serial)
        assert_rejected(pin12, "date", today=TODAY)
        # The sign that puts ten digits in the same century.
        assert_rejected(ten_digit(pin12, "-" if year > TODAY.year - 99 else "+"), "date", today=TODAY)


@PROPERTY
@given(day=st.integers(32, 60) | st.integers(92, 99) | st.just(0), born=birth_dates, serial=serials)
def test_day_outside_both_ranges_is_refused(day, born, serial):
    assert_rejected(build(born.year, born.month, day, serial), "date", today=TODAY)


@PROPERTY
@given(
    born=st.dates(min_value=TODAY + DAY, max_value=datetime.date(9999, 12, 31)),
    serial=serials,
    coordination=st.booleans(),
)
def test_future_birth_date_is_refused(born, serial, coordination):
    pin12 = pin_for(born, serial, coordination=coordination)
    assert_rejected(pin12, "future", today=TODAY)
    assert_rejected(f"{pin12[:8]}-{pin12[8:]}", "future", today=TODAY)


@PROPERTY
@given(born=birth_dates, serial=serials)
def test_born_today_is_accepted_and_tomorrow_is_not(born, serial):
    pin12 = pin_for(born, serial)
    assert validators.normalize_personal_identity_number(pin12, today=born) == pin12
    assert validators.age_on(pin12, born) == 0
    assert_rejected(pin12, "future", today=born - DAY)
    # Ten digits are never in the future: the day before, they are read as someone 99 years old, unless that
    # century has no such day (29 February 2000 read as 1900).
    try:
        century_earlier = born.replace(year=born.year - 100)
    except ValueError:
        assert_rejected(ten_digit(pin12, "-"), "date", today=born - DAY)
        return
    earlier = validators.normalize_personal_identity_number(ten_digit(pin12, "-"), today=born - DAY)
    assert validators.birth_date(earlier) == century_earlier
    assert earlier[2:] == pin12[2:]
    assert validators.age_on(earlier, born - DAY) == 99


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "required"),
        ("   ", "required"),
        ("\t\n", "required"),
        (None, "required"),
        ("abc", "invalid_characters"),
        ("20000101 2384", "invalid_characters"),
        ("200001012384.", "invalid_characters"),
        ("٢٠٠٠٠١٠١٢٣٨٤", "invalid_characters"),  # Arabic-Indic digits
        ("２０００01012384", "invalid_characters"),  # fullwidth digits
        ("20000101–2384", "invalid_characters"),  # en dash
        ("2000010123845", "length"),
        ("20000101-23845", "length"),
        ("0001012384" + "5", "length"),
        ("000101238", "length"),
        ("000101-238", "length"),
        ("20000101238", "length"),
        ("-", "length"),
        ("+", "length"),
        ("000101--2384", "format"),
        ("000101-+2384", "format"),
        ("0001-012384", "format"),
        ("2000-01012384", "format"),
        ("-0001012384", "format"),
        ("0001012384-", "format"),
        ("+200001012384", "format"),
        ("2000010123-84", "format"),
    ],
)
def test_malformed_input_is_refused_with_a_swedish_message(typed, code):
    assert_rejected(typed, code, today=TODAY)


@PROPERTY
@given(pin12=st.sampled_from(TEST_PERSONNUMMER), ten=st.booleans(), data=st.data())
def test_a_foreign_character_inside_a_number_is_refused(pin12, ten, data):
    typed = ten_digit(pin12, "-") if ten else pin12
    character = data.draw(st.characters(exclude_characters="0123456789+-", exclude_categories=("Cs",)))
    position = data.draw(st.integers(1, len(typed) - 1))  # inside, where strip() cannot remove it
    assert_rejected(typed[:position] + character + typed[position:], "invalid_characters", today=TODAY)


@PROPERTY
@given(digits=st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_any_digit_string_is_accepted_exactly_when_the_reference_rules_say_so(digits):
    if len(digits) not in (10, 12):
        assert_rejected(digits, "length", today=TODAY)
        return
    result = normalized_or_none(digits, TODAY)
    ten = digits[-10:]
    if not reference_check_ok(ten):
        assert_rejected(digits, "check_digit", today=TODAY)
        return
    if result is None:  # the date does not exist or lies in the future
        assert error_of(digits, today=TODAY).code in {"date", "future"}
        return
    assert result[2:] == ten
    assert result == digits or len(digits) == 10
    born = validators.birth_date(result)
    assert born <= TODAY
    assert reference_age(born, TODAY) < 100 or len(digits) == 12


# validate_personal_identity_number, for model and form fields --------------------------------------


def test_validate_accepts_the_normalized_form_only():
    validators.validate_personal_identity_number(TOLVAN)
    for typed in ("19121212-1212", "121212+1212", f" {TOLVAN}", f"{TOLVAN}\n"):
        with translation.override("sv"), pytest.raises(ValidationError) as caught:
            validators.validate_personal_identity_number(typed)
        assert caught.value.code == "not_normalized"
        assert caught.value.messages == ["Värdet ska sparas i normaliserad form."]


def test_validate_passes_on_the_reason_an_invalid_number_is_rejected():
    broken = TOLVAN[:-1] + str((int(TOLVAN[-1]) + 1) % 10)
    with pytest.raises(ValidationError) as caught:
        validators.validate_personal_identity_number(broken)
    assert caught.value.code == "check_digit"


def test_validator_is_importable_by_the_name_migrations_write():
    validate = validators.validate_personal_identity_number
    assert validate.__name__ == validate.__qualname__ == "validate_personal_identity_number"


@PROPERTY
@given(born=st.dates(min_value=EARLIEST, max_value=datetime.date(2200, 12, 31)), serial=serials)
def test_validate_checks_against_the_date_of_the_call(born, serial):
    pin12 = pin_for(born, serial)
    with mock.patch.object(validators.timezone, "localdate", return_value=born):
        assert validators.validate_personal_identity_number(pin12) is None
        assert validators.normalize_personal_identity_number(pin12) == pin12
    with mock.patch.object(validators.timezone, "localdate", return_value=born - DAY):
        with pytest.raises(ValidationError) as caught:
            validators.validate_personal_identity_number(pin12)
        assert caught.value.code == "future"


def test_the_invoice_file_message_is_a_lazy_swedish_string():
    with translation.override("sv"):
        assert str(validators.PERSONAL_IDENTITY_NUMBER_INVALID) == "Personnumret är ogiltigt."


# Masking, for logs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("191212121212", "19121212-****"),
        ("19121212-1212", "19121212-****"),
        ("121212+1212", "121212-****"),
        ("12345", "****"),
        ("", ""),
    ],
)
def test_a_single_number_is_masked_down_to_the_birth_date(value, masked):
    assert validators.mask_personal_identity_number(value) == masked


def test_the_certificate_import_masks_with_the_one_core_function():
    assert imports.mask_personal_identity_number is validators.mask_personal_identity_number


@PROPERTY
@given(born=birth_dates, serial=serials, coordination=st.booleans(), data=st.data())
def test_every_way_of_writing_a_number_inside_text_is_masked(born, serial, coordination, data):
    pin12 = pin_for(born, serial, coordination=coordination)
    written = data.draw(
        st.sampled_from(
            [pin12, validators.format_personal_identity_number(pin12), ten_digit(pin12, "-"), ten_digit(pin12, "+")]
        ),
        label="written",
    )
    masked = validators.mask_personal_identity_numbers_in(f"Patient {written}: ändrad")
    assert masked == f"Patient {validators.mask_personal_identity_number(written)}: ändrad"


def test_text_masking_leaves_other_numbers_readable():
    tolvan, other = validators.format_personal_identity_number(TOLVAN), "200001012384"
    text = f"{tolvan} och {other}, org.nr 556036-0793, bankgiro 5050-1055, faktura 20240101000, ref 1912121212121"
    assert validators.mask_personal_identity_numbers_in(text) == (
        "19121212-**** och 20000101-****, org.nr 556036-0793, bankgiro 5050-1055, faktura 20240101000, "
        "ref 1912121212121"
    )
    # A wrong check digit or a month that is no month: not a personnummer.
    assert validators.mask_personal_identity_numbers_in("191212121213 191312121212") == "191212121213 191312121212"


def test_text_masking_takes_a_number_that_is_the_whole_text_even_the_shortest():
    """Texts under ten characters are passed without the pattern (they cannot hold a number): the shortest that
    can, a bare ten-digit number, is still masked."""
    ten = TOLVAN[2:]  # 1212121212
    assert validators.mask_personal_identity_numbers_in(ten) == validators.mask_personal_identity_number(ten)
    assert validators.mask_personal_identity_numbers_in(ten) != ten
    assert validators.mask_personal_identity_numbers_in(ten[:9]) == ten[:9]
