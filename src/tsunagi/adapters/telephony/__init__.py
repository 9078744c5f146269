"""The built-in voice engine: sippy (SIP) + rtpengine (media), driven from Python."""
