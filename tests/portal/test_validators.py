"""Swedish identifiers in `portal.validators`: property tests against reference checks written here.

The valid numbers are built with the reference check digits below, not with the module's own
helpers, so a broken check in `portal.validators` makes these tests fail instead of agreeing with it.
"""

import re

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from portal import validators

# As many examples as the profile says (tests/conftest.py): 200 in `make test` and CI, 10 in `make test-fast`.
PROPERTY = settings(deadline=None)
DIGITS = "0123456789"

# Reference checks ------------------------------------------------------------------------------


def reference_luhn_valid(number: str) -> bool:
    """Luhn counted from the left: weights 2, 1, 2, … chosen so that the last digit has weight 1."""
    weights = [2 if (len(number) - 1 - i) % 2 else 1 for i in range(len(number))]
    return sum(sum(divmod(int(d) * w, 10)) for d, w in zip(number, weights, strict=True)) % 10 == 0


def reference_luhn_complete(payload: str) -> str:
    """Payload plus the Luhn check digit, computed by formula rather than by trying digits."""
    weights = [2 if (len(payload) - i) % 2 else 1 for i in range(len(payload))]
    total = sum(sum(divmod(int(d) * w, 10)) for d, w in zip(payload, weights, strict=True))
    return payload + str((10 - total % 10) % 10)


def reference_gs1_valid(number: str) -> bool:
    """GS1 mod 10 over the whole 13-digit number: weights 1, 3, 1, … from the left, check digit included."""
    return len(number) == 13 and sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(number)) % 10 == 0


def reference_gs1_complete(payload: str) -> str:
    assert len(payload) == 12
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(payload))
    return payload + str((10 - total % 10) % 10)


def error_of(normalize, value: str) -> ValidationError:
    """The ValidationError `normalize(value)` raises, with its message in Swedish."""
    with translation.override("sv"), pytest.raises(ValidationError) as caught:
        normalize(value)
    return caught.value


# Strategies ------------------------------------------------------------------------------------


def digit_strings(min_size: int, max_size: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet=DIGITS, min_size=min_size, max_size=min_size if max_size is None else max_size)


valid_organisation_numbers = st.builds(
    lambda head, month_digits, tail: reference_luhn_complete(f"{head}{month_digits}{tail}"),
    digit_strings(2),
    st.integers(min_value=20, max_value=99),
    digit_strings(5),
)
valid_glns = digit_strings(12).map(reference_gs1_complete)
valid_bankgiros = digit_strings(6, 7).map(reference_luhn_complete)
valid_plusgiros = digit_strings(1, 7).map(reference_luhn_complete)
HSA_LOCAL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# "SE" + 10 digits + "-" leaves 18 of the 31 characters for the local part.
valid_hsa_ids = st.builds(
    lambda orgnr, local: f"SE{orgnr}-{local}",
    valid_organisation_numbers,
    st.text(alphabet=HSA_LOCAL_ALPHABET, min_size=1, max_size=18),
)
too_long_hsa_ids = st.builds(
    lambda orgnr, local: f"SE{orgnr}-{local}",
    valid_organisation_numbers,
    st.text(alphabet=HSA_LOCAL_ALPHABET, min_size=19, max_size=40),
)

# Anything that is neither an ASCII digit nor a separator some normalizer allows; includes other
# scripts' digits ("٣", "３"), letters, punctuation and whitespace other than the plain space.
foreign_characters = st.characters(exclude_characters="0123456789- ", exclude_categories=("Cs",))


def change_one_digit(number: str, position: int, step: int) -> str:
    """`number` with the digit at `position` replaced by another digit (step 1–9 never gives the same one)."""
    position %= len(number)
    return number[:position] + str((int(number[position]) + step) % 10) + number[position + 1 :]


# The reference checks themselves -----------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["2321000131", "2021005448", "50501055", "79927398713"],  # the last is the textbook Luhn example
)
def test_reference_luhn_accepts_known_valid_numbers(number):
    assert reference_luhn_valid(number)
    assert reference_luhn_complete(number[:-1]) == number
    assert validators.luhn_checksum_ok(number)


@pytest.mark.parametrize("number", ["4006381333931", "6291041500213"])  # Wikipedia's EAN-13; GS1's example
def test_reference_gs1_accepts_known_valid_numbers(number):
    assert reference_gs1_valid(number)
    assert reference_gs1_complete(number[:-1]) == number
    assert validators.gs1_check_digit(number[:-1]) == number[-1]


