"""MailUp's `filterby` and `orderby` query parameters, parsed into Django queries.

`filterby` is a small LINQ-like language (`Email=='a@b.it'`,
`Email.Contains('x') && idList==5`). It is parsed by a recursive-descent
parser into Q objects over a table of known properties and never
evaluated as code. Grammar:

    filter      = or-expr
    or-expr     = and-expr { "||" and-expr }
    and-expr    = primary { ( "&&" | "&" ) primary }
    primary     = "(" or-expr ")" | method-call | comparison
    comparison  = operand ( "==" | "!=" | "<=" | ">=" | "<" | ">" ) operand
    method-call = member "." ( "Contains" | "StartsWith" | "EndsWith" ) "(" string ")"
    operand     = member | string | number | "true" | "false" | "null"
    member      = [ identifier "." ] ( identifier | "Fields" "[" string "]" )
    string      = "'" { any character except "'" | "''" } "'"

Property, field and method names match without regard to case, and
`Fields['nome']` names the recipient field whose description is `nome`.
A comparison needs one member and one literal, in either order.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

TOKEN_PATTERN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>'(?:[^']|'')*')
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<operator>\|\||&&|==|!=|<=|>=|<|>|&)
    | (?P<punct>[().\[\]])
    | (?P<identifier>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
COMPARISON_LOOKUPS = {"==": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
FLIPPED_OPERATORS = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
METHOD_LOOKUPS = {"contains": "contains", "startswith": "startswith", "endswith": "endswith"}
KEYWORDS = {"true": True, "false": False, "null": None}
# An orderby key such as Fields['nome'] or recipient.Fields['nome'].
FIELD_KEY = re.compile(r"^(?:[A-Za-z_]\w*\.)?fields\[('(?:[^']|'')*')\]$", re.IGNORECASE)
MAX_EXPRESSION_LENGTH = 2000
# Each bracket level costs three Python frames in this recursive parser, so
# the bound keeps far from the interpreter's recursion limit.
MAX_NESTING = 50
# Larger integers overflow the 64-bit columns of SQLite and PostgreSQL.
MAX_INTEGER = 2**63 - 1


class FilterError(ValueError):
    """A filterby or orderby value that cannot be parsed or names something unknown."""


@dataclass(frozen=True)
class Property:
    """A property clients filter and order by: its model lookup and value type.

    `kind` is "string", "int" or "bool". With `casefold`, string literals
    are lower-cased before comparison because the column is stored in
    lower case (e-mail addresses).
    """

    lookup: str
    kind: str = "string"
    casefold: bool = False


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


def strip_wrapping(raw):
    """Trim whitespace and one enclosing pair of double quotes or square brackets."""
    text = raw.strip()
    if len(text) >= 2 and (text[0], text[-1]) in (('"', '"'), ("[", "]")):
        text = text[1:-1].strip()
    return text


def tokenize(text):
    tokens = []
    position = 0
    while position < len(text):
        match = TOKEN_PATTERN.match(text, position)
        if match is None:
            raise FilterError(f"Unexpected character {text[position]!r} at position {position}.")
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup, match.group(), position))
        position = match.end()
    return tokens


def parse_filter(raw, properties):
    """Return a Q object for a filterby value, or an empty Q when it is blank.

    `properties` maps lower-case property names to Property. Raises
    FilterError naming the offending token.
    """
    text = strip_wrapping(raw or "")
    if not text:
        return Q()
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise FilterError(f"filterby is longer than {MAX_EXPRESSION_LENGTH} characters.")
    return _Parser(tokenize(text), properties).parse()


class _Parser:
    def __init__(self, tokens, properties):
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.properties = properties

    def parse(self):
        query = self.or_expression()
        if self.index < len(self.tokens):
            self.fail(self.tokens[self.index])
        return query

    def peek(self, offset=0):
        position = self.index + offset
        return self.tokens[position] if position < len(self.tokens) else None

    def take(self, text=None, kind=None):
        token = self.peek()
        if token is None:
            raise FilterError("The filterby expression ends too early.")
        if (text is not None and token.text != text) or (kind is not None and token.kind != kind):
            self.fail(token)
        self.index += 1
        return token

    def fail(self, token):
        raise FilterError(f"Unexpected token {token.text!r} at position {token.position} in filterby.")

    def or_expression(self):
        query = self.and_expression()
        while self.peek() is not None and self.peek().text == "||":
            self.take()
            query = query | self.and_expression()
        return query

    def and_expression(self):
        query = self.primary()
        while self.peek() is not None and self.peek().text in ("&&", "&"):
            self.take()
            query = query & self.primary()
        return query

    def primary(self):
        token = self.peek()
        if token is not None and token.text == "(":
            self.take()
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise FilterError(f"filterby nests brackets deeper than {MAX_NESTING} levels.")
            query = self.or_expression()
            self.take(")")
            self.depth -= 1
            return query

        left = self.operand()
        after = self.peek()
        if isinstance(left, Property) and after is not None and after.text == ".":
            return self.method_call(left)
        operator = self.take(kind="operator")
        if operator.text not in FLIPPED_OPERATORS:
            self.fail(operator)
        right = self.operand()
        return self.comparison(left, operator, right)

    def method_call(self, member):
        self.take(".")
        name = self.take(kind="identifier")
        lookup = METHOD_LOOKUPS.get(name.text.lower())
        if lookup is None:
            raise FilterError(
                f"Unknown method {name.text!r} at position {name.position}. Use Contains, StartsWith or EndsWith."
            )
        self.take("(")
        argument = self.take(kind="string")
        self.take(")")
        if "\x00" in argument.text:
            raise FilterError(f"The text at position {argument.position} contains a NUL character.")
        if member.kind != "string":
            raise FilterError(f"{name.text} applies only to text properties, at position {name.position}.")
        value = _string_value(argument.text)
        return Q(**{f"{member.lookup}__{lookup}": value.lower() if member.casefold else value})

    def operand(self):
        """Return a Property for a member, or a (token, value) pair for a literal."""
        token = self.take()
        if token.kind == "string":
            if "\x00" in token.text:
                # PostgreSQL cannot store or compare a NUL in a text value.
                raise FilterError(f"The text at position {token.position} contains a NUL character.")
            return token, _string_value(token.text)
        if token.kind == "number":
            return token, Decimal(token.text)
        if token.kind != "identifier":
            self.fail(token)
        if token.text.lower() in KEYWORDS:
            return token, KEYWORDS[token.text.lower()]
        return self.member(token)

    def member(self, first):
        # `recipient.Email`: a leading qualifier names the item and is ignored.
        name = first
        following = self.peek(1)
        if self.peek() is not None and self.peek().text == "." and following is not None:
            if following.kind == "identifier" and following.text.lower() not in METHOD_LOOKUPS:
                self.take(".")
                name = self.take(kind="identifier")
        if name.text.lower() == "fields" and self.peek() is not None and self.peek().text == "[":
            self.take("[")
            description = _string_value(self.take(kind="string").text)
            self.take("]")
            prop = self.properties.get(field_key(description))
            if prop is None:
                raise FilterError(f"Unknown field {description!r} at position {name.position} in filterby.")
            return prop
        prop = self.properties.get(name.text.lower())
        if prop is None:
            raise FilterError(f"Unknown property {name.text!r} at position {name.position} in filterby.")
        return prop

    def comparison(self, left, operator, right):
        if isinstance(left, Property) == isinstance(right, Property):
            raise FilterError(
                f"The comparison at position {operator.position} needs one property and one literal value."
            )
        symbol = operator.text
        if not isinstance(left, Property):
            left, right, symbol = right, left, FLIPPED_OPERATORS[symbol]

        token, literal = right
        if literal is None:
            if symbol not in ("==", "!="):
                self.fail(token)
            query = Q(**{f"{left.lookup}__isnull": True})
            return ~query if symbol == "!=" else query

        value = _convert(left, token, literal)
        if symbol == "!=":
            return ~Q(**{left.lookup: value})
        return Q(**{f"{left.lookup}__{COMPARISON_LOOKUPS[symbol]}": value})


def field_key(description):
    """Return the properties key of recipient field `description`, as in Fields['nome']."""
    return f"fields[{description.lower()}]"


def _string_value(text):
    return text[1:-1].replace("''", "'")


def _convert(prop, token, literal):
    """Convert a literal to the property's type, or raise FilterError naming it."""
    if prop.kind == "string" and isinstance(literal, str):
        return literal.lower() if prop.casefold else literal
    if prop.kind == "int" and isinstance(literal, (Decimal, str)) and not isinstance(literal, bool):
        number = _integer_value(literal)
        if number is not None:
            return number
    if prop.kind == "bool" and isinstance(literal, bool):
        return literal
    raise FilterError(f"The value {token.text!r} at position {token.position} does not fit a {prop.kind} property.")


