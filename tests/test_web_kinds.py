"""The page with cPanel accounts' own tokens (issue 15): a Kind column and filter, the
account's owner, previews and results that name the kind, and the revoke flow for a
cPanel token that never touches the WHM token of the same owner and name."""

import html
import re
import subprocess
import sys

import pytest

from tests.helpers import BIN, DAY, NOW
from tests.test_web_cgi import Site, confirmation_values, preview_rows, selection


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = Site(tmp_path, monkeypatch)
    site.config.write_text("kinds: [whm, cpanel]\n")
    server = site.server
    server.add_account("boss", owner="root")
    server.add_account("shop", owner="boss")
    site.token("boss", "old-ci", age=60, expires=-3)  # boss's WHM token old-ci
    server.add_cpanel_token("boss", "old-ci", NOW - 70 * DAY, expires_at=NOW - 2 * DAY)
    server.add_cpanel_token("shop", "wp-toolkit", NOW - 400 * DAY)
    server.add_cpanel_token("shop", "MailNodeLinkage", NOW - 300 * DAY)
    server.write_token_files(site.root)
    return site


def kinds_of(body):
    return re.findall(r'<td class="ts-kind ts-kind-(\w+)">', body)


def test_the_overview_shows_both_kinds_with_a_column_and_the_accounts_owner(site):
    reply = site.get()
    assert reply.status == 200
    assert sorted(set(kinds_of(reply.body))) == ["cpanel", "whm"]
    assert 'aria-label="Select token wp-toolkit of shop (cPanel account)"' in reply.body
    assert "account of boss" in reply.text()
    # MailNodeLinkage is cPanel's own: locked
    assert "Token MailNodeLinkage of shop (cPanel account) is protected" in reply.body
    assert 'value="boss@cpanel:old-ci"' in reply.body and 'value="boss:old-ci"' in reply.body


def test_the_kind_filter_keeps_one_kind(site):
    body = site.get("kind=cpanel").body
    assert set(kinds_of(body)) == {"cpanel"}
    assert set(kinds_of(site.get("kind=whm").body)) == {"whm"}
    assert site.get("kind=uapi").status == 400


def test_without_kinds_in_the_config_the_page_shows_whm_tokens_only(site):
    site.config.write_text("mode: preview\n")
    assert set(kinds_of(site.get().body)) == {"whm"}


def test_revoking_a_cpanel_token_from_the_page_leaves_the_whm_token_of_that_name(site):
    preview = site.post(selection("boss@cpanel:old-ci"))
    assert preview.status == 200, preview.text()
    (row,) = preview_rows(preview)
    assert row.split()[:5] == ["boss", "account", "of", "root", "cPanel"]
    values = confirmation_values(preview)
    assert len(values) == 1 and values[0].startswith("boss@cpanel:old-ci:")
    result = site.post([("action", "revoke"), ("mode", "selection")]
                       + [("t", v) for v in values], follow=True)
    assert result.status == 200, result.text()
    assert "cPanel" in result.text() and "Revoked" in result.text()
    assert site.server.cpanel_token_names("boss") == set()
    assert site.server.token_names("boss") == {"billing", "old-ci"}
    assert site.revokes() == []  # no WHM revoke call at all


def test_a_whm_confirmation_cannot_revoke_the_cpanel_token(site):
    preview = site.post(selection("boss:old-ci"))
    values = confirmation_values(preview)
    assert values[0].startswith("boss:old-ci:")
    site.post([("action", "revoke"), ("mode", "selection")] + [("t", v) for v in values])
    assert site.server.token_names("boss") == {"billing"}
    assert site.server.cpanel_token_names("boss") == {"old-ci"}


def test_a_forged_kind_is_refused(site):
    reply = site.post(selection("boss@whatever:old-ci"))
    assert reply.status == 400
    assert site.post(selection("root@cpanel:old-ci")).status == 400


def test_the_audit_page_shows_the_kind(site):
    preview = site.post(selection("boss@cpanel:old-ci"))
    site.post([("action", "revoke"), ("mode", "selection")]
              + [("t", v) for v in confirmation_values(preview)])
    text = site.get("page=audit").text()
    assert "boss cPanel old-ci" in text


def test_a_reload_remembers_cpanel_listings_while_their_token_files_are_unchanged(site):
    site.get()
    site.server.reset_calls()
    again = site.get()
    assert again.status == 200 and site.server.calls("batch") == []
    assert set(kinds_of(again.body)) == {"whm", "cpanel"}
    # The account's token file changes (a token revoked in cPanel): only it is asked again.
    site.server.remove_cpanel_token("shop", "wp-toolkit")
    site.server.reset_calls()
    body = site.get().body
    (batch,) = site.server.calls("batch")
    assert [a for a in batch["argv"] if a.startswith("command-")] == [
        "command-0=uapi_cpanel%3Fcpanel.user%3Dshop%26cpanel.module%3DTokens%26"
        "cpanel.function%3Dlist"]
    assert "wp-toolkit" not in body


