"""Process-level serving helpers."""

from __future__ import annotations

import gc
import socket

from quotaflow.serving import bind_socket, freeze_heap


def test_freeze_heap_moves_start_up_objects_out_of_collections_and_raises_the_threshold():
    before = gc.get_threshold()
    try:
        freeze_heap(young_threshold=12_345)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == 12_345
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_bound_sockets_disable_nagle_for_what_they_accept():
    sock = bind_socket()
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()
