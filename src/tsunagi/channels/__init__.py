"""The written channels — web chat, email, SMS — and web callback booking, as pure code.

What a message may contain, what a file really is, which keywords opt out, what the
conversation events say. No I/O here: the actions (``tsunagi.actions.conversations``)
store and announce, the adapters speak IMAP/SMTP/HTTP, the web layer serves the widget.
"""
