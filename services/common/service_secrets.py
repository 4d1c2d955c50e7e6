"""Secrets every replica of a service shares, made by the first that asks (table service_secrets)."""

import os

import asyncpg


async def shared_secret(pool: asyncpg.Pool, name: str) -> bytes:
    await pool.execute("INSERT INTO service_secrets (name, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       name, os.urandom(32))
    return bytes(await pool.fetchval("SELECT secret FROM service_secrets WHERE name = $1", name))