@PROPERTY
@given(payload=digit_strings(1, 20))
def test_luhn_check_digit_agrees_with_the_reference(payload):
    complete = reference_luhn_complete(payload)
    assert validators.luhn_check_digit(payload) == complete[-1]
    assert validators.luhn_checksum_ok(complete)


@PROPERTY
@given(number=digit_strings(1, 20))
def test_luhn_checksum_agrees_with_the_reference(number):
    assert validators.luhn_checksum_ok(number) == reference_luhn_valid(number)


@PROPERTY
@given(payload=digit_strings(12))
def test_gs1_check_digit_agrees_with_the_reference(payload):
    assert validators.gs1_check_digit(payload) == reference_gs1_complete(payload)[-1]


@pytest.mark.parametrize("published", ["5901234123457", "4006381333931", "7311041013168"])
def test_published_gtin_examples_are_valid_gln_numbers(published):
    # GS1's own example number and two from printed packaging: same mod-10 as GLN.
    assert validators.normalize_gln(published) == published


# Organisationsnummer -----------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["232100-0131", "2321000131", " 232100-0131 ", "232100 0131"])
def test_region_vastra_gotaland_is_valid(typed):
    assert validators.normalize_organisation_number(typed) == "2321000131"
    assert validators.format_organisation_number("2321000131") == "232100-0131"


def test_organisation_number_with_the_16_prefix_is_stored_without_it():
    assert validators.normalize_organisation_number("16232100-0131") == "2321000131"


@pytest.mark.parametrize(
    ("typed", "code", "message"),
    [
        ("", "required", "Ange ett värde."),
        ("   ", "required", "Ange ett värde."),
        ("232100-013", "length", "Organisationsnumret ska ha tio siffror."),
        ("232100-01311", "length", "Organisationsnumret ska ha tio siffror."),
        ("232100-0132", "check_digit", "Organisationsnumret har fel kontrollsiffra."),
        ("232100/0131", "invalid_characters", "Får bara innehålla siffror."),
        ("２３２１００-０１３１", "invalid_characters", "Får bara innehålla siffror."),
        # A personnummer (third and fourth digits a month; Skatteverket's test number) is not one.
        (
            "000101-2384",
            "month_digits",
            "Organisationsnumret är ogiltigt: tredje och fjärde siffran ska vara minst 20.",
        ),
    ],
)
def test_organisation_number_rejections_are_in_swedish(typed, code, message):
    error = error_of(validators.normalize_organisation_number, typed)
    assert error.code == code
    assert error.messages == [message]


@PROPERTY
@given(number=valid_organisation_numbers)
@example(number="2321000131")
def test_valid_organisation_number_normalizes_to_itself_and_round_trips(number):
    assert validators.normalize_organisation_number(number) == number
    formatted = validators.format_organisation_number(number)
    assert re.fullmatch(r"\d{6}-\d{4}", formatted)
    assert validators.normalize_organisation_number(formatted) == number
    assert validators.validate_organisation_number(number) is None


@PROPERTY
@given(number=valid_organisation_numbers, position=st.integers(0, 9), step=st.integers(1, 9))
def test_every_single_digit_change_of_an_organisation_number_is_caught(number, position, step):
    changed = change_one_digit(number, position, step)
    assert not reference_luhn_valid(changed)  # Luhn catches every single-digit change
    error = error_of(validators.normalize_organisation_number, changed)
    if int(changed[2:4]) >= 20:
        assert error.code == "check_digit"
    else:
        assert error.code in {"check_digit", "month_digits"}


@PROPERTY
@given(number=digit_strings(10))
def test_ten_digit_organisation_numbers_are_accepted_exactly_when_the_reference_says_so(number):
    valid = reference_luhn_valid(number) and int(number[2:4]) >= 20
    if valid:
        assert validators.normalize_organisation_number(number) == number
    else:
        assert error_of(validators.normalize_organisation_number, number).code in {"check_digit", "month_digits"}


@PROPERTY
@given(number=digit_strings(1, 20))
def test_organisation_number_of_wrong_length_is_rejected(number):
    assume(len(number) != 10 and not (len(number) == 12 and number.startswith("16")))
    error = error_of(validators.normalize_organisation_number, number)
    assert error.code == "length"
    assert error.messages == ["Organisationsnumret ska ha tio siffror."]


# GLN ---------------------------------------------------------------------------------------------


