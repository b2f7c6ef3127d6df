"""Rooms with presence and routed requests, on top of a channel-socket server."""

from __future__ import annotations

from jupyter_sente.rooms.hub import Caller, JoinRequest, RoomHub, RoomPolicy, RoomPort, allow_all

__all__ = ["Caller", "JoinRequest", "RoomHub", "RoomPolicy", "RoomPort", "allow_all"]
