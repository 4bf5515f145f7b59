#!/usr/bin/python3
"""jws-interop.py: the independent side of tests/integration/jws-interop.sh.

Signs and verifies Cairn job JWS with python3-jwcrypto (Debian's), which
shares no code with lib/jws.c.

  jws-interop.py sign PRIV.pem KID PAYLOAD_FILE   prints a compact JWS
  jws-interop.py verify PUB.pem JWS_FILE          exit 0 + payload, or 1
"""
import json
import sys

from jwcrypto import jwk, jws


def load_key(path):
    with open(path, "rb") as f:
        return jwk.JWK.from_pem(f.read())


def sign(priv, kid, payload_file):
    key = load_key(priv)
    with open(payload_file, "rb") as f:
        payload = f.read().rstrip(b"\r\n")
    header = json.dumps({"alg": "EdDSA", "kid": kid, "typ": "cairn-job"},
                        separators=(",", ":"), sort_keys=True)
    token = jws.JWS(payload)
    token.add_signature(key, alg="EdDSA", protected=header)
    print(token.serialize(compact=True))
    return 0


def verify(pub, jws_file):
    key = load_key(pub)
    with open(jws_file, "r") as f:
        text = f.read().strip()
    token = jws.JWS()
    try:
        token.deserialize(text)
        token.verify(key, alg="EdDSA")
    except Exception as e:  # every failure is a refusal here
        print("jwcrypto refused: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1
    header = token.jose_header
    if header.get("alg") != "EdDSA" or header.get("typ") != "cairn-job":
        print("jwcrypto: unexpected header %r" % header, file=sys.stderr)
        return 1
    sys.stdout.write(token.payload.decode("utf-8") + "\n")
    return 0


def main(argv):
    if len(argv) == 5 and argv[1] == "sign":
        return sign(argv[2], argv[3], argv[4])
    if len(argv) == 4 and argv[1] == "verify":
        return verify(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
