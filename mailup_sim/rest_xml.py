"""REST responses and request bodies in XML, for clients that prefer XML to JSON.

MailUp returns XML when the client prefers it, and the official samples
can switch to XML. MailUp publishes no XML response, so the shape is our
choice (docs/rest-api.md, "XML answers"). Its `.svc` paths are WCF
services, so the shape follows what WCF's DataContractSerializer writes,
except where that needs the .NET type names:

- a bare number, string or boolean (a created id, an image URL) is the
  serializer's own element: `<int xmlns="http://schemas.microsoft.com/2003/10/Serialization/">16</int>`;
- an object or an array is a `Response` element, or `Error` for the error
  envelope;
- an object member is a child named after the member, in the JSON's order,
  and an array item is an `Item` child;
- null is an empty element with `i:nil="true"`;
- a member whose name is not an XML name becomes `<Entry Name="…">`.

The views keep producing JSON, and `negotiate()` converts the response
once (rest_xml_writer.py writes the text). The recipient listings are the
exception: their pages can have thousands of items, so they write XML
directly when wants_xml() is true (lists/rest_xml_recipients.py and
`xml_page_response()`), and negotiate() leaves an XML response as it is.

Request bodies sent as XML (`Content-Type: application/xml` or
`text/xml`) are read in the same shape and handed to the views as JSON by
`adopt_xml_body()`. XML text carries no types, so each value gets the type
that the operation's body schema in mailup_sim/openapi.py gives it.
`<Id>3</Id>` is the number 3 where the schema gives integer. It is the
text "3" where the schema gives string or no type.
"""

import json
import re

from io import BytesIO
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from lxml import etree

from mailup_sim.rest_xml_writer import INSTANCE_NAMESPACE, write_document
from mailup_sim.soap import clean_text

XML_CONTENT_TYPE = "application/xml; charset=utf-8"
JSON_TYPE = "application/json"
XML_TYPES = ("application/xml", "text/xml")
# The types offered to the Accept header, with the charset of the
# responses, because Django matches `application/xml; charset=utf-8` in an Accept
# header only with an offer that has the same parameter.
OFFERED_TYPES = [f"{media_type}; charset=utf-8" for media_type in (JSON_TYPE, *XML_TYPES)]
SERIALIZATION_NAMESPACE = "http://schemas.microsoft.com/2003/10/Serialization/"
NIL = f"{{{INSTANCE_NAMESPACE}}}nil"
# Elements nested deeper than this are rejected before the conversion
# recurses into them. MailUp's bodies nest a few levels, and Python's default
# recursion limit of 1000 would otherwise turn a deep body into a 500.
MAX_XML_DEPTH = 100


def wants_xml(request):
    """Tell whether the client prefers XML to JSON; without an Accept header, or with */*, it gets JSON."""
    # A quick test before Django parses the header. Media types are
    # case-insensitive, and `text/*` covers text/xml.
    accept = request.headers.get("Accept", "").lower()
    if "xml" not in accept and "text/*" not in accept:
        return False
    return request.get_preferred_type(OFFERED_TYPES) in OFFERED_TYPES[1:]


def negotiate(request, response):
    """Return `response`, with its JSON body rewritten as XML when the client prefers XML.

    An empty body (a void operation) stays empty. An XML response (a
    recipient listing page that the view wrote as XML) and a JSON response
    get `Vary: Accept`, so that a cache keeps the two forms apart. Any
    other response is returned unchanged.
    """
    if response.get("Content-Type") == XML_CONTENT_TYPE and not response.streaming:
        # Written as XML by the view (xml_page_response), for a client that prefers it.
        patch_vary_headers(response, ["Accept"])
        return response
    if response.streaming or not response.get("Content-Type", "").startswith(JSON_TYPE):
        return response
    patch_vary_headers(response, ["Accept"])
    if not wants_xml(request):
        return response
    if response.content == b"":
        response["Content-Type"] = XML_CONTENT_TYPE
        return response

    root_name = "Error" if response.status_code >= 400 else "Response"
    response.content = to_xml(json.loads(response.content), root_name)
    response["Content-Type"] = XML_CONTENT_TYPE
    response["Content-Length"] = str(len(response.content))
    return response


