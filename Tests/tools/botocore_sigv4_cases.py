#!/usr/bin/env python3
"""Differential SigV4 test vectors for the s3-archive Swift signer, produced by botocore.

Usage:
    python3 Tests/tools/botocore_sigv4_cases.py --count 300 --seed 7 [--self-check]

Generates ``--count`` random S3 requests (case ``n`` depends only on ``--seed``
and ``n``, so it is stable whatever ``--count`` is), signs each with botocore's
``S3SigV4Auth`` (Authorization header) or ``S3SigV4QueryAuth`` (presigned URL,
expires 3600) and prints one JSON object per line on stdout (pure ASCII: non-ASCII
characters are ``\\uXXXX`` escaped, astral ones as surrogate pairs).

With ``--self-check`` every case is first round-tripped through JSON and re-signed
by an independent Python model of OUR signer's rules (``OurSigner`` below); the
canonical request, Authorization header / X-Amz-* query items must equal botocore's
byte for byte.  If all agree the JSON lines are printed as usual and a summary goes
to stderr; otherwise the mismatches go to stderr, nothing to stdout, exit status 1.

JSON line contract (keys marked * are extras for diagnosis):
    id                      int, 0-based case number
    kind                    "header" | "query"
    method                  "GET" | "PUT" | "POST" | "HEAD" | "DELETE"
    path                    DECODED path, always starts with "/" (e.g. "/bkt/a b+c")
    query                   [[name, value], ...] DECODED; "" for valueless ("uploads")
                            names are distinct for kind "query"; may repeat for "header"
    headers                 [[name, value], ...] exactly what the signer must be given
                            (original name case, raw untrimmed values, possibly repeated
                            names, "Host" first). For kind "header" this includes
                            X-Amz-Content-SHA256; never X-Amz-Date, X-Amz-Security-Token,
                            Authorization.
    payload_hash            hex sha256, or "UNSIGNED-PAYLOAD" (always for kind "query")
    access_key, secret_key  str
    token                   null | str (session token)
    region                  "us-east-1" | "eu-west-1" | "ap-southeast-2"
    service                 "s3"
    timestamp               "YYYYmmddTHHMMSSZ"
    expires                 3600 (kind "query" only)
    expected_authorization  str (kind "header" only)
    expected_query          [[name, value], ...] (kind "query" only) DECODED X-Amz-* items in
                            botocore's order: Algorithm, Credential, Date, Expires,
                            SignedHeaders, [Security-Token], Signature
    expected_canonical_request  botocore's canonical request text
  * expected_string_to_sign botocore's string to sign
  * expected_signature      hex signature
  * url                     the URL botocore signed (before presign params were added)

Notes on botocore 1.43 behaviour (read from botocore/auth.py) and the restrictions
they impose on generation:

* S3 signers override ``_normalize_url_path`` to return the URL path UNCHANGED: no
  dot-segment removal and no re-quoting (plain SigV4Auth would quote it a second
  time).  The canonical URI is therefore whatever encoding the URL carries.  We
  build the URL path exactly as botocore's REST serializer does for ``{Key+}``
  (``percent_encode(key, safe='/~')`` == RFC 3986 unreserved + '/', uppercase hex),
  which is our "encode once" rule.  A URL with a different encoding (lower-case hex,
  ``%7E``, raw ``+``...) would be signed verbatim by botocore and could not be
  reproduced from a decoded path - we never generate such URLs.
* Header signing (``S3SigV4Auth``) takes the canonical query straight from the URL:
  split on '&', partition on '=', NO decoding/re-encoding, sorted by the
  (encoded name, encoded value) tuple; a valueless ``uploads`` becomes ``uploads=``.
  We build the URL query like the serializer (``percent_encode`` with safe '-._~',
  valueless names written bare, as in the ``?uploads`` request URIs).  Sorting is on
  the ENCODED strings (the SigV4 spec rule); this differs from sorting decoded
  strings e.g. for '/' vs '.', '-' and for non-ASCII vs '~'.  A few header cases
  are built on purpose so the two orders differ.
* Presigning (``S3SigV4QueryAuth``) re-parses the URL query with
  ``parse_qs(keep_blank_values=True)`` (which decodes '+' as a space and keeps only the
  FIRST value of a repeated name) and re-encodes it with ``percent_encode_sequence``.
  So query-kind cases never repeat a name (values are always encoded, so '+' is %2B).
  If the request has a body, presigning moves it into the query string
  (``_get_body_as_dict``) - query-kind cases have no body.  A Content-Type of exactly
  'application/x-www-form-urlencoded; charset=utf-8' is silently dropped - never
  generated.  Presigning never adds X-Amz-Date/X-Amz-Content-SHA256 headers and uses
  UNSIGNED-PAYLOAD.
* Header signing: a ``Date`` header would make botocore drop X-Amz-Date and rewrite
  Date - never generated.  botocore always (re)writes X-Amz-Content-SHA256 itself
  (``payload()``), chosen here by forcing ``client_config.s3['payload_signing_enabled']``
  (True -> sha256 of the body or of b'', False -> UNSIGNED-PAYLOAD), which takes
  precedence over the https/Content-MD5 heuristics.
* Header values are canonicalised with Python's ``' '.join(v.split())``, which also
  collapses tabs, CR/LF, \\x0b, \\x0c, \\x1c-\\x1f, \\x85, \\xa0 and other Unicode spaces.
  Generated values only contain ASCII and use plain spaces (runs, leading, trailing)
  so that "trim + collapse runs of spaces" is an exact model.
* Header names in the blacklist (user-agent, expect, transfer-encoding, connection,
  x-amzn-trace-id, ...) are never signed by botocore; we never generate them.
* ``Host`` is not set on the AWSRequest (as in real botocore); botocore derives it
  from the URL (lower-cased, default port dropped).  We emit it as the first header.
* The timestamp is injected by patching ``botocore.auth.get_current_datetime``.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import random
import sys
from unittest import mock
from urllib.parse import unquote, urlsplit

import botocore.auth
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode

EXPIRES = 3600
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
METHODS = ["GET", "PUT", "POST", "HEAD", "DELETE"]
BUCKETS = ["my-bucket", "fits-archive", "b1", "data.archive.2024", "x-y-z"]

# Fragments for object keys.  No '?' and no '#' (kept '?'-free as requested).
KEY_FRAGMENTS = [
    "dir", "a key", "a  key", "+b=c~", "\u00fc", "caf\u00e9", "cafe\u0301",  # NFC and NFD é
    "\u65e5\u672c", "\U0001F600", "\U0001F52D", "!*'()", "%", "%41", "100%", "&", "a&b=c",
    "file.fits", "img_001.FITS", "~user", "$", "@", ":", ",", ";", "[x]", "^", "`", "{}", "|",
    "\\", "\"q\"", "<>", " ", "  ", "-", "_", ".", "..", "x.y.z", "plus+plus", "sp ace",
    "tab\u00e7", "\u00a0nbsp", "\u2028", "\u00df", "\u0416", "\ufeff",
]

VALUELESS = ["uploads", "restore", "tagging", "acl", "versions", "delete", "location",
             "policy", "cors", "lifecycle", "versioning", "select"]

QUERY_WITH_VALUES = [
    "prefix", "delimiter", "list-type", "max-keys", "continuation-token", "start-after",
    "encoding-type", "fetch-owner", "marker", "versionId", "x-id", "key-marker",
    "upload-id-marker", "max-uploads", "response-content-disposition",
    "response-content-type", "response-cache-control", "select-type",
]

ACCESS_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"

TS_MIN = int(datetime.datetime(2015, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
TS_MAX = int(datetime.datetime(2030, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc).timestamp())


# --------------------------------------------------------------------------- generation

def rand_key(rng):
    """A decoded object key (without leading '/'), may be '' (bucket-level request)."""
    n = rng.randint(1, 5)
    parts = [rng.choice(KEY_FRAGMENTS) + (rng.choice(["", str(rng.randint(0, 99))]))
             for _ in range(n)]
    seps = ["/", "/", "/", "//", "///", "", "-"]
    key = parts[0]
    for p in parts[1:]:
        key += rng.choice(seps) + p
    r = rng.random()
    if r < 0.10:
        key += "/"            # trailing slash ("directory" marker)
    elif r < 0.15:
        key = "/" + key       # leading slash -> '//' after the bucket
    elif r < 0.20:
        key = rng.choice(["./", "../", "a/./b/../"]) + key   # dot segments, never normalised
    return key


def rand_b64(rng, nbytes):
    return base64.b64encode(rng.randbytes(nbytes)).decode("ascii")


def rand_value(rng, name):
    if name == "prefix":
        return rng.choice(["a b/\u00fc", "photos/2024/", "\u65e5\u672c/", "", "x+y=z&w",
                           "~tilde/", rand_key(rng)])
    if name == "delimiter":
        return rng.choice(["/", "/", "|", "%", " "])
    if name == "list-type":
        return "2"
    if name in ("max-keys", "max-uploads"):
        return str(rng.choice([0, 1, 10, 1000, rng.randint(0, 100000)]))
    if name == "continuation-token":
        return rand_b64(rng, rng.randint(8, 60))
    if name in ("start-after", "marker", "key-marker"):
        return rand_key(rng)
    if name == "encoding-type":
        return "url"
    if name == "fetch-owner":
        return rng.choice(["true", "false"])
    if name == "versionId":
        return rng.choice(["null", rand_b64(rng, 24).replace("=", ""), "3/L4kqtJl40Nr8X8gdRQBpUMLUo"])
    if name == "x-id":
        return rng.choice(["GetObject", "PutObject", "ListObjectsV2", "DeleteObject"])
    if name == "upload-id-marker":
        return rand_b64(rng, 30)
    if name == "response-content-disposition":
        return rng.choice(['attachment; filename="a b.fits"', "inline",
                           "attachment; filename*=UTF-8''%E6%97%A5.fits"])
    if name == "response-content-type":
        return rng.choice(["text/plain; charset=utf-8", "image/fits", "application/octet-stream"])
    if name == "response-cache-control":
        return rng.choice(["no-cache", "max-age=3600,  public"])
    if name == "select-type":
        return "2"
    raise AssertionError(name)


def rand_query(rng, kind, method):
    """Returns (list of decoded pairs, list of names that are written bare in the URL)."""
    pairs = []
    bare = set()
    r = rng.random()
    if r < 0.15 and method in ("PUT", "POST", "GET"):
        # multipart: UploadPart / CompleteMultipartUpload / ListParts
        pairs.append(("partNumber", str(rng.randint(1, 10000))))
        pairs.append(("uploadId", rand_b64(rng, rng.randint(20, 60)).replace("=", "")
                      + rng.choice(["", "-_.", "~x"])))
    elif r < 0.25 and method in ("POST",):
        pairs.append(("uploads", ""))
    elif r < 0.30:
        pass  # no query at all
    else:
        names = rng.sample(QUERY_WITH_VALUES, rng.randint(0, 4))
        for nm in names:
            pairs.append((nm, rand_value(rng, nm)))
        if rng.random() < 0.35:
            pairs.append((rng.choice(VALUELESS), ""))
    # Header kind only: repeated names and names/values whose ENCODED order differs from
    # their DECODED order ('/' -> %2F sorts before '-' and '.', non-ASCII -> %XX sorts
    # before '~').  Presign collapses repeated names, so not for kind "query".
    if kind == "header" and rng.random() < 0.15:
        tricky = rng.choice([
            [("prefix", "a.b"), ("prefix", "a/b")],
            [("prefix", "a~"), ("prefix", "a\u00e9")],
            [("x-tricky-a.b", "1"), ("x-tricky-a/b", "2")],
            [("x-tricky~", "1"), ("x-tricky\u00fc", "2")],
            [("x-tricky-", "1"), ("x-tricky/", "2"), ("x-tricky.", "3")],
            [("tagging", ""), ("tagging", "")],
        ])
        pairs.extend(tricky)
    if kind == "query":
        seen = set()
        uniq = []
        for n, v in pairs:
            if n not in seen:
                seen.add(n)
                uniq.append((n, v))
        pairs = uniq
    for n, v in pairs:
        if v == "" and n in VALUELESS and rng.random() < 0.8:
            bare.add(n)   # written as "?uploads" like botocore's request URIs
    rng.shuffle(pairs)
    return [list(p) for p in pairs], bare


def rand_spacey(rng, words):
    """ASCII value with runs of spaces, leading/trailing spaces."""
    out = rng.choice(["", "", " ", "   "])
    for i, w in enumerate(words):
        if i:
            out += " " * rng.choice([1, 1, 2, 3, 5])
        out += w
    out += rng.choice(["", "", " ", "    "])
    return out


def rand_headers(rng, kind, method, body):
    hdrs = []
    p_extra = 0.9 if kind == "header" else 0.3
    if rng.random() >= p_extra:
        return hdrs
    if method in ("PUT", "POST") and rng.random() < 0.6:
        md5 = base64.b64encode(hashlib.md5(body or rng.randbytes(10)).digest()).decode()
        hdrs.append([rng.choice(["Content-MD5", "content-md5"]), md5])
    if rng.random() < 0.5:
        hdrs.append([rng.choice(["Content-Type", "content-type", "CONTENT-TYPE"]),
                     rng.choice(["application/octet-stream", "image/fits",
                                 "text/plain;  charset=utf-8", "  application/json  ",
                                 "multipart/form-data; boundary=----x"])])
    if body and rng.random() < 0.3 and kind == "header":
        hdrs.append(["Content-Length", str(len(body))])
    if rng.random() < 0.3:
        hdrs.append([rng.choice(["x-amz-storage-class", "X-Amz-Storage-Class"]),
                     rng.choice(["STANDARD", "GLACIER", "DEEP_ARCHIVE", "STANDARD_IA"])])
    for _ in range(rng.choice([0, 0, 1, 2, 3])):
        name = "x-amz-meta-" + rng.choice(["author", "Telescope", "multi-space", "obs_id",
                                            "FILTER", "note"])
        words = rng.sample(["NGC", "1300", "a", "b", "c", "x=y", "hello,", "world", "/",
                            "+", "~", "!*'()", "%20", "&", "R\"q\""], rng.randint(1, 5))
        hdrs.append([name, rand_spacey(rng, words)])
    if rng.random() < 0.2:
        hdrs.append(["x-amz-tagging", rng.choice(["project=fits&owner=a%20b", "k1=v1",
                                                   "empty=&x=%2F%2B"])])
    if rng.random() < 0.1:
        hdrs.append(["x-amz-acl", rng.choice(["private", "public-read"])])
    if rng.random() < 0.1:
        hdrs.append(["Cache-Control", rand_spacey(rng, ["max-age=60,", "public"])])
    if rng.random() < 0.08:
        hdrs.append(["x-amz-meta-blank", rng.choice(["", "   "])])
    if rng.random() < 0.08:
        # repeated header name: values joined with ',' (after trimming each one)
        hdrs.append(["x-amz-meta-dup", rand_spacey(rng, ["one", "1"])])
        hdrs.append(["X-Amz-Meta-Dup", rand_spacey(rng, ["two", "2"])])
    rng.shuffle(hdrs)
    return hdrs


def rand_case_params(seed, n):
    rng = random.Random(f"botocore-sigv4:{seed}:{n}")
    kind = "header" if rng.random() < 0.55 else "query"
    method = rng.choice(METHODS)
    region = rng.choice(REGIONS)
    bucket = rng.choice(BUCKETS)
    key = rand_key(rng) if rng.random() < 0.85 else ""
    if rng.random() < 0.5:
        scheme, host = "http", "127.0.0.1:8333"
        path = "/" + bucket + ("/" + key if key else rng.choice(["", "/"]))
    else:
        scheme, host = "https", f"{bucket}.s3.{region}.amazonaws.com"
        path = "/" + key
    query, bare = rand_query(rng, kind, method)

    body = b""
    payload_mode = "hash"
    if kind == "header":
        if method in ("PUT", "POST") and rng.random() < 0.6:
            body = rng.choice([b"hello", "SIMPLE  = T / \u00e9\n".encode(), rng.randbytes(rng.randint(1, 300))])
        payload_mode = "unsigned" if rng.random() < 0.3 else "hash"
    headers = rand_headers(rng, kind, method, body)

    access_key = "AKIA" + "".join(rng.choice(ACCESS_KEY_ALPHABET) for _ in range(16))
    secret_key = "".join(rng.choice(SECRET_ALPHABET) for _ in range(40))
    token = None
    if rng.random() < 0.4:
        token = rand_b64(rng, rng.randint(60, 300))
    ts = datetime.datetime.fromtimestamp(rng.randint(TS_MIN, TS_MAX), datetime.timezone.utc)
    return dict(id=n, kind=kind, method=method, region=region, scheme=scheme, host=host,
                path=path, query=query, bare=bare, body=body, payload_mode=payload_mode,
                headers=headers, access_key=access_key, secret_key=secret_key, token=token,
                when=ts.replace(tzinfo=None))


# --------------------------------------------------------------------------- botocore

def _capturing(cls):
    class Capturing(cls):
        def canonical_request(self, request):
            cr = super().canonical_request(request)
            self.captured_cr = cr
            return cr

        def string_to_sign(self, request, canonical_request):
            sts = super().string_to_sign(request, canonical_request)
            self.captured_sts = sts
            return sts

        def signature(self, string_to_sign, request):
            sig = super().signature(string_to_sign, request)
            self.captured_sig = sig
            return sig
    return Capturing


CapturingHeaderAuth = _capturing(S3SigV4Auth)
CapturingQueryAuth = _capturing(S3SigV4QueryAuth)


def build_url(p):
    """URL exactly as botocore's REST serializer + prepare_request_dict would build it."""
    url_path = percent_encode(p["path"], safe="/~")
    parts = []
    for name, value in p["query"]:
        if value == "" and name in p["bare"]:
            parts.append(percent_encode(name))
        else:
            parts.append(f"{percent_encode(name)}={percent_encode(value)}")
    url = f"{p['scheme']}://{p['host']}{url_path}"
    if parts:
        url += "?" + "&".join(parts)
    return url


