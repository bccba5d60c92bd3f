"""SOAP 1.1 and 1.2 plumbing for MailUp's ASMX-style web services.

A service module describes each operation once, and this module derives the
rest from that description: request parsing, dispatch, the response
envelope, faults and the WSDL.

    from mailup_sim import soap

    SEND = soap.Service("MailupSend", "http://services.mailupnet.it/WS", "/MailupSend.asmx",
                        aliases=["/Services/MailupSend.asmx"])

    @SEND.operation("GetGroups", soap.string("accessKey"), soap.integer("listID"))
    def get_groups(call, access_key, list_id):
        return "<GetGroupsResult>…</GetGroupsResult>"

    urlpatterns = [*SEND.urls()]

Contract of a handler:

- It receives a `SoapCall` (request, service, operation, SOAP version and
  the parsed SOAP header) and one keyword argument per declared parameter,
  named in snake case (`listID` becomes `list_id`, `ConfirmEmail` becomes
  `confirm_email`).
- Parameters are matched by local name, ignoring namespace and letter case,
  because suds, savon, zeep and PHP SoapClient qualify them differently. A
  missing, empty or nil parameter takes its type's default (0, False, "",
  None for dateTime, an empty dict for options), as ASP.NET's serializer
  does. A value that cannot be read as `int`, `boolean` or `dateTime`, or a
  string parameter that contains elements, is a `soap:Client` fault.
- Options (MailUp's `ArrayOfOption`) arrive as a dict whose keys are
  lower-cased, so callers look them up in lower case.
- It returns the result: a `str` for `string` results (usually an XML
  document built with `result_element` and `serialize`), an `int` for `int`
  results. The string is sent as escaped text inside `<XResult>`, never as
  CDATA.
- It may raise `SoapFault` to return a fault. Any other exception is
  logged and returned as a `soap:Server` fault.

A service may declare a SOAP header (`Header`), such as WSMailUpImport's
`Authentication`. The header element is found by local name in any
namespace or none, its children are read as strings by local name without
regard to case, and the handler finds them in `call.header` (keys as
declared; absent children are missing from the dict, and `call.header` is
None when the request has no such header).

Faults use the request's SOAP version and HTTP 500, as ASP.NET sends them
and MailUp clients expect. An envelope that cannot be read gets a fault in
the version named by its Content-Type.

Hostile input: the body is read up to `SOAP_MAX_REQUEST_BYTES` and parsed by
defusedxml's expat parser with DTDs forbidden, so no entity is ever declared
or expanded (billion laughs, quadratic blowup), and no external entity or
DTD is fetched from the file system or the network. SOAP 1.1 and 1.2 both
forbid a document type declaration in a message.

The WSDL is generated at `GET {path}?WSDL` (the switch in any letter case)
in ASP.NET's document/literal wrapped style, with `soap:address` and
`soap12:address` naming the request's own scheme and host plus the
service's canonical path, because SOAP clients post to whatever address
the WSDL names.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from django.conf import settings
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from lxml import etree

from mailup_sim.log_filters import SOAP_FAULT_ATTRIBUTE

logger = logging.getLogger(__name__)

SOAP11 = "1.1"
SOAP12 = "1.2"
ENVELOPE_NAMESPACES = {
    "http://schemas.xmlsoap.org/soap/envelope/": SOAP11,
    "http://www.w3.org/2003/05/soap-envelope": SOAP12,
}
ENVELOPE_NAMESPACE = {version: namespace for namespace, version in ENVELOPE_NAMESPACES.items()}
CONTENT_TYPES = {
    SOAP11: "text/xml; charset=utf-8",
    SOAP12: "application/soap+xml; charset=utf-8",
}
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NAMESPACE = "http://www.w3.org/2001/XMLSchema"

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
INTEGER_TEXT = re.compile(r"^[+-]?[0-9]{1,20}$")
BOOLEAN_WORDS = {"true": True, "1": True, "false": False, "0": False}
# Characters that XML 1.0 forbids in a document, even as character references.
# Lone surrogates (a JSON body can carry them as \ud800 escapes) are among
# them, and UTF-8 cannot encode them either.
XML_FORBIDDEN_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
FIRST_CAPITAL = re.compile(r"([a-z0-9])([A-Z])")
CAPITAL_RUN_END = re.compile(r"([A-Z]+)([A-Z][a-z])")


class SoapFault(Exception):
    """A SOAP fault to return; `code` is `Client` (the caller's fault) or `Server` (ours).

    SOAP 1.2 spells them `Sender` and `Receiver`; the envelope writer maps
    them.
    """

    def __init__(self, message, code="Client"):
        super().__init__(message)
        self.message = message
        self.code = code


# --- Parameter types -----------------------------------------------------------


@dataclass(frozen=True)
class XsdType:
    """A parameter type: its XSD name, whether ASP.NET marks it required, and its default."""

    name: str
    required: bool
    default: object


STRING = XsdType("s:string", False, "")
INT = XsdType("s:int", True, 0)
BOOLEAN = XsdType("s:boolean", True, False)
DATETIME = XsdType("s:dateTime", True, None)
OPTIONS = XsdType("tns:ArrayOfOption", False, None)


@dataclass(frozen=True)
class Param:
    name: str
    type: XsdType

    @property
    def argument(self):
        """The handler's keyword for this parameter: `listID` → `list_id`, `ConfirmEmail` → `confirm_email`."""
        spaced = CAPITAL_RUN_END.sub(r"\1_\2", self.name)
        return FIRST_CAPITAL.sub(r"\1_\2", spaced).lower()


def string(name):
    return Param(name, STRING)


def integer(name):
    return Param(name, INT)


def boolean(name):
    return Param(name, BOOLEAN)


def date_time(name):
    return Param(name, DATETIME)


def options(name):
    return Param(name, OPTIONS)


@dataclass(frozen=True)
class Header:
    """A SOAP header bound to every operation of a service; its fields are optional strings."""

    name: str
    fields: tuple
    any_attribute: bool = True


@dataclass(frozen=True)
class Operation:
    name: str
    params: tuple
    handler: object
    result: XsdType = STRING


@dataclass
class SoapCall:
    """The request context a handler receives besides its parameters."""

    request: object
    service: "Service"
    operation: Operation
    version: str
    header: dict | None = None


# --- Services ------------------------------------------------------------------


class Service:
    """One ASMX web service: a target namespace, operations, a canonical path and aliases.

    `path` is the canonical path written into the WSDL; `aliases` are other
    paths that serve the same service. Paths are matched without regard to
    letter case.
    """

    def __init__(self, name, namespace, path, aliases=(), header=None):
        self.name = name
        self.namespace = namespace
        self.path = path
        self.aliases = tuple(aliases)
        self.header = header
        self.operations = {}
        self._lower_names = {}

    def operation(self, name, *params, result=STRING):
        """Register the decorated function as the handler of operation `name` with `params` in order."""

        def register(handler):
            self.operations[name] = Operation(name, tuple(params), handler, result)
            self._lower_names[name.lower()] = name
            return handler

        return register

    def soap_action(self, operation_name):
        return f"{self.namespace.rstrip('/')}/{operation_name}"

    def find_operation(self, local_name):
        """Return the operation named `local_name`, matched exactly first and then without regard to case."""
        found = self.operations.get(local_name)
        if found is None:
            found = self.operations.get(self._lower_names.get(local_name.lower(), ""))
        return found

    def urls(self):
        """Return URL patterns for the canonical path and every alias.

        They are lower-case because CanonicalPathMiddleware lower-cases every
        `.asmx` path, so any letter case reaches the service.
        """
        view = csrf_exempt(self.view)
        return [path(route.lstrip("/").lower(), view) for route in (self.path, *self.aliases)]

    def view(self, request):
        if request.method == "GET":
            if any(name.lower() == "wsdl" for name in request.GET):
                return wsdl_response(self, request)
            return _method_not_allowed(self)
        if request.method != "POST":
            return _method_not_allowed(self)
        return handle_post(self, request)


def _method_not_allowed(service):
    response = HttpResponse(
        f"{service.name} takes SOAP requests by POST; GET {service.path}?WSDL returns its WSDL.",
        status=405,
        content_type="text/plain; charset=utf-8",
    )
    response["Allow"] = "GET, POST"
    return response


# --- Requests ------------------------------------------------------------------


def handle_post(service, request):
    """Parse a SOAP request, run its operation and return the response or a fault."""
    version = version_from_content_type(request.content_type)
    try:
        body = read_body(request)
        version, header_element, operation_element = parse_envelope(body, version)
        operation = service.find_operation(local_name(operation_element.tag))
        if operation is None:
            raise SoapFault(f"{service.name} has no operation {local_name(operation_element.tag)!r}.")

        call = SoapCall(request, service, operation, version, read_header(service, header_element))
        arguments = read_arguments(operation, operation_element)
        result = operation.handler(call, **arguments)
        return envelope_response(version, result_body(service, operation, result))
    except SoapFault as fault:
        logger.info("SOAP fault service=%s code=%s message=%s", service.name, fault.code, fault.message)
        setattr(request, SOAP_FAULT_ATTRIBUTE, True)
        return fault_response(version, fault)
    except Exception:
        logger.exception("SOAP request to %s failed", service.name)
        return fault_response(version, SoapFault("Internal server error; the server log has the details.", "Server"))


def version_from_content_type(content_type):
    return SOAP12 if (content_type or "").lower() == "application/soap+xml" else SOAP11


def read_body(request):
    """Read the request body, raising SoapFault when it is larger than SOAP_MAX_REQUEST_BYTES.

    The stream is read directly, because `request.body` applies the much
    smaller DATA_UPLOAD_MAX_MEMORY_SIZE meant for form posts.
    """
    limit = settings.SOAP_MAX_REQUEST_BYTES
    body = request.read(limit + 1)
    if len(body) > limit:
        raise SoapFault(f"The request is larger than {limit} bytes.")
    return body


def parse_envelope(body, version):
    """Return (SOAP version, Header element or None, first element of Body) of a request body."""
    if not body.strip():
        raise SoapFault("The request body is empty; send a SOAP envelope.")
    try:
        root = safe_xml.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise SoapFault("The request contains a DTD or an entity declaration, which SOAP forbids.") from None
    except (ParseError, ValueError) as error:
        raise SoapFault(f"The request is not well-formed XML: {error}.") from None

    namespace, name = split_tag(root.tag)
    if name != "Envelope" or namespace not in ENVELOPE_NAMESPACES:
        raise SoapFault("The root element is not a SOAP 1.1 or 1.2 Envelope.")
    version = ENVELOPE_NAMESPACES[namespace]

    header = root.find(f"{{{namespace}}}Header")
    body_element = root.find(f"{{{namespace}}}Body")
    if body_element is None:
        raise SoapFault("The envelope has no Body element.")
    operation = next(iter(body_element), None)
    if operation is None:
        raise SoapFault("The Body element is empty; it must contain the operation element.")
    return version, header, operation


def split_tag(tag):
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def local_name(tag):
    return split_tag(tag)[1]


def children_by_name(element):
    """Map the lower-cased local name of each child element to its first occurrence."""
    found = {}
    for child in element:
        if isinstance(child.tag, str):
            found.setdefault(local_name(child.tag).lower(), child)
    return found


def read_header(service, header_element):
    if service.header is None or header_element is None:
        return None
    wanted = service.header.name.lower()
    element = next((child for child in header_element if local_name(child.tag).lower() == wanted), None)
    if element is None:
        return None

    children = children_by_name(element)
    values = {}
    for name in service.header.fields:
        child = children.get(name.lower())
        if child is not None:
            values[name] = read_string(child, f"{service.header.name}/{name}")
    return values


def read_arguments(operation, operation_element):
    children = children_by_name(operation_element)
    arguments = {}
    for param in operation.params:
        element = children.get(param.name.lower())
        arguments[param.argument] = read_value(param, element)
    return arguments


def read_value(param, element):
    """Convert one parameter element to its Python value; a missing, empty or nil element gives the default."""
    if param.type is OPTIONS:
        return read_options(element, param.name)
    if element is None or element.get(f"{{{XSI_NAMESPACE}}}nil", "").strip() in ("true", "1"):
        return param.type.default

    text = read_string(element, param.name)
    if param.type is STRING:
        return text
    if not text.strip():
        return param.type.default
    return PARSERS[param.type](text.strip(), param.name)


def read_string(element, name):
    if len(element):
        raise SoapFault(f"Parameter {name!r} must be text, but it contains elements.")
    return element.text or ""


def parse_int(text, name):
    if not INTEGER_TEXT.match(text):
        raise SoapFault(f"Parameter {name!r} must be an int; {text[:40]!r} is not one.")
    value = int(text)
    if not INT32_MIN <= value <= INT32_MAX:
        raise SoapFault(f"Parameter {name!r} must be an int between {INT32_MIN} and {INT32_MAX}; got {value}.")
    return value


def parse_boolean(text, name):
    value = BOOLEAN_WORDS.get(text.lower())
    if value is None:
        raise SoapFault(f"Parameter {name!r} must be a boolean (true, false, 1 or 0); got {text[:40]!r}.")
    return value


def parse_date_time(text, name):
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise SoapFault(f"Parameter {name!r} must be an xs:dateTime such as 2026-12-31T10:00:00; got {text[:40]!r}.") from None


PARSERS = {INT: parse_int, BOOLEAN: parse_boolean, DATETIME: parse_date_time}


def read_options(element, name):
    """Read an ArrayOfOption into a dict keyed by the lower-cased Key; later keys win."""
    if element is None:
        return {}
    values = {}
    for option in element:
        if not isinstance(option.tag, str):
            continue
        if local_name(option.tag).lower() != "option":
            raise SoapFault(f"Parameter {name!r} must contain only Option elements.")
        parts = children_by_name(option)
        key = parts.get("key")
        if key is None or not (key.text or "").strip():
            continue
        value = parts.get("value")
        values[key.text.strip().lower()] = "" if value is None else "".join(value.itertext())
    return values


# --- Responses -----------------------------------------------------------------


def clean_text(value):
    """Return `value` as text without the characters XML 1.0 cannot carry."""
    return XML_FORBIDDEN_CHARACTERS.sub("", str(value))


def result_element(tag, *children, text=None, **attributes):
    """Build an element of a result document; None children are skipped and values are cleaned for XML."""
    element = etree.Element(tag, {name: clean_text(value) for name, value in attributes.items()})
    if text is not None:
        element.text = clean_text(text)
    for child in children:
        if child is not None:
            element.append(child)
    return element


def text_element(tag, value):
    """Build `<tag>value</tag>`; an empty value still writes both tags, as MailUp does."""
    return result_element(tag, text="" if value is None else value)


def cdata_element(tag, value):
    element = etree.Element(tag)
    element.text = etree.CDATA(clean_text(value))
    return element


def serialize(element):
    """Write a result document as a string without an XML declaration."""
    return etree.tostring(element, encoding="unicode")


def escape_text(value):
    """Escape text for an XML element body; a carriage return stays one instead of becoming a line feed."""
    text = clean_text(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def result_body(service, operation, result):
    if operation.result is INT:
        value = str(int(result))
    else:
        value = escape_text(result)
    name = operation.name
    return (
        f'<{name}Response xmlns="{service.namespace}">'
        f"<{name}Result>{value}</{name}Result>"
        f"</{name}Response>"
    )


def envelope_response(version, body_xml, status=200):
    document = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{ENVELOPE_NAMESPACE[version]}" '
        f'xmlns:xsi="{XSI_NAMESPACE}" xmlns:xsd="{XSD_NAMESPACE}">'
        f"<soap:Body>{body_xml}</soap:Body></soap:Envelope>"
    )
    return HttpResponse(document.encode("utf-8"), status=status, content_type=CONTENT_TYPES[version])


def fault_response(version, fault):
    message = escape_text(fault.message)
    if version == SOAP12:
        code = "soap:Sender" if fault.code == "Client" else "soap:Receiver"
        body = (
            f"<soap:Fault><soap:Code><soap:Value>{code}</soap:Value></soap:Code>"
            f'<soap:Reason><soap:Text xml:lang="en">{message}</soap:Text></soap:Reason>'
            "<soap:Detail /></soap:Fault>"
        )
    else:
        body = (
            f"<soap:Fault><faultcode>soap:{fault.code}</faultcode>"
            f"<faultstring>{message}</faultstring><detail /></soap:Fault>"
        )
    return envelope_response(version, body, status=500)


# --- WSDL ----------------------------------------------------------------------

WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP11 = "http://schemas.xmlsoap.org/wsdl/soap/"
WSDL_SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
SOAP_HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"


def request_origin(request):
    return f"{request.scheme}://{request.get_host()}"


def wsdl_response(service, request):
    document = render_wsdl(service, request_origin(request))
    return HttpResponse(document, content_type="text/xml; charset=utf-8")


@lru_cache(maxsize=64)
def render_wsdl(service, origin):
    """Return the WSDL of `service` as bytes, with `origin` plus the canonical path as its address."""
    nsmap = {
        "wsdl": WSDL,
        "soap": WSDL_SOAP11,
        "soap12": WSDL_SOAP12,
        "s": XSD_NAMESPACE,
        "tns": service.namespace,
    }
    definitions = etree.Element(f"{{{WSDL}}}definitions", {"targetNamespace": service.namespace}, nsmap=nsmap)
    types = etree.SubElement(definitions, f"{{{WSDL}}}types")
    types.append(_schema(service))
    for operation in service.operations.values():
        _add_messages(definitions, service, operation)
    definitions.append(_port_type(service))
    definitions.append(_binding(service, WSDL_SOAP11, f"{service.name}Soap"))
    definitions.append(_binding(service, WSDL_SOAP12, f"{service.name}Soap12"))
    definitions.append(_service_element(service, origin))
    return etree.tostring(definitions, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _xsd(tag, **attributes):
    return etree.Element(f"{{{XSD_NAMESPACE}}}{tag}", attributes)


def _sequence_element(param):
    attributes = {"minOccurs": "1" if param.type.required else "0", "maxOccurs": "1", "name": param.name}
    attributes["type"] = param.type.name
    return _xsd("element", **attributes)


def _wrapper_element(name, params):
    element = _xsd("element", name=name)
    complex_type = etree.SubElement(element, f"{{{XSD_NAMESPACE}}}complexType")
    sequence = etree.SubElement(complex_type, f"{{{XSD_NAMESPACE}}}sequence")
    for param in params:
        sequence.append(_sequence_element(param))
    return element


def _schema(service):
    schema = _xsd("schema", elementFormDefault="qualified", targetNamespace=service.namespace)
    for operation in service.operations.values():
        schema.append(_wrapper_element(operation.name, operation.params))
        result = Param(f"{operation.name}Result", operation.result)
        schema.append(_wrapper_element(f"{operation.name}Response", [result]))
    if any(param.type is OPTIONS for operation in service.operations.values() for param in operation.params):
        schema.extend(_option_types())
    if service.header is not None:
        schema.extend(_header_types(service.header))
    return schema


def _option_types():
    array = _xsd("complexType", name="ArrayOfOption")
    sequence = etree.SubElement(array, f"{{{XSD_NAMESPACE}}}sequence")
    sequence.append(
        _xsd("element", minOccurs="0", maxOccurs="unbounded", name="Option", nillable="true", type="tns:Option")
    )
    option = _xsd("complexType", name="Option")
    sequence = etree.SubElement(option, f"{{{XSD_NAMESPACE}}}sequence")
    sequence.append(_xsd("element", minOccurs="0", maxOccurs="1", name="Key", type="s:string"))
    # Without a type attribute the value is xs:anyType, so any text is accepted.
    sequence.append(_xsd("element", minOccurs="0", maxOccurs="1", name="Value"))
    return [array, option]


def _header_types(header):
    element = _xsd("element", name=header.name, type=f"tns:{header.name}")
    complex_type = _xsd("complexType", name=header.name)
    sequence = etree.SubElement(complex_type, f"{{{XSD_NAMESPACE}}}sequence")
    for name in header.fields:
        sequence.append(_xsd("element", minOccurs="0", maxOccurs="1", name=name, type="s:string"))
    if header.any_attribute:
        complex_type.append(_xsd("anyAttribute"))
    return [element, complex_type]


def _wsdl(tag, **attributes):
    return etree.Element(f"{{{WSDL}}}{tag}", attributes)


def _add_messages(definitions, service, operation):
    for suffix, element in (("SoapIn", operation.name), ("SoapOut", f"{operation.name}Response")):
        message = _wsdl("message", name=f"{operation.name}{suffix}")
        message.append(_wsdl("part", name="parameters", element=f"tns:{element}"))
        definitions.append(message)
    if service.header is not None:
        message = _wsdl("message", name=f"{operation.name}{service.header.name}")
        message.append(_wsdl("part", name=service.header.name, element=f"tns:{service.header.name}"))
        definitions.append(message)


def _port_type(service):
    port_type = _wsdl("portType", name=f"{service.name}Soap")
    for operation in service.operations.values():
        element = etree.SubElement(port_type, f"{{{WSDL}}}operation", name=operation.name)
        element.append(_wsdl("input", message=f"tns:{operation.name}SoapIn"))
        element.append(_wsdl("output", message=f"tns:{operation.name}SoapOut"))
    return port_type


def _binding(service, soap_namespace, name):
    binding = _wsdl("binding", name=name, type=f"tns:{service.name}Soap")
    etree.SubElement(binding, f"{{{soap_namespace}}}binding", transport=SOAP_HTTP_TRANSPORT)
    for operation in service.operations.values():
        element = etree.SubElement(binding, f"{{{WSDL}}}operation", name=operation.name)
        etree.SubElement(
            element, f"{{{soap_namespace}}}operation", soapAction=service.soap_action(operation.name), style="document"
        )
        wsdl_input = etree.SubElement(element, f"{{{WSDL}}}input")
        etree.SubElement(wsdl_input, f"{{{soap_namespace}}}body", use="literal")
        if service.header is not None:
            etree.SubElement(
                wsdl_input,
                f"{{{soap_namespace}}}header",
                message=f"tns:{operation.name}{service.header.name}",
                part=service.header.name,
                use="literal",
            )
        wsdl_output = etree.SubElement(element, f"{{{WSDL}}}output")
        etree.SubElement(wsdl_output, f"{{{soap_namespace}}}body", use="literal")
    return binding


def _service_element(service, origin):
    element = _wsdl("service", name=service.name)
    location = origin.rstrip("/") + service.path
    for soap_namespace, port_name in ((WSDL_SOAP11, f"{service.name}Soap"), (WSDL_SOAP12, f"{service.name}Soap12")):
        port = etree.SubElement(element, f"{{{WSDL}}}port", name=port_name, binding=f"tns:{port_name}")
        etree.SubElement(port, f"{{{soap_namespace}}}address", location=location)
    return element
