"""Random request messages built from their descriptors, and byte-level mutations of them.

Values lean on the edges where services break: strings up to ~20,000 characters of Unicode and
control characters, integers at the limits of their wire type (2^63 and 2^64-1 in uint64 fields),
enum numbers nobody defined, repeated fields with thousands of elements. Plausible identifiers are
mixed in so calls get past the first validation and into the handlers.
"""
from __future__ import annotations

import random

from google.protobuf import descriptor as _descriptor

FD = _descriptor.FieldDescriptor

STRING_LENGTHS = [0, 1, 2, 8, 16, 63, 64, 65, 128, 129, 200, 201, 500, 501, 1024, 1025, 4096, 5000, 20000]
STRING_LENGTH_WEIGHTS = [6, 6, 8, 10, 8, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 1, 1, 1, 1]
SPECIAL_STRINGS = [
    "", " ", "\x00", "%", "%00", "%zz", "../../etc/passwd", "' OR 1=1 --", "\u202e\u0645", "null", "NaN",
    "9223372036854775808", "-1", "18446744073709551615", "ada@example.org", "+49 30 1234567", "127.0.0.1",
    "::1", "1.2.3.999", "DE89370400440532013000", "2026-01-01T00:00:00Z", "9999-12-31", "\ud7ff", "\U0001F600" * 3,
    "a" * 128 + ".", "\r\nx-injected: 1", "${jndi:ldap://x}", "CHANNEL_WEBFORM", "newsletter", "email",
]
PLAUSIBLE_IDS = ["c-1001", "c-1002", "abuse-subject", "newsletter", "email", "phone", "iban", "list-1",
                 "req-1", "crm", "a", "x" * 64]
ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz0123456789-_.:",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "".join(chr(c) for c in range(0, 32)) + "\x7f",
    "éüßçñøåÆ漢字かなカナ한글русскийعربيעברית\u0301\u200b\u200d\ufeff\u202e",
    "\U0001F600\U0001F4A9\U00010348\U0001F1E9\U0001F1EA",
]

INT32_EDGES = [0, 1, -1, 2**31 - 1, -2**31, 7, 100, 1000, 1001, -1000]
INT64_EDGES = [0, 1, -1, 2**63 - 1, -2**63, 2**31, 2**32, 2**53 + 1, 1_000_000_000_000]
UINT32_EDGES = [0, 1, 2**31 - 1, 2**31, 2**32 - 1, 1000]
UINT64_EDGES = [0, 1, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 1, 2**32, 2**53 + 1]
FLOAT_EDGES = [0.0, -0.0, 1.0, -1.0, float("inf"), float("-inf"), float("nan"), 1e308, 5e-324]
REPEATED_COUNTS = [0, 1, 2, 3, 10, 100, 1001, 5000]
REPEATED_WEIGHTS = [6, 10, 6, 4, 3, 2, 1, 1]
UNKNOWN_ENUMS = [99, 12345, -1, 2**31 - 1, -2**31]

INT_RANGES = {
    FD.TYPE_INT32: INT32_EDGES, FD.TYPE_SINT32: INT32_EDGES, FD.TYPE_SFIXED32: INT32_EDGES,
    FD.TYPE_INT64: INT64_EDGES, FD.TYPE_SINT64: INT64_EDGES, FD.TYPE_SFIXED64: INT64_EDGES,
    FD.TYPE_UINT32: UINT32_EDGES, FD.TYPE_FIXED32: UINT32_EDGES,
    FD.TYPE_UINT64: UINT64_EDGES, FD.TYPE_FIXED64: UINT64_EDGES,
}
INT_BOUNDS = {
    FD.TYPE_INT32: (-2**31, 2**31 - 1), FD.TYPE_SINT32: (-2**31, 2**31 - 1), FD.TYPE_SFIXED32: (-2**31, 2**31 - 1),
    FD.TYPE_INT64: (-2**63, 2**63 - 1), FD.TYPE_SINT64: (-2**63, 2**63 - 1), FD.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    FD.TYPE_UINT32: (0, 2**32 - 1), FD.TYPE_FIXED32: (0, 2**32 - 1),
    FD.TYPE_UINT64: (0, 2**64 - 1), FD.TYPE_FIXED64: (0, 2**64 - 1),
}


