"""RELP frames as librelp writes and reads them: exact bytes, and what a hostile receiver sends."""

from __future__ import annotations

import pytest

from watchd.plugins.sinks.relp import MAX_RESPONSE, ProtocolError, parse_frames, relp_frame


def test_frames_are_librelps_bytes():
    assert (
        relp_frame(7, b"syslog", b"<134>1 - - - - - - hi") == b"7 syslog 21 <134>1 - - - - - - hi\n"
    )
    assert relp_frame(9, b"close") == b"9 close 0\n"


def test_responses_are_taken_whole_and_a_cut_one_waits():
    buffer = bytearray(
        b"1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com"
        b"\ncommands=syslog\n2 rsp 6 200 OK\n3 rsp 6 200"
    )
    assert parse_frames(buffer) == [
        (
            1,
            b"rsp",
            b"200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com"
            b"\ncommands=syslog",
        ),
        (2, b"rsp", b"200 OK"),
    ]
    assert buffer == b"3 rsp 6 200"
    buffer += b" OK\n0 serverclose 0\n"
    assert parse_frames(buffer) == [(3, b"rsp", b"200 OK"), (0, b"serverclose", b"")]
    assert buffer == b""


@pytest.mark.parametrize(
    "hostile",
    [
        b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 40,
        b"1 rsp 6 200 OKX",  # no trailer where the length says
        b"1 rsp %d " % (MAX_RESPONSE + 1),
    ],
)
def test_what_is_not_relp_ends_the_session(hostile):
    with pytest.raises(ProtocolError):
        parse_frames(bytearray(hostile))
