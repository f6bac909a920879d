"""State machines: which state may become which, and the one refusal when it may not.

Each model with a state names its allowed moves once, in a `Transitions` table next to its `TextChoices`:

    CLAIM_TRANSITIONS = Transitions({RECEIVED: {UNDER_REVIEW, ...}, ...}, labels=ClaimState)

Every service that changes that state asks the table (`allows`, `check`, `move`), so that no path moves a row
the table forbids, and a refused move reads the same wherever it is refused: a ValidationError with code
"state" naming the current and the wanted state in the reader's language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

DEFAULT_REFUSAL = gettext_lazy("Status %(state)s kan inte bli %(target)s.")
Params = Mapping[str, object] | Callable[[], Mapping[str, object]] | None


class Transitions(Mapping[str, frozenset[str]]):
    """A state machine's table: each state and the states it may become. Read as a mapping, too.

    `refusal` is the message of a refused move, with %(state)s and %(target)s (the labels of `labels`,
    lower-cased unless `lower=False`) and any other placeholder the caller fills through `params` (a claim's
    reference, say).
    """

    def __init__(
        self,
        table: Mapping[str, Iterable[str]],
        *,
        labels: type[models.TextChoices],
        refusal: str | Promise = DEFAULT_REFUSAL,
        lower: bool = True,
        field: str = "state",
    ):
        self._table = {str(state): frozenset(str(target) for target in targets) for state, targets in table.items()}
        named = set(self._table) | {state for targets in self._table.values() for state in targets}
        if wrong := (named ^ set(labels.values)) | (set(labels.values) - set(self._table)):
            # A state left out of the table would be refused everything without anyone deciding so.
            raise ValueError(f"the table must name every state of {labels.__name__}, and only those: {sorted(wrong)}")
        self.labels = labels
        self.refusal_message = refusal
        self.lower = lower
        self.field = field

    def __getitem__(self, state: str) -> frozenset[str]:
        return self._table[state]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def allows(self, current: str, target: str) -> bool:
        """May `current` become `target`?"""
        return target in self._table.get(current, frozenset())

    def sources(self, target: str) -> frozenset[str]:
        """Every state that may become `target`: for a guarded UPDATE ... WHERE state IN (...)."""
        return frozenset(state for state, targets in self._table.items() if target in targets)

    def label(self, state: str) -> str:
        text = str(self.labels(state).label)
        return text.lower() if self.lower else text

    def refusal(self, current: str, target: str, params: Params = None) -> ValidationError:
        """The refusal of moving `current` to `target`, in the language active now. `params` fill the message's
        other placeholders: a mapping, or a function returning one (called only when refusing)."""
        values = (params() if callable(params) else params) or {}
        message = str(self.refusal_message) % {"state": self.label(current), "target": self.label(target), **values}
        return ValidationError(message, code="state")

    def check(self, current: str, target: str, params: Params = None) -> None:
        """Refuse (raise) unless `current` may become `target`."""
        if not self.allows(current, target):
            raise self.refusal(current, target, params)

    def update(self, queryset: models.QuerySet, target: str, *, sources: Iterable[str] | None = None, **values) -> int:
        """Move the rows of `queryset` that are in `sources` (by default every state that may become `target`) to
        `target` in one guarded UPDATE, without a lock: a row in any other state is left as it is. The rows moved.

        For marking a background job failed from outside its transaction, say.
        """
        sources = self.sources(target) if sources is None else frozenset(sources)
        if forbidden := sorted(state for state in sources if not self.allows(state, target)):
            raise ValueError(f"{forbidden} may not become {target!r}")
        return queryset.filter(**{f"{self.field}__in": sorted(sources)}).update(**{self.field: target, **values})

    def move(self, obj: models.Model, target: str, *, fields: Iterable[str] = (), params: Params = None) -> None:
        """Move one locked row to `target`, saving `fields` (set by the caller) with the state; refused as `check`.

        The caller locks the row (select_for_update) and checks its own guards first, in its transaction.
        """
        self.check(getattr(obj, self.field), target, params)
        setattr(obj, self.field, target)
        update_fields = [self.field, *fields]
        if any(field.name == "updated_at" for field in obj._meta.concrete_fields) and "updated_at" not in fields:
            update_fields.append("updated_at")
        obj.save(update_fields=update_fields)
