#!/bin/bash
# s3-client.sh: lib/s3 (through tests/tools/s3-tool) against a real S3
# server, @20minutes/s3rver 5.x with SigV4 checks on, on 127.0.0.1:
#   - a wrong secret gets a clear 403 SignatureDoesNotMatch, no secret shown
#   - put/get/head/rm, listing across pages (continuation tokens), delete in
#     batches of 1000
#   - a 100 MiB multipart upload from stdin and a parallel ranged download
#     give back the same SHA-256, with peak RSS bounded by the part buffers
#   - an upload killed with -9 leaves no object; abort-stale (s3rver has no
#     ListMultipartUploads: the tool must say so clearly)
#   - /usr/bin/aws reads what we wrote, byte-identical, and we read its
#   - TLS with a test CA (and refusal without it)
# Needs node and the package (scripts/install-deps.sh), else SKIP (77).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

h_s3_begin s3-client
h_s3rver_start "$T/s3" || { h_fail "s3rver starts"; h_end; }
AWS=/usr/bin/aws
PART_MIB=8
PAR=4

# 1. Wrong secret: 403 with S3's code and message, and not the secret.
echo hello >"$T/small"
out=$(AWS_SECRET_ACCESS_KEY=not-the-secret-xyz "$S3TOOL" put k/small "$T/small" 2>&1)
rc=$?
h_eq "wrong secret fails" 1 "$rc"
case $out in
*"s3 PUT k/small: 403 SignatureDoesNotMatch: "*) h_ok "wrong secret: clear 403 error ($out)" ;;
*) h_fail "wrong secret: unclear error '$out'" ;;
esac
case $out in *not-the-secret-xyz* | *"$AWS_SECRET_ACCESS_KEY"*) h_fail "secret in the error" ;; *) h_ok "no secret in the error" ;; esac

# 2. put/get/head/rm.
h_check "put" "$S3TOOL" put "k/a b+c&é.txt" "$T/small"
h_eq "head size" 6 "$("$S3TOOL" head "k/a b+c&é.txt")"
h_eq "get content" hello "$("$S3TOOL" get "k/a b+c&é.txt")"
h_check "rm" "$S3TOOL" rm "k/a b+c&é.txt"
out=$("$S3TOOL" head "k/a b+c&é.txt" 2>&1)
h_eq "head after rm fails" 1 "$?"
case $out in *"404 NotFound"*) h_ok "head after rm: 404 ($out)" ;; *) h_fail "head after rm: '$out'" ;; esac
h_check "rm of 1100 absent keys (two DeleteObjects batches)" "$S3TOOL" rm $(seq -f 'none/%g' 1 1100)

# 3. Listing across pages: 250 objects, 50 per page.
for i in $(seq 1 250); do printf '%d' "$i" >"$T/o"; "$S3TOOL" put "list/$(printf %04d "$i")" "$T/o" || break; done
n=$("$S3TOOL" --page-size 50 ls list/ | wc -l)
h_eq "ls across 5 pages" 250 "$n"
h_eq "ls in key order" "list/0250" "$("$S3TOOL" --page-size 50 ls list/ | tail -n1 | awk '{print $3}')"
h_eq "aws s3 ls sees them" 250 "$($AWS --endpoint-url "$S3_ENDPOINT" s3 ls s3://cairn-test/list/ | wc -l)"
h_check "rm 250 keys" "$S3TOOL" rm $("$S3TOOL" ls list/ | awk '{print $3}')
h_eq "ls after rm" 0 "$("$S3TOOL" ls list/ | wc -l)"

