"""Small inline SVG icons. Font glyphs such as a padlock are missing from
many server and browser fonts, so states carry drawn icons (next to text)."""

_STROKE = ('<svg class="ts-icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" '
           'focusable="false" fill="none" stroke="currentColor" stroke-width="1.8" '
           'stroke-linecap="round" stroke-linejoin="round">{}</svg>')

PATHS = {
    "check": '<path d="M3 8.5l3.2 3.2L13 4.8"/>',
    "warning": '<path d="M8 1.8l6.6 12H1.4z"/><path d="M8 6.3v3.4"/><path d="M8 12v.1"/>',
    "clock": '<circle cx="8" cy="8" r="6.2"/><path d="M8 4.5V8l2.6 1.6"/>',
    "expired": '<circle cx="8" cy="8" r="6.2"/><path d="M5.6 5.6l4.8 4.8M10.4 5.6l-4.8 4.8"/>',
    "cross": '<path d="M4 4l8 8M12 4l-8 8"/>',
    "lock": ('<rect x="3" y="7" width="10" height="7.2" rx="1.2"/>'
             '<path d="M5.2 7V5a2.8 2.8 0 0 1 5.6 0v2"/>'),
    "arrow": '<path d="M2.5 8h10.5M9 4l4 4-4 4"/>',
    "gone": '<circle cx="8" cy="8" r="6.2"/><path d="M4.8 8h6.4"/>',
    "list": '<path d="M3 4h10M3 8h10M3 12h10"/>',
    "info": '<circle cx="8" cy="8" r="6.2"/><path d="M8 7.2v4"/><path d="M8 4.8v.1"/>',
    "stop": '<circle cx="8" cy="8" r="6.2"/><path d="M3.6 12.4l8.8-8.8"/>',
}


def icon(name):
    from markupsafe import Markup  # called only while Jinja2 renders, which loads it anyway

    return Markup(_STROKE.format(PATHS[name]))
