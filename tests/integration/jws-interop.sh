#!/bin/sh
# jws-interop.sh: our JWS and an independent implementation agree.
#
# python3-jwcrypto (Debian's, via /usr/bin/python3) shares no code with
# lib/jws.c.  With one Ed25519 key pair in PEM:
#   - a job signed by cairn-jwstool (jws_sign) verifies in jwcrypto, with
#     the same payload bytes;
#   - a job signed by jwcrypto (EdDSA, our header, compact) verifies in
#     ours (jws_parse + jws_verify + job_claims_from_json);
#   - a one-byte change in the header, the payload or the signature of
#     either fails in both;
#   - a signature whose unused trailing bits are set fails in ours (lax
#     decoders, perhaps jwcrypto's, read the same bytes: the reason DESIGN.md
#     wants canonical base64url).
# SKIP (77) only when /usr/bin/python3 cannot import jwcrypto.
set -u

py=/usr/bin/python3
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-.}
tool=$build/tests/tools/cairn-jwstool
helper=$src/tests/integration/jws-interop.py

if ! [ -x "$py" ] || ! "$py" -c 'import jwcrypto.jws, jwcrypto.jwk' 2>/dev/null; then
	echo "SKIP: $py cannot import jwcrypto (install python3-jwcrypto)"
	exit 77
fi
if ! [ -x "$tool" ]; then
	echo "FAIL: $tool not built"
	exit 1
fi

tmp=$(mktemp -d /tmp/cairn-jws-interop.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

"$tool" keygen "$tmp/priv.pem" "$tmp/pub.pem" || { echo "FAIL: keygen"; exit 1; }
kid=$("$tool" kid "$tmp/pub.pem") || { echo "FAIL: kid"; exit 1; }
now=$(date +%s)
cat >"$tmp/payload.json" <<JSON
{"jti":"6b1c6d0e-2f4a-4b8e-9c1d-0123456789ab","sub":"0f0e0d0c-0b0a-4909-8807-060504030201",
 "iat":$now,"nbf":$now,"exp":$((now + 3600)),"seq":7,"ds":null,"epoch":0,
 "type":"tls.issue","params":{"names":["db-1.example","198.18.0.5"],"key_path":"/etc/cairn/tls/db.key",
 "cert_path":"/etc/cairn/tls/db.crt","note":"\u00e9t\u00e9 ?>?>~~"}}
JSON

# Ours -> jwcrypto.
"$tool" sign "$tmp/priv.pem" "$tmp/payload.json" >"$tmp/ours.jws" || { echo "FAIL: sign"; exit 1; }
ours_payload=$("$tool" verify --job "$tmp/pub.pem" "$tmp/ours.jws") || fail "ours does not verify its own JWS"
if py_payload=$("$py" "$helper" verify "$tmp/pub.pem" "$tmp/ours.jws"); then
	if [ "$py_payload" = "$ours_payload" ]; then
		ok "our JWS verifies in jwcrypto with the same payload"
	else
		fail "jwcrypto read another payload: $py_payload"
	fi
else
	fail "jwcrypto refuses our JWS"
fi

# jwcrypto -> ours (payload bytes as we would make them, our header).
printf '%s\n' "$ours_payload" >"$tmp/compact.json"
"$py" "$helper" sign "$tmp/priv.pem" "$kid" "$tmp/compact.json" >"$tmp/theirs.jws" ||
	{ echo "FAIL: jwcrypto cannot sign"; exit 1; }
if out=$("$tool" verify --job "$tmp/pub.pem" "$tmp/theirs.jws"); then
	if [ "$out" = "$ours_payload" ]; then
		ok "jwcrypto's JWS verifies in ours"
	else
		fail "ours read another payload from jwcrypto's JWS: $out"
	fi
else
	fail "ours refuses jwcrypto's JWS"
fi
# Same key, same header, same payload: Ed25519 is deterministic.
if cmp -s "$tmp/ours.jws" "$tmp/theirs.jws"; then
	ok "both implementations produce the same bytes"
else
	fail "the two JWS differ: $(cat "$tmp/ours.jws") vs $(cat "$tmp/theirs.jws")"
fi

# change JWS SEGMENT(1..3) POS: prints JWS with the char at POS of that
# segment replaced by another base64url char.
change() {
	printf '%s' "$1" | awk -F. -v seg="$2" -v pos="$3" -v OFS=. '{
		s = $seg; c = substr(s, pos, 1); r = (c == "A") ? "B" : "A";
		$seg = substr(s, 1, pos - 1) r substr(s, pos + 1); print }'
}

for name in ours theirs; do
	jws=$(cat "$tmp/$name.jws")
	for seg in 1 2 3; do
		len=$(printf '%s' "$jws" | cut -d. -f"$seg" | awk '{ print length($0) }')
		# First, middle and last-but-one characters carry only data bits.
		for pos in 1 $((len / 2)) $((len - 1)); do
			change "$jws" "$seg" "$pos" >"$tmp/bad.jws"
			if cmp -s "$tmp/bad.jws" "$tmp/$name.jws"; then
				fail "change did not change anything ($name $seg $pos)"
				continue
			fi
			if "$tool" verify "$tmp/pub.pem" "$tmp/bad.jws" >/dev/null 2>&1; then
				fail "ours accepts $name JWS changed in segment $seg at $pos"
			fi
			if "$py" "$helper" verify "$tmp/pub.pem" "$tmp/bad.jws" >/dev/null 2>&1; then
				fail "jwcrypto accepts $name JWS changed in segment $seg at $pos"
			fi
		done
	done
	ok "one-byte changes of the $name JWS fail in both"
done

# Unused trailing bits of the signature (86 chars, 4 unused bits).
jws=$(cat "$tmp/ours.jws")
last=$(printf '%s' "$jws" | awk '{ print substr($0, length($0), 1) }')
case $last in
A) nl=B ;; Q) nl=R ;; g) nl=h ;; w) nl=x ;; *) nl="" ;;
esac
if [ -z "$nl" ]; then
	fail "signature's last character $last has unused bits set"
else
	printf '%s%s\n' "$(printf '%s' "$jws" | sed 's/.$//')" "$nl" >"$tmp/bits.jws"
	if "$tool" verify "$tmp/pub.pem" "$tmp/bits.jws" >/dev/null 2>&1; then
		fail "ours accepts a signature with non-zero unused bits"
	else
		ok "ours refuses non-canonical trailing bits"
	fi
	if "$py" "$helper" verify "$tmp/pub.pem" "$tmp/bits.jws" >/dev/null 2>&1; then
		echo "note: jwcrypto accepts non-canonical trailing bits (lax base64url)"
	fi
fi

# Padding and the standard alphabet: jwcrypto-style inputs ours refuses.
printf '%s==\n' "$jws" >"$tmp/pad.jws"
if "$tool" verify "$tmp/pub.pem" "$tmp/pad.jws" >/dev/null 2>&1; then
	fail "ours accepts padding"
else
	ok "ours refuses padding"
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s)"
	exit 1
fi
exit 0