def test_a_refresh_asks_about_every_cpanel_account_again(site):
    site.get()
    site.server.reset_calls()
    site.get("refresh=1")
    (batch,) = site.server.calls("batch")
    assert len([a for a in batch["argv"] if a.startswith("command-")]) == 2


def seen(html):
    """What a sighted reader sees: the text without what only screen readers get."""
    html = re.sub(r'<span class="ts-visually-hidden">[^<]*</span>', "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def heard(html):
    """What a screen reader reads: the text without what is hidden from it."""
    html = re.sub(r'<span aria-hidden="true">[^<]*</span>', "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def name_cells(html):
    return re.findall(r'<td class="ts-name">(.*?)</td>', html, re.S)


def test_a_name_ending_in_a_newline_is_shown_unlike_the_name_without_it(site):
    # cPanel's name rule lets `leak\n` through (Perl's `$`); the page showed it exactly as
    # `leak` in every table (HTML folds the newline into nothing).
    site.config.write_text("kinds: [whm, cpanel]\npolicy:\n  expired: true\n")
    site.server.add_cpanel_token("shop", "leak\n", NOW - 60 * DAY, expires_at=NOW - 3 * DAY)
    site.server.add_cpanel_token("shop", "leak", NOW - 60 * DAY, expires_at=NOW - 3 * DAY)
    site.server.write_token_files(site.root)

    def both(html):
        cells = [cell for cell in name_cells(html) if "leak" in cell]
        assert sorted(seen(cell).strip() for cell in cells) == ["leak", "leak\\n"], cells
        assert sorted(heard(cell).strip() for cell in cells) == [
            "leak", "leak (newline character)"], cells

    overview = site.get("kind=cpanel")
    both(overview.body)
    assert ('aria-label="Select token leak (newline character) of shop (cPanel account)"'
            in overview.body)
    both(site.get("page=sweep").body)  # the policy sweep's preview
    # Revoked by the command (cron, an admin): its run on the Audit tab and its own page.
    swept = subprocess.run([sys.executable, BIN, "sweep", "--expired", "--kind", "cpanel",
                            "--yes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
    assert swept.returncode == 0, swept.stderr
    assert "leak\n" not in site.server.cpanel_token_names("shop")
    audit_tab = site.get("page=audit").body
    both(audit_tab)
    run_id = re.search(r'<code class="ts-run-id">([^<]+)</code>', audit_tab).group(1)
    both(site.get("page=audit&run=" + run_id).body)


def as_a_browser_sends(values):
    """Form values as a browser submits them: entities read, and every newline sent as CRLF
    (HTML's form submission newline normalisation)."""
    return [html.unescape(v).replace("\r\n", "\n").replace("\n", "\r\n") for v in values]


def checkbox_of(body, label):
    """The value of the overview's checkbox whose label is `label`, as a browser sends it."""
    for value, said in re.findall(r'<input type="checkbox" name="t" value="([^"]*)"[^>]*'
                                  r'aria-label="Select token ([^"]*)"', body):
        if said == label:
            return as_a_browser_sends([value])[0]
    raise AssertionError("no checkbox labelled %r" % label)


def confirm(site, reply, mode):
    """Press Revoke on a preview, as a browser submits its confirmation form."""
    values = as_a_browser_sends(re.findall(r'<input type="hidden" name="t" value="([^"]*)">',
                                           reply.body))
    confirmation = re.search(r'name="confirmation" value="([0-9a-f]{32})"', reply.body).group(1)
    return site.post([("action", "revoke"), ("mode", mode), ("confirmation", confirmation)]
                     + [("t", v) for v in values], follow=True)


@pytest.mark.parametrize("kind", ["cpanel", "whm"])
def test_a_name_ending_in_a_newline_is_picked_previewed_and_revoked_from_the_page(site, kind):
    # A preview of the ticked `leak\n` was a 400 (a browser sends its newline as CRLF, and
    # the page refused the name it came back as): an account's token the admin could see
    # but not revoke from the page.
    if kind == "cpanel":
        for name in ("leak\n", "leak"):
            site.server.add_cpanel_token("shop", name, NOW - 60 * DAY)
        site.server.write_token_files(site.root)
        label, names = "leak (newline character) of shop (cPanel account)", (
            lambda: site.server.cpanel_token_names("shop"))
    else:
        for name in ("leak\n", "leak"):
            site.token("boss", name, age=60)
        label, names = "leak (newline character) of boss", (
            lambda: site.server.token_names("boss"))
    ticked = checkbox_of(site.get("kind=" + kind).body, label)
    preview = site.post(selection(ticked))
    assert preview.status == 200, preview.text()
    (row,) = preview_rows(preview)
    assert "leak \\n (newline character)" in row  # the ticked one, not plain leak
    assert "1 token will be revoked" in preview.text()
    result = confirm(site, preview, "selection")
    assert result.status == 200, result.text()
    assert "1 token revoked" in result.text()
    assert "leak\n" not in names() and "leak" in names()


def test_a_policy_sweep_holding_a_name_ending_in_a_newline_revokes_all_it_previewed(site):
    # One account's `leak\n` made the whole policy sweep's confirmation a 400: nothing it
    # previewed could be revoked from the page.
    site.config.write_text("kinds: [whm, cpanel]\npolicy:\n  expired: true\n")
    site.server.add_cpanel_token("shop", "leak\n", NOW - 60 * DAY, expires_at=NOW - 3 * DAY)
    site.token("helper", "leak\n", age=60, expires=-3)
    site.server.write_token_files(site.root)
    preview = site.get("page=sweep")
    assert "5 tokens will be revoked" in preview.text()
    result = confirm(site, preview, "policy")
    assert result.status == 200, result.text()
    assert "5 tokens revoked" in result.text()
    assert site.server.cpanel_token_names("shop") == {"wp-toolkit", "MailNodeLinkage"}
    assert site.server.cpanel_token_names("boss") == set()
    assert site.server.token_names("helper") == {"deploy"}
    assert "old-ci" not in site.server.token_names("root")
    assert "old-ci" not in site.server.token_names("boss")


@pytest.mark.parametrize("value", ["shop@cpanel:leak\r\n", "shop@cpanel:leak\n",
                                   "shop@cpanel:le\\nak", "shop@cpanel:leak\\n\\n",
                                   "shop@cpanel:leak\\r", "shop@cpanel:leak\\"])
def test_a_name_spelt_otherwise_is_refused_and_nothing_changes(site, value):
    # Only the page's own spelling, `leak\n` written out, names the newline; a raw one is
    # refused as before, whatever a form or a hand sends.
    site.server.add_cpanel_token("shop", "leak\n", NOW - 60 * DAY)
    site.server.write_token_files(site.root)
    preview = site.post(selection(value))
    assert preview.status == 400
    assert "is not a token of this server" in preview.text()
    site.server.reset_calls()
    reply = site.post([("action", "revoke"), ("mode", "selection"), ("t", value)])
    assert reply.status == 400 and site.server.calls() == []
    assert "leak\n" in site.server.cpanel_token_names("shop")


def test_retry_failed_names_a_name_ending_in_a_newline_as_the_page_reads_it(site):
    # Retry failed of a run that failed on `leak\n` sent its name as a browser does (CRLF):
    # a 400 instead of the fresh preview.
    site.server.add_cpanel_token("shop", "leak\n", NOW - 60 * DAY)
    site.server.write_token_files(site.root)
    site.server.add_fault("keep_token", name="leak\n")
    ticked = checkbox_of(site.get("kind=cpanel").body,
                         "leak (newline character) of shop (cPanel account)")
    run = confirm(site, site.post(selection(ticked)), "selection")
    assert "Retry failed (1)" in run.text(), run.text()
    form = run.body[run.body.index('value="preview"'):]
    values = as_a_browser_sends(re.findall(r'<input type="hidden" name="t" value="([^"]*)">',
                                           form[:form.index("</form>")]))
    site.server.clear_faults()
    again = site.post(selection(*values))
    assert again.status == 200, again.text()
    (row,) = preview_rows(again)
    assert "leak \\n (newline character)" in row


def test_a_change_since_the_preview_names_a_newline_ending_token_unlike_its_plain_twin(site):
    # The 409's sentences said "shop@cpanel/leak is no longer listed" for `leak\n`: the
    # name of its twin `leak`, which is still there.
    for name in ("leak\n", "leak"):
        site.server.add_cpanel_token("shop", name, NOW - 60 * DAY)
    site.server.write_token_files(site.root)
    ticked = checkbox_of(site.get("kind=cpanel").body,
                         "leak (newline character) of shop (cPanel account)")
    preview = site.post(selection(ticked))
    site.server.remove_cpanel_token("shop", "leak\n")
    site.server.write_token_files(site.root)
    reply = confirm(site, preview, "selection")
    assert reply.status == 409
    assert "shop@cpanel/leak\\n is no longer listed" in seen(reply.body)
    assert "shop@cpanel/leak (newline character) is no longer listed" in heard(reply.body)
    assert "leak" in site.server.cpanel_token_names("shop")
