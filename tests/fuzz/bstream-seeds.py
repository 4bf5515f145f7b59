#!/usr/bin/python3
# bstream-seeds.py: writes the seed corpus of fuzz-bstream
# (tests/fuzz/corpus/bstream/) with an implementation independent of
# lib/bstream.c (python3-cryptography and the zstd command), under the fuzz
# target's key (32 bytes of 0x42) and name ("fuzz/object").  Deterministic:
# salts are fixed, so rerunning it changes nothing.
#   /usr/bin/python3 tests/fuzz/bstream-seeds.py tests/fuzz/corpus/bstream
import os, struct, subprocess, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY = b"\x42" * 32

def seal(pt, name=b"fuzz/object", chunk_log=16, compress=True, salt=b"\x11" * 16,
         final=True):
    hdr = b"CAIRNBK1" + bytes([1, 1, chunk_log, 1 if compress else 0]) + salt
    k = HKDF(hashes.SHA256(), 32, salt, b"cairn-backup v1\0" + name).derive(KEY)
    if compress:
        pt = subprocess.run(["zstd", "-3", "-c", "--no-check"], input=pt,
                            capture_output=True, check=True).stdout
    size = 1 << chunk_log
    chunks = [pt[i:i + size] for i in range(0, len(pt) - len(pt) % size, size)]
    chunks.append(pt[len(pt) - len(pt) % size:])
    out = hdr
    for ctr, c in enumerate(chunks):
        last = ctr == len(chunks) - 1
        if last and not final:
            break
        ct = AESGCM(k).encrypt(b"\0" * 4 + struct.pack(">Q", ctr), c,
                               hdr + struct.pack(">Q", ctr) + bytes([last]))
        out += struct.pack(">I", len(ct)) + ct
    return out

def text(n):
    line = b"1|1|0|                                                                                    \n"
    return (line * (n // len(line) + 1))[:n]

def main(d):
    os.makedirs(d, exist_ok=True)
    rnd = bytes((i * 2654435761 >> 13) & 0xff for i in range(140000))
    hello = seal(b"hello, fuzz\n")
    seeds = {
        "valid-empty-raw": seal(b"", compress=False),
        "valid-empty-zstd": seal(b""),
        "valid-hello-zstd": hello,
        "valid-multi-raw": seal(rnd, compress=False),
        "valid-multi-zstd": seal(rnd[:70000] + text(200000)),
        "truncated-no-final": seal(rnd, compress=False, final=False),
        "wrong-name": seal(b"hello, fuzz\n", name=b"fuzz/other"),
        "bad-magic": b"CAIRNBK2" + hello[8:],
        "bad-version": hello[:8] + b"\x02" + hello[9:],
        "bad-chunk-log": hello[:10] + b"\x17" + hello[11:],
        "oversize-length": hello[:28] + b"\xff\xff\xff\xff" + hello[32:],
        "short-length": hello[:28] + b"\x00\x00\x00\x0f" + hello[32:],
        "appended": hello + hello,
        "header-only": hello[:28],
    }
    for n, b in seeds.items():
        with open(os.path.join(d, n), "wb") as f:
            f.write(b)

main(sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/bstream")