def xml_page_response(envelope, item_elements):
    """Return a paged envelope whose `Items` is empty as XML, with `item_elements` (`<Item>` texts) as its items.

    The listings that write their items as text call it when wants_xml()
    is true, so a big page is not written as JSON and decoded again.
    """
    document = write_document(envelope, "Response")
    if item_elements:
        # The envelope's other members are numbers and a boolean, so `<Items/>` occurs once.
        document = document.replace("<Items/>", "<Items>" + "".join(item_elements) + "</Items>", 1)
    return HttpResponse(document.encode(), content_type=XML_CONTENT_TYPE)


def to_xml(value, root_name="Response"):
    """Serialize a decoded JSON value as an XML document (bytes, UTF-8, with a declaration)."""
    if isinstance(value, (dict, list)):
        return write_document(value, root_name).encode()

    # A bare value is one element, so lxml writes it, namespaces included.
    root = etree.Element(_primitive_name(value), nsmap={None: SERIALIZATION_NAMESPACE, "i": INSTANCE_NAMESPACE})
    if value is None:
        root.set(NIL, "true")
    elif isinstance(value, bool):
        root.text = "true" if value else "false"
    else:
        root.text = clean_text(value)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _primitive_name(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int" if -(2**31) <= value < 2**31 else "long"
    if isinstance(value, float):
        return "double"
    if value is None:
        return "anyType"
    return "string"


class InvalidXmlBody(ValueError):
    """An XML request body that cannot be read; its message names the problem for the 400 response."""


def is_xml(content_type):
    return content_type in XML_TYPES


def adopt_xml_body(request, schema):
    """Replace an XML request body by the JSON it stands for, typed by `schema`; raise InvalidXmlBody.

    The views then read the body as JSON, through read_json() or the
    request's stream, as they read any other.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise InvalidXmlBody(
            f"The XML request body is larger than {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE). Send large bodies as JSON."
        )

    body = b""
    if raw.strip():
        body = json.dumps(_from_xml(_parse(raw), schema or {})).encode()
    # Django reads `_body` and `_stream` for request.body and request.read();
    # after the read above both would be empty.
    request._body = body
    request._stream = BytesIO(body)
    request.META["CONTENT_TYPE"] = "application/json"
    request.content_type = "application/json"


def _parse(raw):
    # The parser of the SOAP services, with the same guards.
    try:
        return safe_xml.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise InvalidXmlBody("The XML request body contains a DTD or an entity declaration, which are not accepted.") from None
    except (ParseError, ValueError) as error:
        raise InvalidXmlBody(f"The XML request body is not well-formed: {error}.") from None


def _from_xml(element, schema, depth=1):
    if depth > MAX_XML_DEPTH:
        raise InvalidXmlBody(f"The XML request body nests elements more than {MAX_XML_DEPTH} levels deep.")
    schema = _concrete(schema)
    if element.get(NIL) == "true":
        return None

    children = list(element)
    kind = schema.get("type")
    if kind == "array" or (kind is None and children and all(_local_name(child) == "Item" for child in children)):
        return [_from_xml(child, schema.get("items", {}), depth + 1) for child in children]
    # An element with children is an object even where the schema expects a
    # primitive, so the view rejects it by name instead of storing its leading text alone.
    if kind == "object" or children:
        properties = schema.get("properties", {})
        document = {}
        for child in children:
            name = child.get("Name", "") if _local_name(child) == "Entry" else _local_name(child)
            document[name] = _from_xml(child, properties.get(name, {}), depth + 1)
        return document
    return _typed_text(element.text or "", kind)


def _concrete(schema):
    # The schemas here mark null with `nullable` and use no oneOf, so only
    # the type matters. A type list (JSON Schema style) keeps its first type.
    kind = schema.get("type")
    if isinstance(kind, list):
        return {**schema, "type": next((name for name in kind if name != "null"), None)}
    return schema


def _local_name(element):
    return element.tag.rpartition("}")[2]


def _typed_text(text, kind):
    """Return XML text as the JSON type that the schema gives; text that does not fit stays text for the view to reject."""
    value = text.strip()
    if kind == "integer" and re.fullmatch(r"[+-]?[0-9]{1,19}", value):
        return int(value)
    if kind == "number":
        try:
            return float(value) if any(mark in value for mark in ".eE") else int(value)
        except ValueError:
            return text
    if kind == "boolean" and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return text
