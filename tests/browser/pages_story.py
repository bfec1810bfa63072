"""The pages' browser story, in headless Chromium (Debian's, through Playwright).

Run by tests/browser/stories.py (one Chromium for every story); alone:

    .venv/bin/python tests/browser/pages_story.py BASE_URL MAIL_DIR

BASE_URL is the running stack as a person reaches it (http://localhost:PORT:
cookies and, later, passkeys need a host name); MAIL_DIR is where send-mail
writes its .eml files. A person signs up, follows the mailed link, signs in,
turns on two-step sign-in from the page (the key read off the page, codes by
pyotp), saves the recovery codes, signs out and in with a code, sees two
devices and ends the other, changes the password, signs out, resets the
password from the mail, signs in and deletes the account; on the way, the
account page's recent activity lists the sign-ins and changes. Every page is
screenshot at 1280 and 390 px wide into target/pages/; every page's DOM is
scanned with axe-core (0 serious or critical violations); no page may log a
Content-Security-Policy violation; a POST without a CSRF token, or from
another site, gets 403. One Chromium for everything.
"""

import email
import email.policy
import glob
import os
import re
import sys
import time
from pathlib import Path

import pyotp

import axe_scan
import stories

# Set by run(): the stack as a person reaches it, and send-mail's directory.
BASE = ""
MAIL_DIR = Path()
REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "target" / "pages"
RUN = f"{int(time.time())}{os.getpid()}"
USERNAME = f"person_{RUN}"
EMAIL = f"person.{RUN}@example.com"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new tolerable passphrase"
NEWEST_PASSWORD = "yet another fine long passphrase"

failures = []
csp_violations = []
scanned = []  # (name, html)


def check(what, ok, detail=""):
    print(f"{'ok ' if ok else 'FAIL'} {what}" + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)


def mail_link(to, page, since):
    """The link to /{page}?token= of the newest mail to `to` written after `since`."""
    pattern = re.compile(r"https?://[^\s\"<>]+/" + re.escape(page) + r"\?token=[A-Za-z0-9_-]+")
    deadline = time.time() + 60
    while time.time() < deadline:
        for path in sorted(glob.glob(str(MAIL_DIR / "*.eml")), key=os.path.getmtime, reverse=True):
            if os.path.getmtime(path) < since:
                continue
            with open(path, "rb") as file:
                message = email.message_from_binary_file(file, policy=email.policy.default)
            if to not in str(message["To"]):
                continue
            body = message.get_body(preferencelist=("plain",))
            found = pattern.search(body.get_content() if body else "")
            if found:
                return found.group(0)
        time.sleep(0.25)
    raise SystemExit(f"no mail to {to} with a /{page} link in {MAIL_DIR} within 60 s")


def shoot(page, name):
    """Screenshots at desktop and phone width; keeps the DOM for the scan."""
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / f"{name}-390.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    check(f"{name}: no horizontal scrolling at 390 px", width <= 390, f"{width} px wide")
    page.set_viewport_size({"width": 1280, "height": 900})
    scanned.append((name, page.content()))


