"""The orjson fast path of engine._parse_json changes nothing but speed.

For every input, `_parse_json` with `_fast_json` gives exactly the outcome of the strict decoder alone:
the same value (same types, same key order) or the same VerificationError code and message. Targeted
cases cover each way orjson differs from the strict decoder (duplicates, big integers, NaN and
overflow, lone surrogates); Hypothesis properties cover generated and mutated JSON texts (duplicates,
escaped colons, big numbers), number literals and noise. The fast path must also really be taken for
ordinary claims and fields, so it cannot silently become dead code.
"""

import json
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from keys import engine
from keys.engine import MAX_DEPTH, MAX_INT_DIGITS, VerificationError

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def exact(value):
    """`value` with every type spelled out: 1, 1.0, True and -0.0 all differ; key order counts."""
    if isinstance(value, dict):
        return ("dict", tuple((type(k).__name__, k, exact(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", tuple(exact(item) for item in value))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def outcome(raw: bytes):
    try:
        value = engine._parse_json(raw, "payload", "invalid_payload")
    except VerificationError as exc:
        return ("refused", exc.code, exc.message)
    return ("value", json.dumps(value, sort_keys=False), exact(value))


def fast(raw: bytes):
    """_parse_json as shipped: orjson first, the strict decoder when orjson cannot decide."""
    return outcome(raw)


def strict(raw: bytes):
    """_parse_json with the fast path switched off: the strict decoder alone."""
    with mock.patch.object(engine, "_fast_json", lambda raw, text: engine._STRICT):
        return outcome(raw)


def fast_path_taken(raw: bytes) -> bool:
    return engine._fast_json(raw, raw.decode("utf-8")) is not engine._STRICT


# ---------------------------------------------------------------------------
# Targeted cases
# ---------------------------------------------------------------------------


def nested(depth: int, inner: str = "1") -> str:
    text = inner
    for level in range(depth):
        text = f'{{"k{level}":{text}}}' if level % 2 else f"[{text}]"
    return text


def integer_cases():
    for digits in (1, 18, 19, 20, MAX_INT_DIGITS, MAX_INT_DIGITS + 1):
        for number in (10 ** (digits - 1), 10**digits - 1, int(("9876543210" * 5)[:digits])):
            yield str(number)
            yield str(-number)
    for number in (2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -(2**64), 2**53 + 1):
        yield str(number)
        yield f"[{number}]"
        yield f'{{"n":{number}}}'
        yield f'{{"n":{number},"n":1}}'
    yield '{"big":123456789012345678901234567890,"small":1}'
    yield f'{{"a":{"9" * 41},"b":2}}'


DUPLICATES = [
    '{"a":1,"a":2}',
    '{"a":1,"a":1}',
    '{"a":1,"b":2,"a":3}',
    '{"a":{"b":1},"a":{"b":1}}',
    '{"x":{"a":1,"a":2}}',
    '{"x":{"y":{"a":1,"a":2}}}',
    '[{"a":1,"a":2}]',
    '[1,{"a":1},{"b":[{"c":1,"c":2}]}]',
    '{"fields":[{"label":"x","label":"y"}]}',
    '{"a:b":1,"a:b":2}',
    '{"a":"x:y","a":"x:y"}',
    '{"https://x":1,"https://x":2}',
    '{":":1,":":2}',
    '{"a:":1,"a\\u003a":2}',
    '{"a\\u003a":1,"a\\u003A":2}',
    '{"\\u0061":1,"a":2}',
    '{"a":1,"\\u0061":2,"b":"c:d"}',
    '{"\\"":1,"\\"":2}',
    '{"\\":":1,"\\":":2}',
    '{"a\\\\":1,"a\\\\":2}',
    '{"a\\\\":"b:","a\\\\":"c"}',
    '{"\\\\\\"":1,"\\\\\\"":2}',
    '{"k":"\\":","k":2}',
    '{"s":"\\\\","x":":","x":1}',
    '{"a" : 1 , "a" : 2}',
    '{\n  "a": 1,\n  "a": 2\n}',
    '{"a":1,"a":2,"b":"https://x","c":"y:z"}',
    '{"url":"https://x","url":"https://y"}',
    '{"a\\u003a":1,"a:":2}',
    '{"":1,"":2}',
    # A collapsed duplicate whose colons do not follow a quote, made up for by strings that start with
    # a colon: as many '":' as members, so only the white-space rule of _no_member_lost catches them.
    '{"a" :1,"a" :2,"b":":"}',
    '{"a"\t:1,"a"\t:2,"b":":"}',
    '{"a"\n:1,"a"\n:2,"b":":"}',
    '{"a"\r:1,"a"\r:2,"b":":"}',
    '{"a"  :1,"a":":x"}',
    '{"u":"https://x","u" :":"}',
]

COLONS_NO_DUPLICATE = [
    '{"iss":"https://x"}',
    '{"iss":"https://issuer.example/a:b","aud":["urn:x:y","https://z"]}',
    '{"a:b":1,"c":"d:e:f"}',
    '{"a\\u003ab":"c\\u003ad"}',
    '{"\\"":":","\\\\":"\\":"}',
    '{"k":"\\\\\\":"}',
    '{"a" : 1 , "b"\t:\n2}',
    '{"a":[{"b":"c:d"},{"b":"e:f"}]}',
    '{"a":{"b":{"c":":::"}},"d":":"}',
    '"a:b"',
    '[":", "::", "\\":"]',
    '{"":1}',
    '{"iss":"https://shop.example","at":"12:30","name":"Ann B"}',
    '{"a":"x\\":y","b":":"}',
    '{"a" :"https://x"}',
    '{"a":" :","b":"\\t:"}',
]

FLOATS = [
    "0.1",
    "-0.0",
    "0.0",
    "-0",
    "1E2",
    "1e2",
    "1.5E+3",
    "2.5e-3",
    "1e308",
    "1.7976931348623157e308",
    "1.7976931348623159e308",
    "1e309",
    "-1e309",
    "-1e400",
    "1.5e-400",
    "4.9e-324",
    "2.4e-324",
    "2.5e-324",
    "9007199254740993.0",
    "123456789.123456789",
    "0.1234567890123456789",
    "1e0000000000000000001",
    "1e2147483648",
    "[1.0, 1, true, -0.0, 0]",
    '{"exp":1700000000.5,"nbf":1e3}',
    '{"a":1e309,"a":1}',
    "NaN",
    "-NaN",
    "Infinity",
    "-Infinity",
    "[NaN]",
    '{"x":Infinity}',
    "nan",
    "inf",
    "1.",
    ".5",
    "01",
    "+1",
    "-",
    "1e",
]

STRINGS = [
    '"\\ud800"',
    '"\\udfff"',
    '"\\uDC00\\uD800"',
    '"\\ud800\\u0041"',
    '{"\\ud800":1}',
    '{"a":["\\ud800"]}',
    '"\\ud83d\\ude00"',
    '"\\uD83D\\uDE00"',
    '{"\\ud83d\\ude00":"\\ud83d\\ude00:"}',
    '"😀é\u2028\u2029"',
    '"a\x01b"',
    '"a\tb"',
    '"a\nb"',
    '"a\x1fb"',
    '"a\x7fb"',
    '"\\t\\n\\r\\b\\f\\/\\\\\\"\\u0000\\u001f"',
    '{"c":"\\u0000:"}',
    '"\\x"',
    '"\\u12"',
    '"abc',
    '{"s":"12345678901234567890"}',
    '{"s":"0000000000000000000","n":1}',
    '{"s":"1234567890123456789","a":1,"a":2}',
    '["9223372036854775808", 9223372036854775807]',
]

SHAPES = [
    "",
    " ",
    "\n\t\r ",
    "\ufeff{}",
    '\ufeff{"a":1}',
    "{}",
    "[]",
    "{ }",
    "[ ]",
    '""',
    '"x"',
    "0",
    "42",
    "-7",
    "true",
    "false",
    "null",
    " true ",
    "\x0c1",
    "1\x0c",
    "\u00a01",
    '{"a":1}}',
    '{"a":1} x',
    '{"a":1}\x00',
    "[1] [2]",
    "1 2",
    "[1,]",
    '{"a":1,}',
    "{'a':1}",
    '{"a" 1}',
    '{"a"::1}',
    '{"a":1 "b":2}',
    "[",
    "{",
    '{"a":',
    "tru",
    "True",
    "None",
    nested(MAX_DEPTH),
    nested(MAX_DEPTH + 1),
    "[" * MAX_DEPTH + "]" * MAX_DEPTH,
    "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    nested(MAX_DEPTH - 1, '{"a":1,"a":2}'),
    nested(MAX_DEPTH, '{"a":1,"a":2}'),
    nested(MAX_DEPTH - 1, '{"a":"b:c","d":"https://e"}'),
    '["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]',
]

FIELDS = [
    '[{"label":"email","data":"ann@example.com","type":"email"}]',
    '[{"label":"site","data":"https://x.example:8443/p?q=a:b","type":"url"},'
    '{"label":"address","data":{"street":"Main 1","geo":{"lat":52.5,"lon":13.4}},"type":"json"},'
    '{"label":"tags","data":["a:b",1,2.5,true,null,{"k":"v"}],"type":"json"}]',
    '[{"label":"x","data":{"a":1,"a":2},"type":"json"}]',
    '[{"label":"n","data":12345678901234567890,"type":"number"}]',
    '[{"label":"n","data":1e400,"type":"number"}]',
    '[{"label":"s","data":"\\ud800","type":"text"}]',
]

TEXT_CASES = [
    *integer_cases(),
    *DUPLICATES,
    *COLONS_NO_DUPLICATE,
    *FLOATS,
    *STRINGS,
    *SHAPES,
    *FIELDS,
]

BYTE_CASES = [
    b"\xef\xbb\xbf{}",
    b'{"a":"\xff"}',
    b"\xc3",
    b'"\xed\xa0\x80"',
    b'"\xed\xa0\xbd\xed\xb8\x80"',
    b'{"a":1,"a":"\xfe"}',
    b"\x00",
    b'"\xc0\xaf"',
    b"\xff\xfe{\x00}\x00",
]

CASES = [text.encode("utf-8", "surrogatepass") for text in TEXT_CASES] + BYTE_CASES


@pytest.mark.parametrize("raw", CASES, ids=[repr(raw)[:60] for raw in CASES])
def test_fast_equals_strict(raw):
    assert fast(raw) == strict(raw)


# The fast path must stay alive for what real clients sign.
TYPICAL_CLAIMS = json.dumps(
    {
        "iss": "https://issuer.example.com/tenant:42",
        "sub": "user:1234",
        "aud": ["https://app.example.com", "urn:widget:abc"],
        "iat": 1700000000,
        "nbf": 1700000000,
        "exp": 1700003600,
        "jti": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "email": "ann@example.com",
        "score": 0.75,
        "admin": False,
        "nick": None,
    }
).encode()
TYPICAL_FIELDS = json.dumps(
    [
        {"label": "email", "data": "ann@example.com", "type": "email"},
        {"label": "site", "data": "https://ann.example:8443/a", "type": "url"},
        {"label": "address", "data": {"street": "Main 1", "geo": {"lat": 52.5, "lon": 13.4}}, "type": "json"},
        {"label": "plan", "data": ["pro", 3, True, None], "type": "json"},
    ],
    separators=(",", ":"),
).encode()
TYPICAL_HEADER = b'{"alg":"ES256","kid":"key-2024:01","typ":"JWT"}'
NESTED_CLAIMS = (
    b'{"iss":"https://x","ctx":{"tenant":"a:b","geo":{"lat":1.5}},'
    rb'"orgs":[{"id":1,"role":"admin"},{"id":2,"role":"x:y"}],"s":"\\ \"q\": \u003a"}'
)


@pytest.mark.parametrize(
    "raw",
    [
        TYPICAL_CLAIMS,
        TYPICAL_FIELDS,
        TYPICAL_HEADER,
        NESTED_CLAIMS,
        b'{"iss":"https://x","ctx":{"tenant":"a:b","geo":{"lat":1.5}}}',
        b'{"iss":"https://x"}',
        b"{}",
        b"[]",
        b'"x"',
        b"1",
        b"[922337203685477580,-999999999999999999]",
    ],
)
def test_fast_path_taken_for_real_payloads(raw):
    assert fast_path_taken(raw)
    assert fast(raw) == strict(raw)
    assert fast(raw)[0] == "value"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1,"a":2}',
        b'[{"label":"x","data":{"a":1,"a":2},"type":"json"}]',
        b'{"a:":1,"a\\u003a":2}',
        b'{"\\"":1,"\\"":2}',
        b'{"n":12345678901234567890}',
        b'{"n":-9223372036854775809}',
        b'{"s":"1234567890123456789"}',
        b'"\\ud800"',
        b"1e400",
        b"NaN",
        b"[1,]",
    ],
)
def test_strict_decides(raw):
    assert not fast_path_taken(raw)


@pytest.mark.parametrize(
    ("text", "members", "expected"),
    [
        ('{"iss":"https://x","t":"12:30"}', 2, True),  # the quick proof: two '":', no quote before white space
        ('{"iss":"https://x","iss":"12:30"}', 1, False),  # a collapsed duplicate: two members written
        ('{"a" :1,"a" :2,"b":":"}', 2, False),  # as many '":' as members, but a name is followed by a space
        ('{"a" :1,"b":":"}', 2, True),  # the same white space without a duplicate: counted outside strings
        ('{"a":"x\\":y"}', 1, True),  # an escaped quote before a colon
    ],
)
def test_no_member_lost(text, members, expected):
    assert engine._no_member_lost(text, members) is expected


# ---------------------------------------------------------------------------
# Property: generated and mutated JSON texts
# ---------------------------------------------------------------------------


class Obj:
    """A JSON object as written, duplicates and all: a list of (key, value) pairs."""

    def __init__(self, pairs):
        self.pairs = pairs


class Num(str):
    """A number literal written as is."""


SPECIAL_CHARS = ':"\\/\x00\x01\x1f\x7f \t\n\u2028\ufeffé\u0410😀\ud800\udc00\udfff{}[],'
chars = st.characters() | st.sampled_from(SPECIAL_CHARS)
strings = st.text(alphabet=chars, max_size=10)
keys = st.sampled_from(["a", "b", "a:b", ":", "https://x", "", '"', "\\", "iss", "\\:"]) | st.text(
    alphabet=chars, max_size=4
)
integers = st.integers(min_value=-(10**45), max_value=10**45) | st.sampled_from(
    [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**18, 10**19 - 1, 10**40 - 1, 10**40]
)
number_literals = st.from_regex(r"-?(0|[1-9][0-9]{0,44})(\.[0-9]{1,22})?([eE][-+]?[0-9]{1,4})?", fullmatch=True).map(
    Num
)
leaves = st.none() | st.booleans() | integers | st.floats() | number_literals | strings


def containers(children):
    return st.lists(children, max_size=4) | st.lists(st.tuples(keys, children), max_size=4).map(Obj)


trees = st.recursive(leaves, containers, max_leaves=16)
SNIPPETS = [
    ":",
    ",",
    '"',
    "\\",
    "\\u003a",
    '"\\u003a"',
    '"a":1,',
    '"a\\u003a":1,',
    "12345678901234567890",
    "9223372036854775808",
    "-9223372036854775809",
    "1" * (MAX_INT_DIGITS + 1),
    "1e400",
    "NaN",
    "Infinity",
    "\\ud800",
    "{",
    "}",
    "[",
    "]",
    " ",
    "\ufeff",
    "\x00",
]


def string_literal(draw, text: str) -> str:
    style = draw(st.sampled_from(["raw", "ascii", "colons", "all"]))
    if style == "raw":
        return json.dumps(text, ensure_ascii=False)
    if style == "ascii":
        return json.dumps(text)
    if style == "colons":  # ':' is never part of an escape, so every ':' here is text
        return json.dumps(text, ensure_ascii=draw(st.booleans())).replace(
            ":", draw(st.sampled_from(["\\u003a", "\\u003A"]))
        )
    units = text.encode("utf-16-le", "surrogatepass")
    hex_format = draw(st.sampled_from(["\\u{:04x}", "\\u{:04X}"]))
    return (
        '"'
        + "".join(hex_format.format(int.from_bytes(units[i : i + 2], "little")) for i in range(0, len(units), 2))
        + '"'
    )


@st.composite
def json_texts(draw):
    comma = draw(st.sampled_from([",", ", ", " , ", ",\n  ", "\t,\r\n"]))
    colon = draw(st.sampled_from([":", ": ", " : ", " :", "\n:\t"]))
    space = st.sampled_from(["", " ", "\n", "\r\n\t"])

    def write(node) -> str:
        if isinstance(node, Obj):
            members = [string_literal(draw, key) + colon + write(value) for key, value in node.pairs]
            if members and draw(st.booleans()):  # a duplicate: the same member again, or its key with a new value
                key, value = node.pairs[draw(st.integers(0, len(node.pairs) - 1))]
                members.append(
                    string_literal(draw, key) + colon + write(draw(leaves) if draw(st.booleans()) else value)
                )
            return "{" + comma.join(members) + "}"
        if isinstance(node, list):
            return "[" + comma.join(write(item) for item in node) + "]"
        if isinstance(node, str) and not isinstance(node, Num):
            return string_literal(draw, node)
        return node if isinstance(node, Num) else json.dumps(node)  # floats: NaN and Infinity too

    text = draw(space) + write(draw(trees)) + draw(space)
    for _ in range(draw(st.integers(0, 2))):  # mostly valid, sometimes mutated
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(SNIPPETS)) + text[at:]
    return text


def reaches_fast_path(raw: bytes) -> bool:
    """Whether _parse_json would get past its own checks and take orjson's answer."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(raw) and not engine.too_deep(text) and engine._fast_json(raw, text) is not engine._STRICT


@SETTINGS
@given(json_texts(), st.booleans())
def test_generated_texts(text, raw_surrogates):
    """Raw lone surrogates become invalid UTF-8 (surrogatepass) or '?' (replace)."""
    raw = text.encode("utf-8", "surrogatepass" if raw_surrogates else "replace")
    result = fast(raw)
    event("fast path" if reaches_fast_path(raw) else "strict path")
    event(result[0])
    assert result == strict(raw)


@SETTINGS
@given(st.lists(number_literals | integers.map(str) | st.floats().map(json.dumps), min_size=1, max_size=5))
def test_number_literals(numbers):
    for raw in [numbers[0].encode(), ("[" + ",".join(numbers) + "]").encode()]:
        assert fast(raw) == strict(raw)


@SETTINGS
@given(
    st.binary(max_size=60) | st.text(alphabet='{}[]":,\\ u0123456789aeEdD.-+tfnrl\ufeff', max_size=60).map(str.encode)
)
def test_noise(raw):
    assert fast(raw) == strict(raw)
