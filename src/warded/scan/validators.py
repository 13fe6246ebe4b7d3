"""Output validators: structured output checked against a schema or model, and domain checks on its values.

A model's structured output (or a tool-call argument) is only useful if it parses and makes sense. These
validators return ``Finding``s in the ``output`` category, never raise for bad output, and fail closed:
output that does not parse, a value that is missing, or a check that itself fails is a finding.

=============================  =====================================================================
rule id                        meaning
=============================  =====================================================================
``output.not_json``            the output is not strict JSON (NaN/Infinity, bad UTF-8 and nesting too
                               deep to read included)
``output.schema``              the output does not match the JSON Schema or pydantic model
``output.amount_missing``      the field an ``AmountCheck`` watches is absent
``output.amount_invalid``      that field is not a finite number (or a plain numeric string)
``output.amount_range``        the amount is outside ``[minimum, maximum]``
``output.amount_magnitude``    the amount is more than ``max_ratio`` times above or below the reference
                               (or of the other sign): the $1.12-instead-of-$2,200 unit slip
``output.check_error``         a check raised instead of answering (its own fault, still a finding)
=============================  =====================================================================

``JsonSchemaValidator`` uses the ``jsonschema`` package (the draft named by ``$schema``, else 2020-12; no
remote ``$ref`` is ever fetched: one is an ``output.schema`` finding). ``PydanticValidator`` uses a pydantic
``TypeAdapter`` (so a ``BaseModel`` or any type pydantic understands). ``DomainCheck`` is the protocol for
a deployment's own checks; ``validate_output`` parses once and runs any mix of them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Protocol, cast, runtime_checkable

import jsonschema
import jsonschema.exceptions
import jsonschema.validators
import pydantic
import referencing
import referencing.exceptions

from warded.scan.types import Category, Finding, Response

__all__ = [
    "AmountCheck",
    "DomainCheck",
    "JsonSchemaValidator",
    "NotJson",
    "PydanticValidator",
    "parse_output",
    "validate_output",
]

_MAX_FINDINGS: Final = 16
_MAX_DEPTH: Final = 200  # nesting a JSON document may have; deeper is refused before parsing


@dataclass(frozen=True, slots=True)
class NotJson:
    """Output that could not be parsed; ``finding`` says why."""

    finding: Finding


def _output_finding(
    rule_id: str, message: str, *, score: float = 0.9, suggested: Response = Response.DENY, **detail: str
) -> Finding:
    return Finding(rule_id, Category.OUTPUT, score, message, suggested, None, "raw", detail)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _nesting_too_deep(text: str) -> bool:
    """A cheap upper bound on nesting (brackets inside strings count too, which only errs on the safe side)."""
    if text.count("[") + text.count("{") <= _MAX_DEPTH:
        return False
    depth = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def parse_output(output: object) -> object:
    """Parse ``str``/``bytes`` output as strict JSON; anything else is taken as already parsed.

    Returns the value, or ``NotJson`` (never raises).
    """
    if isinstance(output, bytes | bytearray | memoryview):
        try:
            output = bytes(output).decode("utf-8")
        except UnicodeDecodeError:
            return NotJson(_output_finding("output.not_json", "output is not valid UTF-8"))
    if not isinstance(output, str):
        return output
    if _nesting_too_deep(output):
        return NotJson(_output_finding("output.not_json", f"output nests deeper than {_MAX_DEPTH} levels"))
    try:
        return json.loads(output, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        return NotJson(_output_finding("output.not_json", f"output is not valid JSON{where}"))


def _refuse_retrieval(uri: str) -> referencing.Resource[Any]:
    # referencing's attrs classes take their private fields by alias, which mypy does not see: hence the casts.
    raise cast(Any, referencing.exceptions.NoSuchResource)(ref=uri)


def _path(parts: Sequence[object]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@runtime_checkable
class DomainCheck(Protocol):
    """A deployment's own check on parsed output: return findings (category ``OUTPUT``), empty when fine.

    ``check`` receives the parsed JSON value (dicts, lists, str, int, float, bool, None). It should not
    raise; if it does, ``validate_output`` turns that into an ``output.check_error`` finding.
    """

    def check(self, output: object) -> Sequence[Finding]: ...


class JsonSchemaValidator:
    """Validates output against a JSON Schema. The schema is checked when constructed: a bad schema raises
    ``jsonschema.SchemaError`` at start-up, not at the first output."""

    def __init__(self, schema: Mapping[str, Any] | bool, *, max_errors: int = 8) -> None:
        if max_errors < 1:
            raise ValueError("max_errors must be at least 1")
        schema_value: Any = dict(schema) if isinstance(schema, Mapping) else schema
        cls = jsonschema.validators.validator_for(schema_value, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema_value)
        # A registry that refuses to retrieve: a remote ``$ref`` is an error, never a network fetch.
        registry: referencing.Registry[Any] = cast(Any, referencing.Registry)(retrieve=_refuse_retrieval)
        self._validator = cls(schema_value, format_checker=cls.FORMAT_CHECKER, registry=registry)
        self.max_errors = max_errors

    def check(self, output: object) -> list[Finding]:
        value: Any = parse_output(output)
        if isinstance(value, NotJson):
            return [value.finding]
        try:
            errors = sorted(self._validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
        except Exception as exc:  # an unresolvable $ref, a format checker's bug...: a finding, never an exception
            name = "Unresolvable" if isinstance(exc, referencing.exceptions.Unresolvable) else type(exc).__name__
            return [_output_finding("output.schema", f"schema validation failed: {name}", path="$", keyword="$ref")]
        findings: list[Finding] = []
        for error in errors[: self.max_errors]:
            path = _path(list(error.absolute_path))
            keyword = str(error.validator)
            # The message names the place and the schema rule, never the offending value (it may be a secret).
            findings.append(
                _output_finding(
                    "output.schema",
                    f"{path} fails the schema's {keyword!r} rule ({_short(error.validator_value)})",
                    path=path,
                    keyword=keyword,
                )
            )
        if len(errors) > self.max_errors:
            findings.append(
                _output_finding(
                    "output.schema", f"{len(errors) - self.max_errors} more schema error(s)", path="$", keyword="*"
                )
            )
        return findings


class PydanticValidator:
    """Validates output against a pydantic model (or any type a ``TypeAdapter`` accepts).

    ``str``/``bytes`` output is parsed by pydantic's own strict JSON parser; parsed values are validated as
    Python objects. ``strict`` turns off pydantic's type coercion (``"3"`` is then not an ``int``).
    """

    def __init__(self, model: Any, *, strict: bool = False, max_errors: int = 8) -> None:
        if max_errors < 1:
            raise ValueError("max_errors must be at least 1")
        self._adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(model)
        self.strict = strict
        self.max_errors = max_errors

    def check(self, output: object) -> list[Finding]:
        if isinstance(output, bytes | bytearray | memoryview | str):
            parsed = parse_output(output)  # the same strictness (no NaN, bounded depth) as every validator
            if isinstance(parsed, NotJson):
                return [parsed.finding]
            output = parsed
        try:
            self._adapter.validate_python(output, strict=self.strict)
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            findings = [
                _output_finding(
                    "output.schema",
                    f"{_path(list(e['loc']))}: {e['msg']}",
                    path=_path(list(e["loc"])),
                    keyword=e["type"],
                )
                for e in errors[: self.max_errors]
            ]
            if len(errors) > self.max_errors:
                findings.append(
                    _output_finding(
                        "output.schema",
                        f"{len(errors) - self.max_errors} more validation error(s)",
                        path="$",
                        keyword="*",
                    )
                )
            return findings
        return []


def _parse_path(field_path: str) -> tuple[str | int, ...]:
    """``order.items[0].price`` / ``$.items[*].price`` -> ``("order", "items", 0, "price")``; ``*`` for any."""
    text = field_path.strip()
    if text.startswith("$"):
        text = text[1:].lstrip(".")
    if not text:
        raise ValueError(f"field path {field_path!r} names no field")
    parts: list[str | int] = []
    for chunk in text.split("."):
        name, _, rest = chunk.partition("[")
        if name:
            parts.append(name)
        elif not rest:
            raise ValueError(f"field path {field_path!r} has an empty segment")
        while rest:
            index, sep, rest = rest.partition("]")
            if not sep or (rest and not rest.startswith("[")):
                raise ValueError(f"field path {field_path!r} has a malformed index")
            rest = rest[1:]
            if index == "*":
                parts.append("*")
            elif index.isdigit():
                parts.append(int(index))
            else:
                raise ValueError(f"field path {field_path!r} has a non-numeric index {index!r}")
    return tuple(parts)


def _lookup(value: object, parts: Sequence[str | int], trail: tuple[str | int, ...]) -> list[tuple[str, object]]:
    """Every ``(path, value)`` the parts reach; a missing step yields ``(path, _MISSING)``."""
    if not parts:
        return [(_path(trail), value)]
    head, rest = parts[0], parts[1:]
    if head == "*":
        if isinstance(value, list):
            out: list[tuple[str, object]] = []
            for i, item in enumerate(value):
                out.extend(_lookup(item, rest, (*trail, i)))
            return out
        if isinstance(value, dict):
            out = []
            for key, item in value.items():
                out.extend(_lookup(item, rest, (*trail, str(key))))
            return out
        return [(_path((*trail, *parts)), _MISSING)]
    if isinstance(head, int):
        if isinstance(value, list) and head < len(value):
            return _lookup(value[head], rest, (*trail, head))
    elif isinstance(value, dict) and head in value:
        return _lookup(value[head], rest, (*trail, head))
    return [(_path((*trail, *parts)), _MISSING)]


_MISSING: Final = object()


def _as_number(value: object) -> float | None:
    """A finite number from a JSON number or a plain numeric string (``"2200.50"``, ``"2,200.50"``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = float(value) if abs(value) < 1 << 1023 else math.inf
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str) and 0 < len(value) <= 64:
        text = value.strip().replace("_", "")
        groups = text.partition(".")[0].lstrip("+-").split(",")
        if len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])):
            return None  # "1,12" is ambiguous (European decimal comma): refuse rather than guess
        try:
            number = float(Decimal(text.replace(",", "")))
        except (InvalidOperation, ValueError):
            return None
    else:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True, slots=True)
