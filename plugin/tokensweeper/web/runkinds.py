"""What kind of run an audit log run is (issue 30.10), and the Audit tab's search: pure
functions of the records audit.runs() groups, for the page only."""

from .tokenvalue import key_value

INCIDENT_CRITERIA = ("used_from", "used_after", "created_after", "created_before")
NARROWING = ("names", "owners", "resellers", "combine")

# kind -> the words the Audit tab shows
KIND_WORDS = {
    "policy": "policy",
    "hand-picked": "hand-picked",
    "incident": "incident",
    "hook": "hook",
    "notice": "notice",
    "quarantine": "quarantine",
    "guard": "creation guard",
    "watch": "new-token watch",
}


def run_kind(run):
    """policy, hand-picked, incident, hook, notice, quarantine, guard or watch."""
    final = run.final
    event, actor = str(final.get("event", "")), str(final.get("actor", ""))
    mode = str(final.get("mode", ""))
    if event in ("notice", "reminder"):
        return "notice"
    if "quarantin" in event or mode == "quarantine" or any(
            str(token.get("action", "")).startswith("quarantin") for token in _tokens(run)):
        return "quarantine"
    if event in ("creation-blocked", "guard-error") or mode == "guard":
        return "guard"
    if event == "new-token-watch":
        return "watch"
    if actor.startswith("hook:"):
        return "hook"
    selectors = final.get("selectors")
    selectors = selectors if isinstance(selectors, dict) else {}
    if any(selectors.get(name) for name in INCIDENT_CRITERIA):
        return "incident"
    if not [name for name in selectors if name not in NARROWING]:
        return "hand-picked"
    return "policy"


def _tokens(run):
    return [token for token in run.tokens() if isinstance(token, dict)]


def matches(run, text):
    """Whether a search finds this run: the text (any case) in its id, actor, or a token's
    owner, holder or name."""
    text = text.strip().lower()
    if not text:
        return True
    final = run.final
    words = [str(run.run_id or ""), str(final.get("actor", ""))]
    for token in _tokens(run):
        owner, kind = str(token.get("owner", "")), str(token.get("kind") or "whm")
        words += [owner, str(token.get("name", "")),
                  owner if kind == "whm" else "%s@%s" % (owner, kind)]
    return any(text in word.lower() for word in words)


def failed_keys(run):
    """The overview's selection values ("HOLDER:NAME", the name spelt for a form) of a
    run's failed tokens."""
    keys = []
    for token in _tokens(run):
        if token.get("action") != "failed":
            continue
        owner, kind = str(token.get("owner", "")), str(token.get("kind") or "whm")
        keys.append(key_value(owner if kind == "whm" else "%s@%s" % (owner, kind),
                              token.get("name", "")))
    return keys