def sign_with_botocore(p):
    url = build_url(p)
    req = AWSRequest(method=p["method"], url=url, data=p["body"] if p["body"] else None)
    for name, value in p["headers"]:
        req.headers[name] = value          # HTTPMessage: appends, repeated names kept
    creds = Credentials(p["access_key"], p["secret_key"], p["token"])
    if p["kind"] == "header":
        signer = CapturingHeaderAuth(creds, "s3", p["region"])
        req.context["client_config"] = Config(
            s3={"payload_signing_enabled": p["payload_mode"] == "hash"})
    else:
        signer = CapturingQueryAuth(creds, "s3", p["region"], expires=EXPIRES)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=p["when"]):
        signer.add_auth(req)
    timestamp = req.context["timestamp"]
    assert timestamp == p["when"].strftime("%Y%m%dT%H%M%SZ")

    signed = signer.headers_to_sign(req)   # lower-cased names, incl. derived host
    host = signed["host"]
    headers = [["Host", host]]
    for name, value in req.headers.items():
        ln = name.lower()
        if ln in ("x-amz-date", "x-amz-security-token", "authorization"):
            continue
        assert ln in signed, ln
        headers.append([name, value])

    case = {
        "id": p["id"],
        "kind": p["kind"],
        "method": p["method"],
        "path": p["path"],
        "query": [[n, v] for n, v in p["query"]],
        "headers": headers,
    }
    if p["kind"] == "header":
        payload_hash = req.headers["X-Amz-Content-SHA256"]
        assert req.headers["X-Amz-Date"] == timestamp
        if p["token"] is not None:
            assert req.headers["X-Amz-Security-Token"] == p["token"]
    else:
        payload_hash = UNSIGNED
        assert "X-Amz-Date" not in req.headers
    # the canonical request's last line is the payload hash botocore used
    assert signer.captured_cr.rsplit("\n", 1)[1] == payload_hash
    case.update({
        "payload_hash": payload_hash,
        "access_key": p["access_key"],
        "secret_key": p["secret_key"],
        "token": p["token"],
        "region": p["region"],
        "service": "s3",
        "timestamp": timestamp,
    })
    if p["kind"] == "header":
        case["expected_authorization"] = req.headers["Authorization"]
    else:
        case["expires"] = EXPIRES
        final_query = urlsplit(req.url).query
        items = []
        for pair in final_query.split("&"):
            n, _, v = pair.partition("=")
            n, v = unquote(n), unquote(v)
            if n.startswith("X-Amz-"):
                items.append([n, v])
        case["expected_query"] = items
        assert items[-1] == ["X-Amz-Signature", signer.captured_sig]
    case["expected_canonical_request"] = signer.captured_cr
    case["expected_string_to_sign"] = signer.captured_sts
    case["expected_signature"] = signer.captured_sig
    case["url"] = url
    return case


