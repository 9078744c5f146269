"""Mail servers: an IMAP mailbox to read from and an SMTP server to send through.

The actions see only :class:`~tsunagi.adapters.mail.imap.ImapMailbox` (fetch what came after
a UID, wait for news) and :class:`~tsunagi.adapters.mail.smtp.SmtpSender` (send bytes);
see docs/architecture/email.md.
"""
