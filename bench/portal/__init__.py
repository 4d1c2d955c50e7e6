"""The portal section: signed-in people browsing their consents and their requests, beside a static
asset of the same web server."""