@PROPERTY
@given(gln=valid_glns)
@example(gln="4006381333931")
def test_valid_gln_normalizes_to_itself(gln):
    assert validators.normalize_gln(gln) == gln
    spaced = f"{gln[:1]} {gln[1:7]} {gln[7:]}"
    assert validators.normalize_gln(spaced) == gln
    assert validators.validate_gln(gln) is None


@PROPERTY
@given(gln=valid_glns, position=st.integers(0, 12), step=st.integers(1, 9))
def test_every_single_digit_change_of_a_gln_is_caught(gln, position, step):
    changed = change_one_digit(gln, position, step)
    assert not reference_gs1_valid(changed)  # weights 1 and 3 are both prime to 10
    error = error_of(validators.normalize_gln, changed)
    assert error.code == "check_digit"
    assert error.messages == ["GLN har fel kontrollsiffra."]


@PROPERTY
@given(number=digit_strings(13))
def test_glns_are_accepted_exactly_when_the_reference_says_so(number):
    if reference_gs1_valid(number):
        assert validators.normalize_gln(number) == number
    else:
        assert error_of(validators.normalize_gln, number).code == "check_digit"


@PROPERTY
@given(number=digit_strings(1, 20).filter(lambda n: len(n) != 13))
def test_gln_of_wrong_length_is_rejected(number):
    error = error_of(validators.normalize_gln, number)
    assert error.code == "length"
    assert error.messages == ["GLN ska ha 13 siffror."]


def test_gln_does_not_accept_dashes():
    assert error_of(validators.normalize_gln, "400638-1333931").code == "invalid_characters"


# HSA-id ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["SE2321000131-E000000000001", "se2321000131-E000000000001"])
def test_hsa_id_of_region_vastra_gotaland(typed):
    assert validators.normalize_hsa_id(typed) == "SE2321000131-E000000000001"


@PROPERTY
@given(hsa_id=valid_hsa_ids)
def test_valid_hsa_id_normalizes_to_itself(hsa_id):
    assert validators.normalize_hsa_id(hsa_id) == hsa_id
    assert validators.normalize_hsa_id("se" + hsa_id[2:]) == hsa_id
    assert validators.normalize_hsa_id(f"  {hsa_id}\n") == hsa_id
    assert validators.validate_hsa_id(hsa_id) is None


@PROPERTY
@given(hsa_id=too_long_hsa_ids)
def test_hsa_id_longer_than_31_characters_is_rejected(hsa_id):
    assert len(hsa_id) > 31
    assert error_of(validators.normalize_hsa_id, hsa_id).code == "format"


def test_hsa_id_of_exactly_31_characters_is_accepted_and_32_is_not():
    longest = "SE2321000131-" + "A" * 18
    assert len(longest) == 31
    assert validators.normalize_hsa_id(longest) == longest
    assert error_of(validators.normalize_hsa_id, longest + "A").code == "format"


@PROPERTY
@given(hsa_id=valid_hsa_ids, position=st.integers(2, 11), step=st.integers(1, 9))
def test_every_single_digit_change_in_the_organisation_number_of_an_hsa_id_is_caught(hsa_id, position, step):
    changed = hsa_id[:2] + change_one_digit(hsa_id[2:12], position - 2, step) + hsa_id[12:]
    error = error_of(validators.normalize_hsa_id, changed)
    assert error.code == "organisation_number"
    assert error.messages == ["HSA-id innehåller ett ogiltigt organisationsnummer."]


@PROPERTY
@given(hsa_id=valid_hsa_ids, data=st.data())
def test_hsa_id_with_a_foreign_character_is_rejected(hsa_id, data):
    character = data.draw(st.characters(exclude_characters="-", exclude_categories=("Cs",)).filter(str.isprintable))
    assume(not ("0" <= character <= "9" or "A" <= character <= "Z" or "a" <= character <= "z"))
    position = data.draw(st.integers(1, len(hsa_id) - 1))
    error = error_of(validators.normalize_hsa_id, hsa_id[:position] + character + hsa_id[position:])
    assert error.code == "format"
    assert error.messages == ["HSA-id ska skrivas SE, organisationsnummer, bindestreck och en id-del, högst 31 tecken."]


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "SE2321000131",  # no id part
        "SE2321000131-",
        "SE232100-0131-ABC",  # the organisationsnummer is written without its dash
        "NO2321000131-ABC",
        "SE232100013-ABC",  # nine digits
        "SE23210001311-ABC",  # eleven digits
        "SE2321000131-AB_C",
        "SE2321000131-ÅÄÖ",
        "ſE2321000131-ABC",  # the long s upper-cases to S; it is still not an S
        "SE٢٣٢١٠٠٠١٣١-ABC",  # Arabic-Indic digits
    ],
)
def test_malformed_hsa_ids_are_rejected(typed):
    assert error_of(validators.normalize_hsa_id, typed).code == "format"


