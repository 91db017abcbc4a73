#!/usr/bin/env python3
"""Drives the preference center in headless Chromium (selenium), one action per run.

Used by IntegrationTests/PreferenceCenterBrowserTests, which starts the real executables and
checks what the actions did in the backends. Every command prints one JSON object.

  preference_page.py open URL SHOT.png
  preference_page.py save URL SHOT.png [--tick NAME]... [--untick NAME]...
  preference_page.py submit URL SHOT.png        (presses the page's first submit button)
  preference_page.py press URL SHOT.png --button ID   (presses the submit button with that id)
  preference_page.py keyboard URL               (tabs through the page, names what got focus)

--spki HASH trusts the server certificate with that SPKI SHA-256 (base64), the test CA's leaf.
"""
import argparse
import json
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


def browser(spki):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1000,3000",
                     "--user-data-dir=" + tempfile.mkdtemp(prefix="privacy-browser-")]:
        options.add_argument(argument)
    if spki:
        options.add_argument("--ignore-certificate-errors-spki-list=" + spki)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=options)


def heading(driver):
    return driver.find_element(By.TAG_NAME, "h1").text


def submit(driver, button):
    """Presses a submit button and waits until the page it leads to has replaced this one."""
    old = driver.find_element(By.TAG_NAME, "html")
    button.click()

    def replaced(_):
        # Asked mid-navigation, Chromium may answer "node does not belong to the document"
        # rather than "stale element": either way the old page is gone.
        try:
            old.is_enabled()
            return False
        except WebDriverException:
            return True

    WebDriverWait(driver, 30).until(replaced)
    WebDriverWait(driver, 30).until(expected_conditions.presence_of_element_located((By.TAG_NAME, "h1")))


def describe(element):
    """What a focused control is, in the words the test compares."""
    tag = element.tag_name.lower()
    name = element.get_attribute("name") or element.get_attribute("id") or ""
    if tag == "a":
        return "a:" + (element.get_attribute("href") or "")
    return tag + ":" + name + ":" + (element.text or "").strip()


FOCUSABLE = "a[href], button, input:not([type=hidden]), select, textarea, summary"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["open", "save", "submit", "press", "keyboard"])
    parser.add_argument("url")
    parser.add_argument("shot", nargs="?")
    parser.add_argument("--tick", action="append", default=[])
    parser.add_argument("--untick", action="append", default=[])
    parser.add_argument("--button")
    parser.add_argument("--spki")
    arguments = parser.parse_args()

    driver = browser(arguments.spki)
    try:
        driver.get(arguments.url)
        result = {"title": driver.title, "h1": heading(driver)}
        if arguments.command == "save":
            for name, wanted in [(n, True) for n in arguments.tick] + [(n, False) for n in arguments.untick]:
                box = driver.find_element(By.NAME, name)
                if box.is_selected() != wanted:
                    driver.find_element(By.CSS_SELECTOR, "label[for='%s']" % box.get_attribute("id")).click()
            submit(driver, driver.find_element(By.ID, "save"))
            result["h1"] = heading(driver)
        elif arguments.command == "submit":
            submit(driver, driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))
            result["h1"] = heading(driver)
        elif arguments.command == "press":
            submit(driver, driver.find_element(By.ID, arguments.button))
            result["h1"] = heading(driver)
        elif arguments.command == "keyboard":
            controls = [describe(e) for e in driver.find_elements(By.CSS_SELECTOR, FOCUSABLE)]
            reached = []
            body = driver.find_element(By.TAG_NAME, "body")
            body.send_keys(Keys.TAB)
            for _ in range(len(controls) + 5):
                current = describe(driver.switch_to.active_element)
                if reached and current == reached[0]:
                    break
                reached.append(current)
                driver.switch_to.active_element.send_keys(Keys.TAB)
            result["controls"] = controls
            result["reached"] = reached
        result["text"] = driver.find_element(By.TAG_NAME, "body").text
        if arguments.shot:
            driver.save_screenshot(arguments.shot)
        print(json.dumps(result))
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
