"""A readable device label from a user agent ("Chrome on Linux"): what a person recognises in a session list."""

from __future__ import annotations

# Checked in order: the first match names the browser (Edge and Opera also say "Chrome"; Chrome also "Safari").
_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chromium/", "Chromium"),
             ("Chrome/", "Chrome"), ("CriOS/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl"),
             ("python-requests/", "Python requests"), ("HeadlessChrome", "Chrome"))
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def device_label(user_agent: str | None) -> str:
    """'<browser> on <system>', either part 'Unknown …' when the user agent does not say."""
    text = user_agent or ""
    browser = next((name for mark, name in _BROWSERS if mark in text), None)
    system = next((name for mark, name in _SYSTEMS if mark in text), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"