def test_hsa_id_with_a_personnummer_is_rejected():
    assert error_of(validators.normalize_hsa_id, "SE0001012384-ABC").code == "organisation_number"


# Bankgiro ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "shown"),
    [("50501055", "5050-1055"), (reference_luhn_complete("123456"), "123-4566")],
)
def test_bankgiro_examples(digits, shown):
    assert validators.format_bankgiro(digits) == shown
    assert validators.normalize_bankgiro(shown) == digits


@PROPERTY
@given(number=valid_bankgiros)
def test_valid_bankgiro_normalizes_to_itself_and_round_trips(number):
    assert validators.normalize_bankgiro(number) == number
    formatted = validators.format_bankgiro(number)
    assert re.fullmatch(r"\d{3,4}-\d{4}", formatted)
    assert formatted.replace("-", "") == number
    assert validators.normalize_bankgiro(formatted) == number
    assert validators.validate_bankgiro(number) is None


@PROPERTY
@given(number=valid_bankgiros, position=st.integers(0, 7), step=st.integers(1, 9))
def test_every_single_digit_change_of_a_bankgiro_is_caught(number, position, step):
    changed = change_one_digit(number, position, step)
    assert not reference_luhn_valid(changed)
    error = error_of(validators.normalize_bankgiro, changed)
    assert error.code == "check_digit"
    assert error.messages == ["Bankgironumret har fel kontrollsiffra."]


@PROPERTY
@given(number=digit_strings(7, 8))
def test_bankgiros_are_accepted_exactly_when_the_reference_says_so(number):
    if reference_luhn_valid(number):
        assert validators.normalize_bankgiro(number) == number
    else:
        assert error_of(validators.normalize_bankgiro, number).code == "check_digit"


@PROPERTY
@given(number=digit_strings(1, 20).filter(lambda n: not 7 <= len(n) <= 8))
def test_bankgiro_of_wrong_length_is_rejected(number):
    error = error_of(validators.normalize_bankgiro, number)
    assert error.code == "length"
    assert error.messages == ["Bankgironumret ska ha sju eller åtta siffror."]


# Plusgiro ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "shown"),
    [
        ("1", "1-?"),
        ("12", "12-?"),
        ("123", "1 23-?"),
        ("123456", "12 34 56-?"),
        ("4123456", "4 12 34 56-?"),
    ],
)
def test_plusgiro_is_shown_in_pairs_with_the_check_digit_apart(payload, shown):
    digits = reference_luhn_complete(payload)
    shown = shown.replace("?", digits[-1])
    assert validators.format_plusgiro(digits) == shown
    assert validators.normalize_plusgiro(shown) == digits


@PROPERTY
@given(number=valid_plusgiros)
def test_valid_plusgiro_normalizes_to_itself_and_round_trips(number):
    assert validators.normalize_plusgiro(number) == number
    formatted = validators.format_plusgiro(number)
    assert re.fullmatch(r"\d{1,2}( \d\d)*-\d", formatted)
    assert re.sub(r"[ -]", "", formatted) == number
    assert validators.normalize_plusgiro(formatted) == number
    assert validators.validate_plusgiro(number) is None


@PROPERTY
@given(number=valid_plusgiros, position=st.integers(0, 7), step=st.integers(1, 9))
def test_every_single_digit_change_of_a_plusgiro_is_caught(number, position, step):
    changed = change_one_digit(number, position, step)
    assert not reference_luhn_valid(changed)
    error = error_of(validators.normalize_plusgiro, changed)
    assert error.code == "check_digit"
    assert error.messages == ["Plusgironumret har fel kontrollsiffra."]


@PROPERTY
@given(number=digit_strings(2, 8))
def test_plusgiros_are_accepted_exactly_when_the_reference_says_so(number):
    if reference_luhn_valid(number):
        assert validators.normalize_plusgiro(number) == number
    else:
        assert error_of(validators.normalize_plusgiro, number).code == "check_digit"


