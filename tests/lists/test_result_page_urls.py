"""The pages a list sends browsers to after subscribe.aspx and confirmation links: their scheme and fragment."""

import pytest
from django.forms.models import model_to_dict

from panel.forms import ListForm
from tests.lists.pages import demo_list

PAGE = "/frontend/subscribe.aspx"


def test_result_goes_before_fragment(demo, http):
    newsletter = demo_list(1)
    newsletter.subscribe_result_url = "https://shop.example/thanks?from=mailup#top"
    newsletter.save()

    response = http.post(PAGE, data={"email": "hash@example.com", "list": "1"}, allow_redirects=False)

    assert response.status_code == 302
    assert response.headers["Location"] == "https://shop.example/thanks?from=mailup&result=0#top"


def test_result_without_query_before_fragment(demo, http):
    newsletter = demo_list(1)
    newsletter.subscribe_result_url = "https://shop.example/thanks#top"
    newsletter.save()

    response = http.post(PAGE, data={"email": "hash@example.com", "list": "1"}, allow_redirects=False)

    assert response.headers["Location"] == "https://shop.example/thanks?result=0#top"


@pytest.mark.parametrize("field", ["subscribe_result_url", "confirm_result_url"])
@pytest.mark.parametrize("url", ["ftps://shop.example/thanks", "ftp://shop.example/thanks"])
def test_panel_rejects_non_web_result_page(demo, field, url):
    newsletter = demo_list(1)
    data = {**model_to_dict(newsletter, fields=ListForm.Meta.fields), field: url}

    form = ListForm(data=data, instance=newsletter)

    assert not form.is_valid()
    assert list(form.errors) == [field]


def test_panel_accepts_https_result_page(demo):
    newsletter = demo_list(1)
    data = {**model_to_dict(newsletter, fields=ListForm.Meta.fields), "confirm_result_url": "https://shop.example/ok"}

    form = ListForm(data=data, instance=newsletter)

    assert form.is_valid(), form.errors
