"""A list's links, one per row, from one reverse() per URL name: reverse() resolves the pattern anew on each call
(Era fakturor's 25 rows asked it 75 times a page)."""

from __future__ import annotations

from collections.abc import Callable

from django.urls import reverse

# Stand-ins for the row's ids in the reversed URL: integers no row has, replaced by the row's own.
_STAND_IN = 987_654_320


def row_url(name: str, *keys: str, **fixed: object) -> Callable[..., str]:
    """`name`'s URL as a function of its row `keys` (as keyword arguments: integers, or texts of digits such as a
    clinic's number), the `fixed` arguments the same for every row, reversed once: row_url("invoice_detail",
    "clinic_pk", "invoice_pk")(clinic_pk=3, invoice_pk=7) is reverse("invoice_detail", kwargs={...}) for them."""
    stand_ins = {key: str(_STAND_IN + index) for index, key in enumerate(keys)}
    pattern = reverse(name, kwargs={**fixed, **{key: int(value) for key, value in stand_ins.items()}})

    def url(**kwargs: int | str) -> str:
        made = pattern
        for key, stand_in in stand_ins.items():
            value = str(kwargs[key])
            if not value.isdigit():
                raise ValueError(f"{key}={value!r}: a row's key in a URL is digits only")
            made = made.replace(stand_in, value)
        return made

    return url
