"""SMS provider adapters behind ``tsunagi.ports.sms.SmsProvider``."""
