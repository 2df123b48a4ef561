"""Upstream emulators: small aiohttp apps that speak each upstream's dialect and return real images."""
