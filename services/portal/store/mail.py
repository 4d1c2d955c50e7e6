"""Mail through an SMTP server, with the standard library's client in a worker thread (a letter is rare
and small; the event loop never waits on the server)."""

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from services.portal.settings import SmtpSettings


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self._s = settings

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self._s.sender, to, subject
        message.set_content(body)
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        s = self._s
        context = ssl.create_default_context()
        if s.security == "tls":
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        with client:
            if s.security == "starttls":
                client.starttls(context=context)
            if s.username:
                client.login(s.username, s.password.get_secret_value())
            client.send_message(message)
