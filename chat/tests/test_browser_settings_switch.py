"""Settings in Chromium (newcomer walk, session 25): a plain backend switch works, and
what the form says is in its own words, beside the field it is about.

* openai with model ``llama3.1`` and a dead base URL, then back to embedded, was refused
  ("“Model” is not usable: give the path of a GGUF “Model” file"), the server's model
  name still in the field and a stale "Not answering" under Base URL. Now the Model field
  follows the backend (each backend's own value this visit), the note goes, and the
  switch saves.
* A fraction in "Most replies per message" got the server's words at the top of the
  form, out of view ("Bad value for '“Most replies…”': must be a whole number (Input
  should be a valid integer)"). Now it is refused beside the field, which is shown.
"""

from __future__ import annotations

from typing import Any

import pytest

from chat.tests import browser_support as support
from chat.tests.browser_support import LiveServer, expect_http_errors, open_app, until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = support.browser
live_server = support.live_server
page = support.page

DEAD = "http://127.0.0.1:9/v1"


def test_switching_back_from_openai_to_embedded_just_works(page: Any, live_server: LiveServer) -> None:
    open_app(page, "#/settings")
    page.get_by_label("Backend").select_option("openai")
    page.get_by_label("Model", exact=True).fill("llama3.1")
    page.get_by_label("Base URL").fill(DEAD)
    page.get_by_role("button", name="Save settings").click()
    status = page.locator("#backend-status")
    until(lambda: status.inner_text().startswith("Not answering"), "the dead server's note", timeout=30.0)
    assert live_server.api("GET", "/api/settings")["model"] == "llama3.1"

    page.get_by_label("Backend").select_option("embedded")
    model = page.get_by_label("Model", exact=True)
    assert model.input_value() == ""  # the server's model name is no GGUF file
    assert status.inner_text() == ""  # nothing said about a server no longer chosen
    assert page.locator(".toast-error").count() == 0
    assert "bundled model" in page.locator("#set-model-help").inner_text()
    page.get_by_role("button", name="Save settings").click()
    page.locator(".toast", has_text="Settings saved.").wait_for(timeout=60_000)  # loads the bundled model
    saved = live_server.api("GET", "/api/settings")
    assert (saved["backend"], saved["model"]) == ("embedded", None)
    assert page.locator(".settings-form .form-error").inner_text() == ""
    page.screenshot(path=str(live_server.data_dir.parent / "settings_switched.png"))

    page.get_by_label("Backend").select_option("openai")  # its model comes back this visit
    assert page.get_by_label("Model", exact=True).input_value() == "llama3.1"


def test_a_refused_setting_is_said_in_the_forms_words_beside_its_field(page: Any, live_server: LiveServer) -> None:
    expect_http_errors(page, 422)
    not_a_model = live_server.data_dir.parent / "notes.gguf"
    not_a_model.write_text("not a model")
    open_app(page, "#/settings")
    page.get_by_label("Backend").select_option("embedded")
    page.get_by_label("Model", exact=True).fill(str(not_a_model))
    page.get_by_role("button", name="Save settings").click()
    beside = page.locator("[data-field='model'] .field-error")
    beside.wait_for()
    assert beside.inner_text() == "“Model” is not usable: give the path of a GGUF model file"
    assert page.locator(".settings-form .form-error").inner_text() == beside.inner_text()

    page.get_by_label("Backend").select_option("scripted")  # back to the one in use
    assert page.locator(".field-error").count() == 0
    field = page.get_by_label("Most replies per message (group chats)")
    field.fill("2.5")
    page.get_by_role("button", name="Save settings").click()
    beside = page.locator("[data-field='max_replies_per_turn'] .field-error")
    beside.wait_for()
    text = beside.inner_text()
    assert text == "“Most replies per message (group chats)” takes a whole number from 1 to 20, not 2.5 (it is 2 now).", text
    assert field.get_attribute("aria-invalid") == "true"
    box = beside.bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]  # in view
    for leak in ("Bad value", "Input should", "max_replies_per_turn"):
        assert leak not in text
    assert live_server.api("GET", "/api/settings")["max_replies_per_turn"] == 2