def _integer_value(literal):
    """Return `literal` as an int within the 64-bit column range, or None.

    A quoted literal may spell any Decimal, so signalling NaN ('sNaN') and
    huge exponents ('1e999999999999') must fail here as None instead of
    raising decimal's own errors, which are not FilterError.
    """
    try:
        number = Decimal(literal)
        if not number.is_finite() or abs(number) > MAX_INTEGER or number != number.to_integral_value():
            return None
    except ArithmeticError:
        return None
    return int(number)


def parse_orderby(raw, properties, default=("pk",)):
    """Return order_by() arguments for an orderby value such as `Name asc;idGroup desc`.

    Keys are separated by `;` or `,`. Each is a property name, optionally
    followed by asc or desc. The primary key is always the last key, so
    pages are stable. Raises FilterError for an unknown key or direction.
    """
    text = strip_wrapping(raw or "")
    ordering = []
    for item in re.split(r"[;,]", text):
        words = item.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise FilterError(f"Invalid orderby key {item.strip()[:60]!r}. Use a property name and asc or desc.")
        field = FIELD_KEY.match(words[0])
        key = field_key(_string_value(field.group(1))) if field else words[0].lower()
        prop = properties.get(key)
        if prop is None:
            raise FilterError(f"Unknown property {words[0][:60]!r} in orderby.")
        descending = len(words) == 2 and words[1].lower() == "desc"
        ordering.append(("-" if descending else "") + prop.lookup)
    named = {key.lstrip("-") for key in ordering}
    return ordering + [key for key in default if key.lstrip("-") not in named]
