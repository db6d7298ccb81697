"""Shared kernel: model mixins, tenancy, crypto, security headers, htmx helpers."""
