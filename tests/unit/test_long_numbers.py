"""v1.0's English G2P reads a number too long for words digit by digit (issue 22 §5: num2words overflowed)."""
from api.src.builds.v1_0.g2p import MAX_NUMBER_DIGITS, spell_long_numbers


def test_numbers_up_to_the_limit_are_left_as_they_are():
    text = f"It costs 1,234 dollars, {'9' * MAX_NUMBER_DIGITS} in all, items 1,2,3 and ١٢٣."
    assert spell_long_numbers(text) == text


def test_a_longer_number_in_any_script_is_spelt_digit_by_digit_keeping_every_character():
    for digit in ("1", "\u0661", "\u0967", "\uff11", "\U0001d7cf"):
        number = digit * (MAX_NUMBER_DIGITS + 1)
        assert spell_long_numbers(f"a {number}.") == f"a {' '.join(number)}."
    assert spell_long_numbers("1,234,567,890,123,456,789") == "1, 2 3 4, 5 6 7, 8 9 0, 1 2 3, 4 5 6, 7 8 9"
    spelt = spell_long_numbers("x" + "1," * 400 + "1y")
    assert spelt.replace(" ", "") == "x" + "1," * 400 + "1y"
