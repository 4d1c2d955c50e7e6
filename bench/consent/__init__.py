"""The consent section: CheckConsent, CheckConsents and GrantConsent against the consent service and a
bare gRPC echo server (section.py); the calls the generator makes (calls.py); the echo (echo.py)."""
