"""Id and number parsers take ASCII digits only: str.isdigit() also accepts "²", which int() rejects."""

import pytest

from sending import filters, sink, soap_common, soap_send

# Superscript two, superscript three and Arabic-Indic one.
NON_ASCII_DIGITS = ["\u00b2", "1\u00b3", "\u0661"]


@pytest.mark.parametrize("text", NON_ASCII_DIGITS)
def test_soap_id_list_rejects(text):
    with pytest.raises(soap_common.ResultError) as raised:
        soap_common.parse_id_list(f"1;{text}", "recipients")
    assert raised.value.code == soap_common.ERROR_INVALID_PARAMETER


@pytest.mark.parametrize("text", NON_ASCII_DIGITS)
def test_soap_message_id_rejects(text):
    with pytest.raises(soap_common.ResultError):
        soap_send._message_id(text)


@pytest.mark.parametrize("text", NON_ASCII_DIGITS)
def test_filter_field_rejects(text):
    with pytest.raises(filters.FilterError):
        filters._clean_field(1, f"campo{text}", {})


@pytest.mark.parametrize("text", NON_ASCII_DIGITS)
def test_sink_header_number_ignored(text):
    assert sink._int_or_none(text) is None