# 4. 100 MiB multipart upload from stdin and download, with RSS bounds.
#    Under ASan, freed memory sits in a quarantine: keep it small so that
#    VmHWM measures what we hold.  The bound is relative to the tool's own
#    baseline (a HEAD), so sanitizer overhead is not counted.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4
head -c $((100 * 1024 * 1024)) /dev/urandom >"$T/big"
sum=$(sha256sum <"$T/big" | cut -d' ' -f1)
"$S3TOOL" --stats --part-size $PART_MIB --parallel $PAR upload big/obj <"$T/big" 2>"$T/up.stats"
h_eq "100 MiB upload from stdin" 0 "$?"
cat "$T/up.stats"
base=$("$S3TOOL" --stats head big/obj 2>&1 >/dev/null | sed -n 's/.*VmHWM_kB=\([0-9]*\).*/\1/p')
up=$(sed -n 's/.*VmHWM_kB=\([0-9]*\).*/\1/p' "$T/up.stats")
bound=$(((PAR + 2) * PART_MIB * 1024 + 10 * 1024))
h_log "upload VmHWM ${up} kB, baseline ${base} kB, bound baseline + ${bound} kB"
h_check "upload peak RSS within (parallel+2) x part + 10 MiB" [ $((up - base)) -le "$bound" ]
h_eq "head of the upload" $((100 * 1024 * 1024)) "$("$S3TOOL" head big/obj)"
got=$("$S3TOOL" --stats --part-size $PART_MIB --parallel $PAR download big/obj 2>"$T/down.stats" | sha256sum | cut -d' ' -f1)
cat "$T/down.stats"
h_eq "download SHA-256 equals" "$sum" "$got"
down=$(sed -n 's/.*VmHWM_kB=\([0-9]*\).*/\1/p' "$T/down.stats")
h_check "download peak RSS within (parallel+2) x part + 10 MiB" [ $((down - base)) -le "$bound" ]
got=$($AWS --endpoint-url "$S3_ENDPOINT" s3 cp s3://cairn-test/big/obj - | sha256sum | cut -d' ' -f1)
h_eq "aws s3 cp reads our multipart object byte-identical" "$sum" "$got"
$AWS --endpoint-url "$S3_ENDPOINT" s3 cp --quiet "$T/small" s3://cairn-test/aws/small
h_eq "we read what aws wrote" hello "$("$S3TOOL" get aws/small)"
# A small object through the upload API is one PUT.
h_check "small upload from stdin" sh -c "echo tiny | '$S3TOOL' upload k/tiny"
h_eq "small upload content" tiny "$("$S3TOOL" get k/tiny)"

# 5. Killed mid-upload: no object appears; then abort-stale.
mkfifo "$T/fifo"
"$S3TOOL" --part-size 5 --parallel 2 upload stale/obj <"$T/fifo" &
tool=$!
H_BG_PIDS+=("$tool")
exec {wfd}>"$T/fifo"
head -c $((12 * 1024 * 1024)) /dev/urandom >&"$wfd"
# Two parts are on their way; give them a moment, then kill -9.
sleep 2
kill -KILL "$tool"
exec {wfd}>&-
wait "$tool" 2>/dev/null
"$S3TOOL" head stale/obj >/dev/null 2>&1
h_eq "killed upload left no object" 1 "$?"
out=$($AWS --endpoint-url "$S3_ENDPOINT" s3api list-multipart-uploads --bucket cairn-test 2>&1)
h_log "aws s3api list-multipart-uploads: $(echo "$out" | tr '\n' ' ' | cut -c1-200)"
out=$("$S3TOOL" abort-stale stale/ 0 2>&1)
rc=$?
case $rc:$out in
0:"aborted "*) h_ok "abort-stale: $out" ;;
1:*"501 NotImplemented"*)
	h_ok "abort-stale: s3rver 5 lacks ListMultipartUploads, reported clearly ($out)" ;;
*) h_fail "abort-stale: rc $rc '$out'" ;;
esac

# 6. TLS with a test CA for 127.0.0.1.
h_s3rver_stop
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=cairn test CA" \
	-keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
	-keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$T/srv.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 1 \
	-extfile "$T/srv.ext" -out "$T/srv.pem" 2>/dev/null
if h_s3rver_start "$T/s3tls" "$T/srv.pem" "$T/srv.key"; then
	head -c $((11 * 1024 * 1024)) /dev/urandom >"$T/mid"
	sum=$(sha256sum <"$T/mid" | cut -d' ' -f1)
	h_check "TLS: multipart upload with --ca-file" sh -c "'$S3TOOL' --ca-file '$T/ca.pem' --part-size 5 upload tls/obj <'$T/mid'"
	got=$("$S3TOOL" --ca-file "$T/ca.pem" --part-size 5 download tls/obj | sha256sum | cut -d' ' -f1)
	h_eq "TLS: download SHA-256 equals" "$sum" "$got"
	out=$("$S3TOOL" head tls/obj 2>&1)
	h_eq "TLS: without the CA the server is refused" 1 "$?"
	h_log "TLS without CA: $out"
	# A credentials file: 0600 accepted, 0644 refused.
	printf 'ACCESS_KEY=%s\nSECRET_KEY=%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$T/creds"
	chmod 0600 "$T/creds"
	h_eq "credentials file (0600)" $((11 * 1024 * 1024)) \
		"$(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$S3TOOL" --ca-file "$T/ca.pem" --credentials-file "$T/creds" head tls/obj)"
	chmod 0644 "$T/creds"
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$S3TOOL" --credentials-file "$T/creds" head tls/obj >/dev/null 2>&1
	h_eq "credentials file readable by others is refused" 1 "$?"
else
	h_fail "s3rver with TLS starts"
fi
h_end
