"""The local stack: AWS emulated by moto on 127.0.0.1, the real handlers served over HTTP.

Development-only; nothing here is deployed.
"""
