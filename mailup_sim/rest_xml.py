"""REST responses as XML, for clients that send `Accept: application/xml`.

MailUp returns XML when the client prefers it, and the official samples
can switch to XML. MailUp publishes no XML response, so the shape is our
choice (docs/rest-api.md, "XML answers"). Its `.svc` paths are WCF
services, so the shape follows what WCF's DataContractSerializer writes,
except where that needs the .NET type names:

- a bare number, string or boolean (a created id, an image URL) is the
  serializer's own element: `<int xmlns="http://schemas.microsoft.com/2003/10/Serialization/">16</int>`;
- an object or an array is a `Response` element (`Error` for the error
  envelope); an object member is a child named after the member, in the
  JSON's order; an array item is an `Item` child;
- null is an empty element with `i:nil="true"`;
- a member whose name is not an XML name becomes `<Entry Name="…">`.

The views keep producing JSON, and `negotiate()` converts the response
once, so the fast paths that write JSON text directly need no XML twin.
"""

import json
import re

from django.utils.cache import patch_vary_headers
from lxml import etree

from mailup_sim.soap import clean_text

XML_CONTENT_TYPE = "application/xml; charset=utf-8"
JSON_TYPE = "application/json"
XML_TYPES = ("application/xml", "text/xml")
# The types offered to the Accept header, with the charset the answers
# carry: Django matches `application/xml; charset=utf-8` in an Accept
# header only with an offer that has the same parameter.
OFFERED_TYPES = [f"{media_type}; charset=utf-8" for media_type in (JSON_TYPE, *XML_TYPES)]
SERIALIZATION_NAMESPACE = "http://schemas.microsoft.com/2003/10/Serialization/"
INSTANCE_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
NIL = f"{{{INSTANCE_NAMESPACE}}}nil"
# Names lxml accepts for an element without a namespace prefix; match them
# with fullmatch(), because `$` would also accept a name ending in a newline.
XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")


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

    An empty body (a void operation) stays empty, and a response that is
    not JSON (none today) is returned unchanged. A JSON response gets
    `Vary: Accept`, so that a cache keeps the two forms apart.
    """
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


def to_xml(value, root_name="Response"):
    """Serialize a decoded JSON value as an XML document (bytes, UTF-8, with a declaration)."""
    if isinstance(value, (dict, list)):
        root = etree.Element(root_name, nsmap={"i": INSTANCE_NAMESPACE})
        _fill(root, value)
    else:
        root = etree.Element(_primitive_name(value), nsmap={None: SERIALIZATION_NAMESPACE, "i": INSTANCE_NAMESPACE})
        _fill(root, value)
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


def _fill(element, value):
    if value is None:
        element.set(NIL, "true")
    elif isinstance(value, dict):
        for name, member in value.items():
            _fill(_member_element(element, str(name)), member)
    elif isinstance(value, list):
        for item in value:
            _fill(etree.SubElement(element, "Item"), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = clean_text(value)


def _member_element(parent, name):
    # Member names of MailUp's shapes are .NET identifiers, so only keys
    # made from user data (none in today's responses) can fail this test.
    if XML_NAME.fullmatch(name) and not name.lower().startswith("xml"):
        return etree.SubElement(parent, name)
    return etree.SubElement(parent, "Entry", Name=clean_text(name))
