"""Sente's protocol without I/O: events, envelopes, replies, timing and state machines.

Nothing here reads a clock, sleeps, opens a socket or imports asyncio: time is passed in and
deadlines are handed back, so every timing rule is testable without waiting.
"""