@PROPERTY
@given(number=digit_strings(1, 20).filter(lambda n: not 2 <= len(n) <= 8))
def test_plusgiro_of_wrong_length_is_rejected(number):
    error = error_of(validators.normalize_plusgiro, number)
    assert error.code == "length"
    assert error.messages == ["Plusgironumret ska ha mellan två och åtta siffror."]


# Shared by all the digit numbers -----------------------------------------------------------------

DIGIT_NUMBERS = {
    "organisation_number": valid_organisation_numbers,
    "gln": valid_glns,
    "bankgiro": valid_bankgiros,
    "plusgiro": valid_plusgiros,
}


@PROPERTY
@given(
    kind_and_number=st.sampled_from(sorted(DIGIT_NUMBERS)).flatmap(
        lambda kind: st.tuples(st.just(kind), DIGIT_NUMBERS[kind])
    ),
    data=st.data(),
)
def test_a_foreign_character_inside_a_number_is_rejected(kind_and_number, data):
    kind, number = kind_and_number
    character = data.draw(foreign_characters if kind != "gln" else foreign_characters | st.just("-"))
    position = data.draw(st.integers(1, len(number) - 1))  # inside, where strip() cannot remove it
    error = error_of(getattr(validators, f"normalize_{kind}"), number[:position] + character + number[position:])
    assert error.code == "invalid_characters"
    assert error.messages == ["Får bara innehålla siffror."]


@pytest.mark.parametrize("kind", [*DIGIT_NUMBERS, "hsa_id"])
@pytest.mark.parametrize("typed", ["", "   ", "\t\n", None])
def test_an_empty_value_is_rejected(kind, typed):
    error = error_of(getattr(validators, f"normalize_{kind}"), typed)
    if kind == "hsa_id":
        assert error.code == "format"
    else:
        assert error.code == "required"
        assert error.messages == ["Ange ett värde."]


# validate_* for model and form fields --------------------------------------------------------------

NON_NORMALIZED = {
    # kind: (a stored value, the same value as a person might type it)
    "organisation_number": ("2321000131", "232100-0131"),
    "gln": ("4006381333931", "4006381 333931"),
    "hsa_id": ("SE2321000131-E000000000001", "se2321000131-E000000000001"),
    "bankgiro": ("50501055", "5050-1055"),
    "plusgiro": ("41234568", "4 12 34 56-8"),
}


@pytest.mark.parametrize("kind", NON_NORMALIZED)
def test_validate_accepts_the_normalized_form_only(kind):
    validate = getattr(validators, f"validate_{kind}")
    stored, typed = NON_NORMALIZED[kind]
    assert validate(stored) is None
    for not_normalized in (typed, f" {stored}", f"{stored}\n"):
        with translation.override("sv"), pytest.raises(ValidationError) as caught:
            validate(not_normalized)
        assert caught.value.code == "not_normalized"
        assert caught.value.messages == ["Värdet ska sparas i normaliserad form."]


@pytest.mark.parametrize("kind", NON_NORMALIZED)
def test_validate_passes_on_the_reason_an_invalid_value_is_rejected(kind):
    validate = getattr(validators, f"validate_{kind}")
    stored, _ = NON_NORMALIZED[kind]
    # Change the last digit of the number: for an HSA-id, the organisationsnummer's check digit.
    end = 12 if kind == "hsa_id" else len(stored)
    broken = stored[: end - 1] + str((int(stored[end - 1]) + 1) % 10) + stored[end:]
    with pytest.raises(ValidationError) as caught:
        validate(broken)
    assert caught.value.code == ("organisation_number" if kind == "hsa_id" else "check_digit")


@pytest.mark.parametrize("kind", NON_NORMALIZED)
def test_validators_are_importable_by_the_name_migrations_write(kind):
    validate = getattr(validators, f"validate_{kind}")
    assert validate.__name__ == validate.__qualname__ == f"validate_{kind}"


# FDI tooth numbers ------------------------------------------------------------------------------------------


def test_fdi_teeth_are_the_32_permanent_and_20_primary_teeth():
    assert len(validators.FDI_TEETH) == 52
    for tooth in ("11", "18", "48", "51", "55", "85"):
        assert validators.is_fdi_tooth(tooth)
    for typed in ("", "1", "10", "19", "49", "56", "86", "90", "036", "3 6", "٣٦"):
        assert not validators.is_fdi_tooth(typed)