class AmountCheck:
    """Stops an amount outside ``[minimum, maximum]``, or more than ``max_ratio`` times above or below
    ``reference`` (default 10: one order of magnitude), or of the opposite sign to it.

    ``field_path`` names the amount: ``price``, ``order.total``, ``legs[0].qty``, ``legs[*].price`` (every
    element). Use ``with_reference`` for a per-call reference (the current market price, the invoice total).
    """

    field_path: str
    minimum: float
    maximum: float
    reference: float | None = None
    max_ratio: float = 10.0
    _parts: tuple[str | int, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __init__(
        self,
        field_path: str,
        *,
        minimum: float,
        maximum: float,
        reference: float | None = None,
        max_ratio: float = 10.0,
    ) -> None:
        for name, bound in (("minimum", minimum), ("maximum", maximum)):
            if isinstance(bound, bool) or not isinstance(bound, int | float | Decimal) or math.isnan(bound):
                raise ValueError(f"{name} must be a number")
        if minimum > maximum:
            raise ValueError(f"minimum {minimum} is above maximum {maximum}")
        if reference is not None and (
            isinstance(reference, bool) or not isinstance(reference, int | float | Decimal)
            or not math.isfinite(reference) or reference == 0
        ):  # fmt: skip
            raise ValueError("reference must be a finite, non-zero number")
        if not (isinstance(max_ratio, int | float) and math.isfinite(max_ratio) and max_ratio > 1):
            raise ValueError("max_ratio must be a finite number above 1")
        object.__setattr__(self, "field_path", field_path)
        object.__setattr__(self, "minimum", float(minimum))
        object.__setattr__(self, "maximum", float(maximum))
        object.__setattr__(self, "reference", None if reference is None else float(reference))
        object.__setattr__(self, "max_ratio", float(max_ratio))
        object.__setattr__(self, "_parts", _parse_path(field_path))

    def with_reference(self, reference: float | None) -> AmountCheck:
        """The same check against another reference value."""
        return AmountCheck(
            self.field_path, minimum=self.minimum, maximum=self.maximum, reference=reference, max_ratio=self.max_ratio
        )

    def check(self, output: object) -> list[Finding]:
        value = parse_output(output)
        if isinstance(value, NotJson):
            return [value.finding]
        findings: list[Finding] = []
        for path, found in _lookup(value, self._parts, ())[:_MAX_FINDINGS]:
            findings.extend(self._check_one(path, found))
        return findings

    def _check_one(self, path: str, found: object) -> list[Finding]:
        if found is _MISSING:
            return [_output_finding("output.amount_missing", f"no amount at {path}", path=path)]
        number = _as_number(found)
        if number is None:
            return [_output_finding("output.amount_invalid", f"the amount at {path} is not a finite number", path=path)]
        out: list[Finding] = []
        if not (self.minimum <= number <= self.maximum):
            out.append(
                _output_finding(
                    "output.amount_range",
                    f"the amount at {path} ({number:g}) is outside [{self.minimum:g}, {self.maximum:g}]",
                    score=0.9,
                    path=path,
                    value=f"{number:g}",
                    minimum=f"{self.minimum:g}",
                    maximum=f"{self.maximum:g}",
                )
            )
        if self.reference is not None:
            ratio = number / self.reference
            if ratio <= 0 or not (1 / self.max_ratio <= ratio <= self.max_ratio):
                factor = math.inf if ratio <= 0 else max(ratio, 1 / ratio)
                orders = "inf" if math.isinf(factor) else f"{math.log10(factor):.1f}"
                out.append(
                    _output_finding(
                        "output.amount_magnitude",
                        f"the amount at {path} ({number:g}) is "
                        + (
                            f"of the opposite sign to, or zero against, the reference {self.reference:g}"
                            if ratio <= 0
                            else f"{factor:.3g}x {'above' if ratio > 1 else 'below'} the reference {self.reference:g}"
                        )
                        + f" (more than {self.max_ratio:g}x)",
                        score=0.95,
                        path=path,
                        value=f"{number:g}",
                        reference=f"{self.reference:g}",
                        orders_of_magnitude=orders,
                    )
                )
        return out


def validate_output(output: object, *checks: DomainCheck) -> list[Finding]:
    """Parse ``output`` once and run every check on it. Never raises: a check that raises yields an
    ``output.check_error`` finding (DENY), so a broken check never lets output through."""
    value = parse_output(output)
    if isinstance(value, NotJson):
        return [value.finding]
    findings: list[Finding] = []
    for check in checks:
        try:
            findings.extend(check.check(value))
        except Exception as exc:  # a user hook's failure must become a finding, whatever it raised
            findings.append(
                _output_finding(
                    "output.check_error",
                    f"check {type(check).__name__} failed ({type(exc).__name__})",
                    score=1.0,
                    check=type(check).__name__,
                )
            )
    return findings
