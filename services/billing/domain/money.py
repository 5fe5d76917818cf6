"""Money is Decimal CNY, rounded half-up to the fen (0.01), and never a float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN = Decimal("0.01")


def cny(value: Decimal | int | str) -> Decimal:
    """`value` as CNY rounded half-up to the fen: 0.005 -> 0.01, 2.675 -> 2.68.

    A float (or bool) is refused with TypeError: 2.675 as a float is 2.67499999..., which is why
    money never passes through one. A malformed or non-finite text is refused with ValueError.
    """
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise TypeError(f"money must be a Decimal, int or str, never {type(value).__name__}: {value!r}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"not an amount of money: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount of money: {value!r}")
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)
