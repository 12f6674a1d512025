import pytest

from frontdesk.model.phone import normalize_e164


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1234567890", "+1234567890"),
        ("+1 (415) 555-0123", "+14155550123"),
        ("0044 20 7946 0958", "+442079460958"),
    ],
)
def test_normalizes(raw: str, expected: str) -> None:
    assert normalize_e164(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("4155550123", "must start with '+' and the country code"),
        ("+1234567890123456", "E.164 allows 7 to 15 digits"),
        ("+12", "is not a phone number"),
        ("hello", "must start with '+'"),
    ],
)
def test_explains_what_is_wrong_and_the_expected_form(raw: str, fragment: str) -> None:
    with pytest.raises(ValueError) as err:
        normalize_e164(raw)
    assert fragment in str(err.value)
    assert "+14155550123" in str(err.value)
