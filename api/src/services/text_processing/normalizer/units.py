"""Units after a number ("10 km" -> "10 kilometers"; on only with ``unit_normalization``)."""
from __future__ import annotations

import re

_UNITS = {  # written form: (one, many)
    "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"), "PB": ("petabyte", "petabytes"),
    "Kbps": ("kilobit per second", "kilobits per second"), "kbps": ("kilobit per second", "kilobits per second"),
    "Mbps": ("megabit per second", "megabits per second"), "Gbps": ("gigabit per second", "gigabits per second"),
    "km/h": ("kilometer per hour", "kilometers per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"), "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"), "mm": ("millimeter", "millimeters"), "m": ("meter", "meters"),
    "kg": ("kilogram", "kilograms"), "mg": ("milligram", "milligrams"), "g": ("gram", "grams"),
    "lbs": ("pound", "pounds"), "lb": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "ft": ("foot", "feet"), "mi": ("mile", "miles"), "ms": ("millisecond", "milliseconds"),
    "min": ("minute", "minutes"), "s": ("second", "seconds"), "h": ("hour", "hours"),
    "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "°C": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "kWh": ("kilowatt hour", "kilowatt hours"), "kW": ("kilowatt", "kilowatts"), "W": ("watt", "watts"),
    "V": ("volt", "volts"), "GHz": ("gigahertz", "gigahertz"), "MHz": ("megahertz", "megahertz"),
    "kHz": ("kilohertz", "kilohertz"), "Hz": ("hertz", "hertz"), "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"), "L": ("liter", "liters"),
}
# Longest first, so "km/h" is tried before "km" and "mph" before "m".
_UNIT_ALTERNATION = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))


def _unit(m: re.Match[str]) -> str:
    s, at = m.string, m.start()
    # Only the unit is rewritten (the number keeps its own map); it is singular after a lone "1".
    spaced = s[at - 1] == " "
    end = at - 1 if spaced else at
    singular = s[end - 1] == "1" and (end < 2 or not (s[end - 2].isdigit() or s[end - 2] in ".,"))
    one, many = _UNITS[m.group("u")]
    return ("" if spaced else " ") + (one if singular else many)
