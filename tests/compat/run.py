#!/usr/bin/env python3
"""Runs every line of shared/compat/corpus.txt with mtool and with ImageMagick 6 and compares them.

Per line: the same exit status class (0 / non-0), the same set of output files, and for each output
the same format, size, alpha presence, gray/colour class and frame count, with pixels within
PSNR >= 35 dB (/usr/bin/compare). Text on stdout must match once sizes and timings are masked.
Prints `N passed, M failed` and the failing lines; exits 1 below the pass-rate floor.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys

IM_CONVERT, IM_IDENTIFY, IM_COMPARE = "/usr/bin/convert", "/usr/bin/identify", "/usr/bin/compare"
PLACEHOLDERS = {
    "IN16_PNG": "in16.png", "IN_JPG": "in.jpg", "IN_PNG": "in.png", "IN_ALPHA": "alpha.png",
    "IN_GRAY": "gray.png", "IN_CMYK": "cmyk.jpg", "IN_GIF": "anim.gif", "IN_EXIF": "exif6.jpg",
}
PSNR_FLOOR = 35.0


def find_shared(start):
    d = os.path.abspath(start)
    while d != "/":
        cand = os.path.join(d, "..", "shared", "compat")
        if os.path.isdir(cand):
            return os.path.abspath(cand)
        d = os.path.dirname(d)
    return None


def substitute(args, inputs):
    for key in sorted(PLACEHOLDERS, key=len, reverse=True):
        args = args.replace(key, os.path.join(inputs, PLACEHOLDERS[key]))
    return args


def run(cmd, cwd, timeout=120, env=None):
    p = subprocess.run(["sh", "-c", cmd], cwd=cwd, capture_output=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


def mask(text):
    text = re.sub(rb"\d+(\.\d+)?[KMGT]?i?B\b", b"<size>", text)
    text = re.sub(rb"\d+\.\d+u \d+:\d+\.\d+", b"<time>", text)
    return text


def describe(path):
    fmt = "%m|%w|%h|%A|%[type]|%z\\n"
    p = subprocess.run([IM_IDENTIFY, "-quiet", "-format", fmt, path], capture_output=True)
    frames = [l for l in p.stdout.decode(errors="replace").splitlines() if l]
    if p.returncode != 0 or not frames:
        return None
    first = frames[0].split("|")
    gray = first[4] in ("Bilevel", "Grayscale", "GrayscaleAlpha", "GrayscaleMatte")
    alpha = first[3] not in ("False", "Undefined")
    return {"format": first[0], "size": (first[1], first[2]), "alpha": alpha, "gray": gray,
            "frames": len(frames)}


def psnr(a, b):
    p = subprocess.run([IM_COMPARE, "-quiet", "-metric", "PSNR", a + "[0]", b + "[0]", "null:"],
                       capture_output=True)
    text = p.stderr.decode(errors="replace").strip().split()
    if not text:
        return None
    if text[0] == "inf":
        return float("inf")
    try:
        return float(text[0])
    except ValueError:
        return None


def compare_case(ref_dir, mt_dir, ref, mine):
    problems = []
    if (ref[0] == 0) != (mine[0] == 0):
        problems.append(f"exit status {mine[0]} (ImageMagick {ref[0]})")
    ref_files, mt_files = sorted(os.listdir(ref_dir)), sorted(os.listdir(mt_dir))
    if ref_files != mt_files:
        problems.append(f"files {mt_files} (ImageMagick {ref_files})")
    for name in ref_files:
        if name not in mt_files:
            continue
        a, b = os.path.join(ref_dir, name), os.path.join(mt_dir, name)
        da, db = describe(a), describe(b)
        if da is None and db is None:
            with open(a, "rb") as fa, open(b, "rb") as fb:
                if mask(fa.read()) != mask(fb.read()):
                    problems.append(f"{name}: text differs")
            continue
        if da is None or db is None:
            problems.append(f"{name}: unreadable output")
            continue
        for key in ("format", "size", "alpha", "gray", "frames"):
            if da[key] != db[key]:
                problems.append(f"{name}: {key} {db[key]} (ImageMagick {da[key]})")
        if da["size"] == db["size"]:
            value = psnr(a, b)
            if value is None or value < PSNR_FLOOR:
                problems.append(f"{name}: PSNR {value} dB < {PSNR_FLOOR}")
    if ref[1] or mine[1]:
        if mask(ref[1]) != mask(mine[1]):
            problems.append("stdout differs: %r vs %r" % (mine[1][:200], ref[1][:200]))
    return problems


def signature(path):
    r = subprocess.run([IM_IDENTIFY, "-format", "%#\\n", path], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else open(path, "rb").read()


def compare_same(earlier_case, mt_dir, mine):
    """A tier-forced run must reproduce the unlimited run exactly: exit status, files, pixels."""
    problems = []
    status_file = os.path.join(earlier_case, "mt.status")
    if not os.path.exists(status_file):
        return ["no earlier run to compare with"]
    if int(open(status_file).read()) != mine[0]:
        problems.append(f"exit {mine[0]}, unlimited run {open(status_file).read()}")
    before = sorted(f for f in os.listdir(os.path.join(earlier_case, "mt")))
    now = sorted(f for f in os.listdir(mt_dir))
    if before != now:
        return problems + [f"files {now}, unlimited run {before}"]
    for f in now:
        a, b = os.path.join(earlier_case, "mt", f), os.path.join(mt_dir, f)
        if signature(a) != signature(b):
            problems.append(f"{f}: pixels differ from the unlimited run")
    if mask(mine[1]) != mask(open(os.path.join(earlier_case, "mt.stdout"), "rb").read()):
        problems.append("stdout differs from the unlimited run")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtool", required=True)
    ap.add_argument("--work", default="compat-work")
    ap.add_argument("--shared", default=None)
    ap.add_argument("--extra", default="", help="options inserted after the tool name (tier tests)")
    ap.add_argument("--min-pass", type=float, default=0.95)
    ap.add_argument("--only", default=None, help="regex on the corpus line")
    ap.add_argument("--ref-cache", default=None, help="reuse ImageMagick outputs from this dir")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE set for mtool only (tier runs)")
    ap.add_argument("--same-as", default=None,
                    help="tier run: compare with mtool's outputs of an earlier run in this work dir "
                         "(same exit status, files and pixels) instead of running ImageMagick")
    opts = ap.parse_args()

    shared = opts.shared or find_shared(os.path.dirname(__file__))
    if not shared or not os.path.exists(os.path.join(shared, "corpus.txt")):
        print("compat: shared/compat not found; SKIPPED")
        return 77
    mtool = os.path.abspath(opts.mtool)
    work = os.path.abspath(opts.work)
    inputs = os.path.join(work, "inputs")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, PATH="/usr/bin:/bin:" + os.environ.get("PATH", ""))
    if not os.path.exists(os.path.join(inputs, "exif6.jpg")):
        subprocess.run(["sh", os.path.join(shared, "make-inputs.sh"), inputs], check=True,
                       env=dict(env, CONVERT=IM_CONVERT), capture_output=True)

    lines = [l.rstrip("\n") for l in open(os.path.join(shared, "corpus.txt")) if l.strip()]
    passed, failed = 0, []
    for n, line in enumerate(lines):
        if opts.only and not re.search(opts.only, line):
            continue
        category, args = line.split("\t", 1)
        args = substitute(args, inputs)
        case = os.path.join(work, f"case{n:03d}")
        ref_dir, mt_dir = os.path.join(case, "ref"), os.path.join(case, "mt")
        for d in (ref_dir, mt_dir):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
        if category == "identify":
            ref_cmd, mt_cmd = f"{IM_IDENTIFY} {args}", f"{shlex.quote(mtool)} identify {opts.extra} {args}"
        else:
            ref_cmd, mt_cmd = f"{IM_CONVERT} {args}", f"{shlex.quote(mtool)} {opts.extra} {args}"
        mt_env = dict(env, **dict(kv.split("=", 1) for kv in opts.env))
        try:
            if opts.same_as:
                mine = run(mt_cmd, mt_dir, env=mt_env)
                problems = compare_same(os.path.join(os.path.abspath(opts.same_as), f"case{n:03d}"), mt_dir, mine)
            else:
                ref = run(ref_cmd, ref_dir, env=env)
                mine = run(mt_cmd, mt_dir, env=mt_env)
                problems = compare_case(ref_dir, mt_dir, ref, mine)
        except subprocess.TimeoutExpired:
            failed.append((line, ["timeout"]))
            continue
        if not opts.same_as:
            with open(os.path.join(case, "mt.status"), "w") as f:
                f.write(str(mine[0]))
            with open(os.path.join(case, "mt.stdout"), "wb") as f:
                f.write(mine[1])
        if mine[0] not in (0, 1):
            problems.append(f"crash or abnormal exit {mine[0]}: {mine[2][-300:]!r}")
        if problems:
            failed.append((line, problems + [f"stderr: {mine[2][-300:]!r}"]))
        else:
            passed += 1
    for line, problems in failed:
        print(f"FAIL {line}")
        for p in problems:
            print(f"     {p}")
    total = passed + len(failed)
    rate = passed / total if total else 0
    print(f"compat pass rate: {100 * rate:.1f}% ({passed}/{total})")
    print(f"{passed} passed, {len(failed)} failed")
    return 0 if rate >= opts.min_pass else 1


if __name__ == "__main__":
    sys.exit(main())