def watch(page):
    def on_console(message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            csp_violations.append(message.text)

    page.on("console", on_console)
    return page


def totp_code(secret, used):
    """A code of a step later than every one used (the server takes each step
    once, and one step of drift): the next step's code when this one is used."""
    totp = pyotp.TOTP(secret)
    step = int(time.time()) // 30
    if step <= used[-1]:
        step = used[-1] + 1
    if step > int(time.time()) // 30 + 1:
        time.sleep(30 - time.time() % 30 + 0.5)
    used.append(step)
    return totp.at(step * 30)


def sign_in(page, password, code=None):
    page.goto(f"{BASE}/signin")
    page.fill("#email", EMAIL)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    if code is not None:
        page.wait_for_url(re.compile(r"/signin/code"))
        page.fill("#code", code)
        page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/account$"))


def story(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = watch(context.new_page())

    # Sign up.
    since = time.time() - 1
    page.goto(f"{BASE}/signup")
    shoot(page, "signup")
    page.fill("#username", USERNAME)
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    check("sign-up: check your mail", "Check your mail" in page.content())
    shoot(page, "signup-done")

    # The mailed link: the GET shows a button, the POST confirms.
    link = mail_link(EMAIL, "verify-email", since)
    check("the mailed link opens these pages", link.startswith(BASE + "/verify-email"), link)
    page.goto(link)
    shoot(page, "verify-email")
    page.click("main button[type=submit]")
    check("verify: confirmed", "Your e-mail address is confirmed." in page.content())
    shoot(page, "verify-email-done")

    # Sign in; the account page.
    page.goto(f"{BASE}/signin")
    shoot(page, "signin")
    sign_in(page, PASSWORD)
    content = page.content()
    check("account: username and confirmed address", USERNAME in content and "Yes" in content)
    shoot(page, "account")

    # Two-step sign-in from the page.
    page.goto(f"{BASE}/account/mfa")
    shoot(page, "mfa")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    secret = page.inner_text("#totp-secret").strip()
    check("enrolment: QR image and key shown", page.locator("img.qr").count() == 1 and len(secret) >= 16)
    shoot(page, "mfa-enrol")
    used = [0]
    page.fill("#code", totp_code(secret, used))
    page.click("main button[type=submit]")
    codes = [code.strip() for code in page.locator("ul.codes li").all_inner_texts()]
    check("10 recovery codes shown once", len(codes) == 10, str(codes))
    download = page.locator('a[download="recovery-codes.txt"]')
    href = download.get_attribute("href") or ""
    check("recovery codes downloadable as text", href.startswith("data:text/plain") and codes[0] in href)
    with page.expect_download() as saved:
        download.click()
    check("the download is a text file of the codes",
          codes[-1] in Path(saved.value.path()).read_text())
    shoot(page, "mfa-codes")

    # Sign out; sign in with the password and a code.
    page.goto(f"{BASE}/signout")
    shoot(page, "signout")
    page.click("main button[type=submit]")
    check("signed out", "You are signed out." in page.content())
    page.goto(f"{BASE}/signin")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/signin/code"))
    shoot(page, "signin-code")
    page.fill("#code", totp_code(secret, used))
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/account$"))

    # A second device (another browser, with a recovery code): two devices.
    other = chromium.new_context(user_agent="Mozilla/5.0 (Android 14; Mobile) Firefox/130.0")
    other_page = watch(other.new_page())
    sign_in(other_page, PASSWORD, codes[0])
    page.goto(f"{BASE}/account/sessions")
    check("two devices listed", page.locator("ul.devices li").count() == 2)
    check("this device marked", page.content().count("(this device)") == 1)
    shoot(page, "sessions")
    page.locator("ul.devices li", has_text="Firefox on Android").locator("button").click()
    check("the other device ended", page.locator("ul.devices li").count() == 1)
    other_page.goto(f"{BASE}/account")
    check("the ended device is sent to sign in", "/signin" in other_page.url, other_page.url)
    other.close()

    # The account page's recent activity (issue #24): newest first, with the
    # time (UTC) and the device of each.
    page.goto(f"{BASE}/account")
    activity = page.locator("ul.activity[aria-labelledby=recent-activity] li")
    entries = activity.all_inner_texts()
    check("recent activity: newest first", len(entries) >= 6 and
          entries[0].startswith("A device was signed out") and
          entries[-1].startswith("Account created"), " | ".join(entries))
    phone = [entry for entry in entries if "Firefox on Android" in entry]
    check("recent activity: the second device's sign-in and recovery code",
          any(entry.startswith("Signed in (password and code)") for entry in phone) and
          any(entry.startswith("Recovery code used") for entry in phone), " | ".join(entries))
    check("recent activity: two-step sign-in turned on",
          any(entry.startswith("Two-step sign-in turned on") for entry in entries))
    times = page.locator("ul.activity time").evaluate_all(
        "nodes => nodes.map(node => [node.getAttribute('datetime'), node.textContent])")
    check("recent activity: each time in UTC, machine-readable too",
          len(times) == len(entries) and all(
              re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp or "") and text.endswith(" UTC")
              for stamp, text in times), str(times))
    shoot(page, "account-activity")

    # Change the password.
    page.goto(f"{BASE}/account/password")
    shoot(page, "password")
    page.fill("#current_password", PASSWORD)
    page.fill("#new_password", NEW_PASSWORD)
    page.click("main button[type=submit]")
    check("password changed", "Your password was changed" in page.content())

    # Sign out; forgot password; reset from the mail.
    page.goto(f"{BASE}/signout")
    page.click("main button[type=submit]")
    page.goto(f"{BASE}/forgot-password")
    shoot(page, "forgot-password")
    since = time.time() - 1
    page.fill("#email", EMAIL)
    page.click("main button[type=submit]")
    check("forgot: the one answer", "If an account has this address" in page.content())
    shoot(page, "forgot-password-sent")
    page.goto(mail_link(EMAIL, "reset-password", since))
    shoot(page, "reset-password")
    page.fill("#new_password", NEWEST_PASSWORD)
    page.click("main button[type=submit]")
    check("reset: sign in with the new one", "sign in with the new one" in page.content())

    # Sign in (a recovery code this time); delete the account.
    sign_in(page, NEWEST_PASSWORD, codes[1])
    page.goto(f"{BASE}/account/delete")
    shoot(page, "delete")
    page.fill("#password", NEWEST_PASSWORD)
    page.click("main button[type=submit]")
    check("deleted", "were deleted" in page.content())
    shoot(page, "deleted")
    sign_in_again = page.goto(f"{BASE}/account")
    check("no account any more", "/signin" in page.url, str(sign_in_again and sign_in_again.url))
    context.close()


def hostile(chromium):
    """A POST without its CSRF token, and one from another site: 403."""
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{BASE}/signin")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    form = {"email": EMAIL, "password": PASSWORD}
    missing = context.request.post(f"{BASE}/signin", form=form, max_redirects=0)
    check("a POST without a CSRF token: 403", missing.status == 403, str(missing.status))
    cross = context.request.post(
        f"{BASE}/signin", form={**form, "csrf": token}, max_redirects=0,
        headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"})
    check("a cross-site POST: 403", cross.status == 403, str(cross.status))
    context.close()


def run(chromium, base, mail_dir):
    """The story, the hostile requests and the scan; returns the failed checks."""
    global BASE, MAIL_DIR
    BASE, MAIL_DIR = base.rstrip("/"), Path(mail_dir)
    SHOTS.mkdir(parents=True, exist_ok=True)
    started = time.time()
    story(chromium)
    hostile(chromium)
    axe_scan.scan(chromium, scanned, check)
    check("no Content-Security-Policy violation", not csp_violations, "; ".join(csp_violations))
    print(f"pages browser story: {len(scanned)} pages, {time.time() - started:.1f} s,"
          f" screenshots in {SHOTS.relative_to(REPO)}")
    return failures


if __name__ == "__main__":
    stories.alone(lambda chromium: run(chromium, sys.argv[1], sys.argv[2]))