class MessageGenerator:
    """Builds random, serializable instances of request message classes."""

    MAX_DEPTH = 4

    def __init__(self, rng: random.Random):
        self.rng = rng

    def message(self, message_class, budget: int | None = None):
        """A random message of `message_class`; `budget` roughly caps the characters spent."""
        if budget is None:
            budget = self.rng.choice([2_000, 20_000, 60_000, 250_000])
        self._budget = budget
        message = message_class()
        self._fill(message, depth=0)
        return message

    def _spend(self, amount: int) -> bool:
        self._budget -= amount
        return self._budget > 0

    def _fill(self, message, depth: int) -> None:
        descriptor = message.DESCRIPTOR
        chosen_oneofs = {oneof.name: self.rng.choice(oneof.fields) for oneof in descriptor.oneofs}
        presence = 0.85 if depth == 0 else max(0.2, 0.6 - 0.15 * depth)
        for field in descriptor.fields:
            oneof = field.containing_oneof
            if oneof is not None and chosen_oneofs.get(oneof.name) is not field:
                continue
            if self.rng.random() > presence or self._budget <= 0:
                continue
            self._set(message, field, depth)

    def _set(self, message, field, depth: int) -> None:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            container = getattr(message, field.name)
            for _ in range(self._count()):
                key = self._scalar(key_field)
                if value_field.message_type is not None:
                    if depth < self.MAX_DEPTH:
                        self._fill(container[key], depth + 1)
                else:
                    container[key] = self._scalar(value_field)
                if self._budget <= 0:
                    break
            return
        if field.is_repeated:
            container = getattr(message, field.name)
            for _ in range(self._count()):
                if field.message_type is not None:
                    if depth >= self.MAX_DEPTH:
                        break
                    self._fill(container.add(), depth + 1)
                else:
                    container.append(self._scalar(field))
                if self._budget <= 0:
                    break
            return
        if field.message_type is not None:
            if depth < self.MAX_DEPTH:
                sub = getattr(message, field.name)
                sub.SetInParent()
                self._fill(sub, depth + 1)
            return
        setattr(message, field.name, self._scalar(field))

    def _count(self) -> int:
        return self.rng.choices(REPEATED_COUNTS, REPEATED_WEIGHTS)[0]

    def _scalar(self, field):
        rng = self.rng
        kind = field.type
        if kind == FD.TYPE_STRING:
            return self.string(field.name)
        if kind == FD.TYPE_BYTES:
            size = rng.choices(STRING_LENGTHS, STRING_LENGTH_WEIGHTS)[0]
            self._spend(size)
            return rng.randbytes(size)
        if kind == FD.TYPE_BOOL:
            return rng.random() < 0.5
        if kind == FD.TYPE_ENUM:
            self._spend(2)
            values = [value.number for value in field.enum_type.values]
            return rng.choice(values) if rng.random() < 0.75 else rng.choice(UNKNOWN_ENUMS)
        if kind in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
            return rng.choice(FLOAT_EDGES) if rng.random() < 0.6 else rng.uniform(-1e9, 1e9)
        if kind in INT_RANGES:
            self._spend(4)
            low, high = INT_BOUNDS[kind]
            if rng.random() < 0.6:
                return rng.choice(INT_RANGES[kind])
            return rng.randint(max(low, -10**6), min(high, 10**6)) if rng.random() < 0.5 else rng.randint(low, high)
        raise ValueError(f"unhandled field type {kind} of {field.full_name}")

    def string(self, name: str = "") -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.25 and (name.endswith("_id") or name.endswith("_ids") or name in ("field", "fields", "name", "tag")):
            value = rng.choice(PLAUSIBLE_IDS)
        elif roll < 0.35:
            value = rng.choice(SPECIAL_STRINGS)
        else:
            size = rng.choices(STRING_LENGTHS, STRING_LENGTH_WEIGHTS)[0]
            alphabet = rng.choice(ALPHABETS)
            if size >= 1000 and rng.random() < 0.7:
                # A long run of one character (cheap to build) with a marker: the shape of a
                # padded id or a pasted blob.
                value = rng.choice(alphabet) * size
            else:
                value = "".join(rng.choice(alphabet) for _ in range(size))
        self._spend(len(value))
        # Lone surrogates cannot be serialized by protobuf; keep the rest.
        return value.encode("utf-8", "ignore").decode("utf-8")


MUTATIONS = ["none", "bitflip", "truncate", "extend", "insert", "overlong-varint", "random"]
MUTATION_WEIGHTS = [30, 20, 10, 10, 8, 7, 15]


def mutate(data: bytes, rng: random.Random, kind: str | None = None) -> tuple[bytes, str]:
    """A mutated copy of serialized message bytes and the mutation's name."""
    kind = kind or rng.choices(MUTATIONS, MUTATION_WEIGHTS)[0]
    if kind == "random":
        size = rng.choice([0, 1, 2, 5, 16, 64, 256, 1024, 4096])
        return rng.randbytes(size), kind
    if not data or kind == "none":
        return data, "none"
    buffer = bytearray(data)
    if kind == "bitflip":
        for _ in range(rng.choice([1, 1, 2, 4, 8])):
            position = rng.randrange(len(buffer))
            buffer[position] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del buffer[rng.randrange(len(buffer)):]
    elif kind == "extend":
        buffer += rng.randbytes(rng.choice([1, 2, 5, 16, 100]))
    elif kind == "insert":
        position = rng.randrange(len(buffer) + 1)
        buffer[position:position] = rng.randbytes(rng.choice([1, 3, 10]))
    elif kind == "overlong-varint":
        position = rng.randrange(len(buffer))
        buffer[position:position + 1] = b"\xff" * rng.choice([5, 10, 11, 20])
    return bytes(buffer), kind
