"""cPanel accounts' own API tokens (UAPI `Tokens`), reached through whmapi1 only:
`uapi_cpanel` per account, many of them in one `batch` process (docs/cpanel-notes.md).

Owners are the accounts whose token file `api_tokens_v2/cpanel/USER.json` holds
tokens: only names of files are read, plus tokenfiles' cheap count (an emptied
file is `{"tokens":{}}`), so no account is ever asked about blindly. Listing is
one `batch` of Tokens::list per whmapi.DEFAULT_UAPI_BATCH accounts; Tokens::revoke
takes one name per call, so a revoke of k tokens costs ceil(k / batch) processes;
its answer is never trusted: the caller lists again.

An account whose `apitokens` feature is off has its Tokens calls refused: that is
a note about the account (its tokens can be neither listed nor revoked while it
is off), never a failed run; any other failure of one account is that account's
error, and the others proceed.
"""

from .. import paths, tokenfiles
from ..owners import Inventory, order_owners, valid_owner
from ..tokens import CPANEL, TokenDataError, parse_uapi_token_list
from ..whmapi import UapiCall

KIND = CPANEL
MODULE = "Tokens"


def valid_account(name):
    """The shape owners.py accepts for any cPanel user (never an option, never a path);
    root has no cPanel account."""
    return name != "root" and valid_owner(name)


def holder(account):
    return "%s@%s" % (account, KIND)


def find_holders(client=None, owners=None, resellers=None):
    """Accounts whose token file holds tokens (or cannot be read: then only whmapi1 can
    tell). `owners` keeps only those accounts, `resellers` only the accounts they own
    (`/etc/trueuserowners`). Returns (accounts, problems)."""
    directory = paths.cpanel_token_dir()
    names = tokenfiles.users_with_files(directory)
    problems = ["ignored the cPanel token file %s.json: not a valid cPanel account name" % name
                for name in sorted(names) if not valid_account(name)]
    names = [name for name in names if valid_account(name)]
    if owners is not None:
        wanted = set(owners)
        names = [name for name in names if name in wanted]
    if resellers:
        owned_by = account_owners()
        names = [name for name in names if owned_by.get(name) in set(resellers)]
    accounts = [name for name in names if tokenfiles.may_hold_tokens(name, directory)]
    return order_owners(accounts), problems


def account_owners():
    """{account: owner} from `/etc/trueuserowners` (`user: owner` lines); {} when it cannot
    be read (owners are then unknown: shown as such, never a reason to skip a token)."""
    try:
        with open(paths.trueuserowners(), encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError):
        return {}
    table = {}
    for line in lines:
        user, sep, owner = line.partition(":")
        user, owner = user.strip(), owner.strip()
        if sep and user and owner and user not in table:
            table[user] = owner
    return table


def inventory(client, accounts, parallel=4):
    """Every account's tokens: one batch process per group of accounts. Errors and notes
    are keyed by holder ("bob@cpanel"), never by the bare account name."""
    owned_by = account_owners()
    answers = _list(client, accounts, parallel)
    tokens, errors, notes = [], {}, []
    for account in accounts:
        answer = answers[account]
        if answer.ok:
            try:
                tokens.extend(parse_uapi_token_list(account, answer.data,
                                                    owned_by.get(account)))
                continue
            except TokenDataError as error:
                errors[holder(account)] = str(error)
        elif answer.refused:
            notes.append(feature_note(account, answer.error))
        else:
            errors[holder(account)] = answer.error
    return Inventory([holder(account) for account in accounts], tokens, errors, notes)


def feature_note(account, why):
    return ("the cPanel account %s's API tokens cannot be listed or revoked: UAPI refused "
            "(is the account's apitokens feature disabled?): %s" % (account, why))


def listings(client, accounts, parallel=4):
    """{account: {name: Token} or error sentence}, strict: an answer that is not a token
    list is an error, never "no tokens"."""
    owned_by = account_owners()
    answers = _list(client, accounts, parallel)
    out = {}
    for account in accounts:
        answer = answers[account]
        if not answer.ok:
            out[account] = answer.error
        elif not isinstance(answer.data, list):
            out[account] = ("whmapi1 uapi_cpanel Tokens::list as %s: the answer has no "
                            "token list" % account)
        else:
            try:
                listed = parse_uapi_token_list(account, answer.data, owned_by.get(account))
                out[account] = {token.name: token for token in listed}
            except TokenDataError as error:
                out[account] = str(error)
    return out