# --------------------------------------------------------------------------- our rules

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def our_encode(s, keep_slash):
    out = []
    for b in s.encode("utf-8"):
        if b in _UNRESERVED or (keep_slash and b == 0x2F):
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def _trim_collapse(v):
    v = v.strip(" ")
    while "  " in v:
        v = v.replace("  ", " ")
    return v


class OurSigner:
    """Independent model of the Swift signer (does not use botocore or urllib)."""

    @staticmethod
    def canonical_request(method, path, query, headers, payload_hash):
        uri = our_encode(path, keep_slash=True)
        enc = sorted((our_encode(n, False), our_encode(v, False)) for n, v in query)
        cq = "&".join(f"{n}={v}" for n, v in enc)
        grouped = {}
        for n, v in headers:
            grouped.setdefault(n.lower(), []).append(_trim_collapse(v))
        names = sorted(grouped)
        ch = "".join(f"{n}:{','.join(grouped[n])}\n" for n in names)
        sh = ";".join(names)
        return "\n".join([method, uri, cq, ch, sh, payload_hash]), sh

    @staticmethod
    def signature(secret, timestamp, region, service, canonical_request):
        date = timestamp[:8]
        scope = f"{date}/{region}/{service}/aws4_request"
        sts = "\n".join(["AWS4-HMAC-SHA256", timestamp, scope,
                         hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
        k = ("AWS4" + secret).encode("utf-8")
        for part in (date, region, service, "aws4_request"):
            k = hmac.new(k, part.encode("utf-8"), hashlib.sha256).digest()
        return scope, sts, hmac.new(k, sts.encode("utf-8"), hashlib.sha256).hexdigest()

    @classmethod
    def sign_header(cls, c):
        headers = list(c["headers"]) + [["X-Amz-Date", c["timestamp"]]]
        if c["token"] is not None:
            headers.append(["X-Amz-Security-Token", c["token"]])
        cr, sh = cls.canonical_request(c["method"], c["path"], c["query"], headers,
                                       c["payload_hash"])
        scope, sts, sig = cls.signature(c["secret_key"], c["timestamp"], c["region"],
                                        c["service"], cr)
        auth = (f"AWS4-HMAC-SHA256 Credential={c['access_key']}/{scope}, "
                f"SignedHeaders={sh}, Signature={sig}")
        return cr, sts, auth

    @classmethod
    def presign(cls, c):
        _, sh = cls.canonical_request(c["method"], c["path"], [], c["headers"], UNSIGNED)
        date = c["timestamp"][:8]
        items = [
            ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
            ["X-Amz-Credential", f"{c['access_key']}/{date}/{c['region']}/{c['service']}/aws4_request"],
            ["X-Amz-Date", c["timestamp"]],
            ["X-Amz-Expires", str(c["expires"])],
            ["X-Amz-SignedHeaders", sh],
        ]
        if c["token"] is not None:
            items.append(["X-Amz-Security-Token", c["token"]])
        cr, _ = cls.canonical_request(c["method"], c["path"], list(c["query"]) + items,
                                      c["headers"], c["payload_hash"])
        _, sts, sig = cls.signature(c["secret_key"], c["timestamp"], c["region"],
                                    c["service"], cr)
        return cr, sts, items + [["X-Amz-Signature", sig]]


def self_check(case):
    c = json.loads(json.dumps(case, ensure_ascii=True))   # only what the JSON carries
    errors = []
    if c["kind"] == "header":
        cr, sts, auth = OurSigner.sign_header(c)
        if auth != c["expected_authorization"]:
            errors.append(f"authorization:\n  ours    {auth}\n  boto    {c['expected_authorization']}")
    else:
        if c["payload_hash"] != UNSIGNED:
            errors.append("presign payload hash is not UNSIGNED-PAYLOAD")
        cr, sts, items = OurSigner.presign(c)
        if items != c["expected_query"]:
            errors.append(f"query items:\n  ours    {items}\n  boto    {c['expected_query']}")
    if cr != c["expected_canonical_request"]:
        errors.append(f"canonical request:\n--ours--\n{cr}\n--boto--\n{c['expected_canonical_request']}")
    if sts != c["expected_string_to_sign"]:
        errors.append("string to sign differs")
    return errors


def decoded_order_differs(case):
    """True if sorting the query by DECODED strings would give another canonical query."""
    q = [tuple(p) for p in case["query"]]
    if case["kind"] == "query":
        q += [tuple(p) for p in case["expected_query"][:-1]]
    by_decoded = [(our_encode(n, False), our_encode(v, False)) for n, v in sorted(
        q, key=lambda p: (p[0].encode("utf-8"), p[1].encode("utf-8")))]
    by_encoded = sorted((our_encode(n, False), our_encode(v, False)) for n, v in q)
    return by_decoded != by_encoded


# --------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--self-check", action="store_true",
                    help="verify every case against an independent model of our rules first")
    args = ap.parse_args(argv)

    cases = [sign_with_botocore(rand_case_params(args.seed, n)) for n in range(args.count)]

    if args.self_check:
        failures = 0
        for c in cases:
            errs = self_check(c)
            if errs:
                failures += 1
                print(f"case {c['id']} ({c['kind']}) FAILED:", file=sys.stderr)
                for e in errs:
                    print("  " + e, file=sys.stderr)
        if failures:
            print(f"self-check: {failures}/{len(cases)} cases FAILED", file=sys.stderr)
            return 1
        kinds = {k: sum(1 for c in cases if c["kind"] == k) for k in ("header", "query")}
        tricky = sum(1 for c in cases if decoded_order_differs(c))
        print(f"self-check: all {len(cases)} cases agree with botocore "
              f"(header={kinds['header']}, query={kinds['query']}, "
              f"decoded-vs-encoded query order differs in {tricky})", file=sys.stderr)

    out = sys.stdout
    for c in cases:
        out.write(json.dumps(c, ensure_ascii=True, separators=(",", ":")) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
