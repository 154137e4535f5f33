"""Template filters: dates and counts the way an admin reads them."""

import time


def date(epoch):
    if epoch is None:
        return "never"
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def datetime_utc(epoch):
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def plural(count, word, words=None):
    if count == 1:
        return "1 " + word
    return "{} {}".format(count, words or word + "s")


def days(count):
    if count is None:
        return ""
    return plural(count, "day")


FILTERS = {
    "date": date,
    "datetime_utc": datetime_utc,
    "plural": plural,
    "days": days,
}