def revoke(client, names_by_account, parallel=4):
    """Tokens::revoke, one call per name, all of them in ceil(k / batch) processes.
    {account: first error sentence or None}."""
    calls = [UapiCall(account, MODULE, "revoke", [("name", name)])
             for account in sorted(names_by_account) for name in names_by_account[account]]
    errors = dict.fromkeys(names_by_account)
    for answer in _run(client, calls, parallel):
        if not answer.ok and errors[answer.call.user] is None:
            errors[answer.call.user] = answer.error
    return errors


def list_one(client, account):
    """The account's cPanel tokens now (raises WhmapiError, TokenDataError)."""
    from ..whmapi import WhmapiFailed

    listed = listings(client, [account], 1)[account]
    if isinstance(listed, str):
        raise WhmapiFailed("uapi_cpanel", account, listed)
    return sorted(listed.values(), key=lambda token: token.name)


def require_owner(client, account, error, status):
    """An account whose token file holds no token has nothing to revoke: say so."""
    if account == "root" or not tokenfiles.may_hold_tokens(account, paths.cpanel_token_dir()):
        raise error("%s has no cPanel API tokens (no token file under %s)"
                    % (account, paths.cpanel_token_dir()), status)


def empty_listing(client, account, error, status):
    """The account listed no token: whmapi1 refuses an unknown account, so an empty
    listing is a real one (its tokens are gone)."""
    return


def selector_args(account):
    """The command-line options that select this account's tokens of this kind."""
    return "--kind cpanel --owner %s" % account


FROM_FILE = "cPanel tokens read from the account's token file"


def snapshot(client, account, log=lambda message: None):
    """(the account's cPanel tokens, how they were read: "" for a listing) before cPanel
    deletes them. When whmapi1 cannot list them, the token file (until cPanel deletes it
    right after the pre stage) holds the same records UAPI lists, minus nothing we keep."""
    owned_by = account_owners().get(account)
    answer = _list(client, [account], 1)[account]
    if answer.ok:
        try:
            return parse_uapi_token_list(account, answer.data, owned_by), ""
        except TokenDataError as error:
            why = str(error)
    else:
        why = answer.error
    log("whmapi1 could not list %s's cPanel tokens (%s); reading its token file" % (account, why))
    try:
        tokens = read_token_file(account, owned_by)
    except (tokenfiles.TokenFileError, TokenDataError) as error:
        log("the cPanel token file cannot stand in for the listing: %s" % error)
        return [], "%s's cPanel tokens could not be read: %s" % (account, why)
    return tokens, "%s: whmapi1 could not list them (%s)" % (FROM_FILE, why)


def read_token_file(account, account_owner=None):
    """The tokens in the account's `cpanel/USER.json` (the records UAPI lists: name,
    create_time, expires_at, has_full_access, features; the keys, digests of the secrets,
    are left alone). Raises tokenfiles.TokenFileError or TokenDataError."""
    records = tokenfiles.read_records(account, paths.cpanel_token_dir())
    listed = [{key: record.get(key) for key in ("name", "create_time", "expires_at",
                                                "has_full_access", "features")}
              if isinstance(record, dict) else record for record in records.values()]
    return parse_uapi_token_list(account, listed, account_owner)


def check_hint(account):
    return "tokensweeper list %s" % selector_args(account)


def _list(client, accounts, parallel):
    calls = [UapiCall(account, MODULE, "list") for account in accounts]
    return {answer.call.user: answer for answer in _run(client, calls, parallel)}


def _run(client, calls, parallel):
    """Every call's answer, the batches run a bounded number at a time."""
    chunks = list(client.uapi_chunks(calls))
    if len(chunks) <= 1:
        return [answer for chunk in chunks for answer in client.run_uapi_chunk(chunk)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return [answer for answers in pool.map(client.run_uapi_chunk, chunks)
                for answer in answers]
