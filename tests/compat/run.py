#!/usr/bin/env python3
"""Runs every line of a compat corpus with mtool and with ImageMagick 6 and compares them.

A corpus is a directory with corpus.txt (`category<TAB>arguments` per line; `#` comments and blank
lines allowed) and make-inputs.sh (makes the inputs; its header maps placeholders to files in
lines `#   IN_NAME  file  description`). The category chooses the tool: identify*, mogrify*,
compare*, composite*, montage*, anything else convert. The project's own corpus is
tests/compat; ../shared/compat, where it exists, is run as an extra suite.

Per line: ImageMagick must succeed (exit 0; compare: 0 or 1), and mtool must give the same exit
status (compare: exactly, with the same metric text on stderr), the same set of output files, and
for each output the same format, size, alpha presence, gray/colour class, stored channels and
frame count, with every frame's pixels within PSNR >= 35 dB (/usr/bin/compare). Text on stdout must match once
sizes and timings are masked. A category containing `error` is an expected-error line: both
tools must fail with the same exit code and the same first message (reason and location, paths
masked), and mtool may leave only files ImageMagick leaves too. mogrify lines work on copies of their inputs in the case directory. Prints
`N passed, M failed` and the failing lines; exits 1 below the pass-rate floor.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys

IM = {"convert": "/usr/bin/convert", "identify": "/usr/bin/identify", "mogrify": "/usr/bin/mogrify",
      "compare": "/usr/bin/compare", "composite": "/usr/bin/composite", "montage": "/usr/bin/montage"}
IM_IDENTIFY, IM_COMPARE = IM["identify"], IM["compare"]
PSNR_FLOOR = 35.0
SKIP = 77


def find_shared(start):
    d = os.path.abspath(start)
    while d != "/":
        cand = os.path.join(d, "..", "shared", "compat")
        if os.path.isdir(cand):
            return os.path.abspath(cand)
        d = os.path.dirname(d)
    return None


def placeholders(make_inputs):
    """IN_NAME -> file, from the `#   IN_NAME  file  description` lines of make-inputs.sh."""
    found = {}
    for line in open(make_inputs):
        m = re.match(r"#\s+(IN\w*)\s+(\S+)", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def tool_of(category):
    for tool in ("identify", "mogrify", "compare", "composite", "montage"):
        if category.startswith(tool) or category.startswith("error-" + tool):
            return tool
    return "convert"


def substitute(args, names, where):
    for key in sorted(names, key=len, reverse=True):
        args = re.sub(r"\b%s\b" % key, where(names[key]), args)
    return args


def run(cmd, cwd, timeout=120, env=None):
    p = subprocess.run(["sh", "-c", cmd], cwd=cwd, capture_output=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


def mask(text):
    text = re.sub(rb"\d+(\.\d+)?[KMGT]?i?B\b", b"<size>", text)
    text = re.sub(rb"\d+\.\d+u \d+:\d+\.\d+", b"<time>", text)
    return text


def first_message(stderr, client):
    """The first message's reason and location: `client: reason `ctx' @ kind/file.c/Func/line.`"""
    line = stderr.decode(errors="replace").strip().split("\n")[0] if stderr.strip() else ""
    line = re.sub(r"^[\w.-]+: ", "", line)
    reason = line.split("`")[0].strip()
    where = line.rsplit(" @ ", 1)[1] if " @ " in line else ""
    return f"{reason} @ {where}"


def frames_of(path):
    fmt = "%m|%w|%h|%A|%[type]|%z|%[channels]\\n"
    p = subprocess.run([IM_IDENTIFY, "-quiet", "-format", fmt, path], capture_output=True)
    frames = [l for l in p.stdout.decode(errors="replace").splitlines() if l]
    if p.returncode != 0 or not frames:
        return None
    return [f.split("|") for f in frames]


def describe(path):
    frames = frames_of(path)
    if not frames:
        return None
    first = frames[0]
    gray = first[4] in ("Bilevel", "Grayscale", "GrayscaleAlpha", "GrayscaleMatte")
    alpha = first[3] not in ("False", "Undefined")
    # The channels the file stores (a gray JPEG is 1-channel in ImageMagick's hands).
    return {"format": first[0], "size": (first[1], first[2]), "alpha": alpha, "gray": gray,
            "channels": first[6], "frames": len(frames), "sizes": [(f[1], f[2]) for f in frames]}


def psnr(a, b):
    p = subprocess.run([IM_COMPARE, "-quiet", "-metric", "PSNR", a, b, "null:"], capture_output=True)
    text = p.stderr.decode(errors="replace").strip().split()
    if not text:
        return None
    if text[0] == "inf":
        return float("inf")
    try:
        return float(text[0])
    except ValueError:
        return None


class Stats:
    exact = 0
    close = 0


def compare_outputs(ref_dir, mt_dir, problems, inputs_copied=()):
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
        for key in ("format", "size", "alpha", "gray", "channels", "frames"):
            if da[key] != db[key]:
                problems.append(f"{name}: {key} {db[key]} (ImageMagick {da[key]})")
        if da["frames"] != db["frames"]:
            continue
        for i in range(da["frames"]):  # every frame of a multi-frame output
            if da["sizes"][i] != db["sizes"][i]:
                problems.append(f"{name}[{i}]: size {db['sizes'][i]} (ImageMagick {da['sizes'][i]})")
                continue
            value = psnr(f"{a}[{i}]", f"{b}[{i}]")
            if value is None or value < PSNR_FLOOR:
                problems.append(f"{name}[{i}]: PSNR {value} dB < {PSNR_FLOOR}")
            elif value == float("inf"):
                Stats.exact += 1
            else:
                Stats.close += 1


def compare_case(tool, expect_error, ref_dir, mt_dir, ref, mine):
    problems = []
    if expect_error:
        if ref[0] == 0:
            return [f"expected an error, but ImageMagick succeeded (the line is wrong)"]
        if mine[0] != ref[0]:
            problems.append(f"exit {mine[0]} (ImageMagick {ref[0]})")
        if first_message(mine[2], "mtool") != first_message(ref[2], tool):
            problems.append("first message %r (ImageMagick %r)" % (first_message(mine[2], "mtool"),
                                                                   first_message(ref[2], tool)))
        # After a failure mtool writes nothing ImageMagick would not have written (it writes the
        # complete outputs of a command whose error is not fatal, as ImageMagick does, and never
        # the partial one of a failed write).
        extra = sorted(set(os.listdir(mt_dir)) - set(os.listdir(ref_dir)))
        if mine[0] != 0 and extra and tool != "mogrify":
            problems.append(f"files {extra} left behind by a failed command (ImageMagick wrote "
                            f"{sorted(os.listdir(ref_dir))})")
        return problems
    if tool == "compare":
        if ref[0] not in (0, 1):
            return [f"ImageMagick failed (exit {ref[0]}): {ref[2][-200:]!r}"]
        if mine[0] != ref[0]:
            problems.append(f"exit {mine[0]} (ImageMagick {ref[0]})")
        if mask(mine[2]).replace(b"mtool:", b"compare:") != mask(ref[2]):
            problems.append("metric %r (ImageMagick %r)" % (mine[2][-200:], ref[2][-200:]))
    else:
        if ref[0] != 0:
            return [f"ImageMagick failed (exit {ref[0]}): {ref[2][-200:]!r} (the line is wrong)"]
        if mine[0] != 0:
            problems.append(f"exit status {mine[0]} (ImageMagick 0)")
    compare_outputs(ref_dir, mt_dir, problems)
    if ref[1] or mine[1]:
        if mask(ref[1]) != mask(mine[1]):
            problems.append("stdout differs: %r vs %r" % (mine[1][:300], ref[1][:300]))
    return problems


def signature(path):
    r = subprocess.run([IM_IDENTIFY, "-format", "%#\\n", path], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else open(path, "rb").read()


def split_plan(result):
    """A -debug plan run's result without its plan lines, and those lines."""
    code, out, err = result
    kept, plan = [], []
    for l in err.split(b"\n"):
        (plan if l.startswith(b"plan:") else kept).append(l)
    return (code, out, b"\n".join(kept)), [l.decode(errors="replace") for l in plan]


def compare_same(earlier_work, work, earlier_case, mt_dir, mine, stderr_too=False):
    """A tier-forced run must reproduce the unlimited run exactly: exit status, files, pixels.
    Its output names its own work directory where the earlier run named that one's."""
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
    stdout = mine[1].replace(work.encode(), earlier_work.encode())
    if mask(stdout) != mask(open(os.path.join(earlier_case, "mt.stdout"), "rb").read()):
        problems.append("stdout differs from the unlimited run")
    stderr_file = os.path.join(earlier_case, "mt.stderr")
    if stderr_too and os.path.exists(stderr_file):
        stderr = mine[2].replace(work.encode(), earlier_work.encode())
        if mask(stderr) != mask(open(stderr_file, "rb").read()):
            problems.append(f"messages differ from the run without a plan: {stderr[-300:]!r}")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtool", required=True)
    ap.add_argument("--work", default="compat-work")
    ap.add_argument("--corpus", default=None, help="corpus directory (default: this one)")
    ap.add_argument("--shared", action="store_true", help="run ../shared/compat; skipped when missing")
    ap.add_argument("--extra", default="", help="options inserted after the tool name (tier tests)")
    ap.add_argument("--min-pass", type=float, default=0.99)
    ap.add_argument("--min-exact", type=int, default=0,
                    help="fail when fewer output frames than this are bit-identical to ImageMagick's")
    ap.add_argument("--only", default=None, help="regex on the corpus line")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE set for mtool only (tier runs)")
    ap.add_argument("--plan", action="store_true",
                    help="with --same-as: convert lines run under -debug plan; besides the same outputs, "
                         "stdout and messages, every run must follow its plan (src/exec/plan.h)")
    ap.add_argument("--min-plan", type=float, default=1.0,
                    help="--plan: the share of convert lines whose run follows the plan")
    ap.add_argument("--same-as", default=None,
                    help="tier run: compare with mtool's outputs of an earlier run in this work dir "
                         "(same exit status, files and pixels) instead of running ImageMagick")
    opts = ap.parse_args()

    corpus = opts.corpus or os.path.dirname(os.path.abspath(__file__))
    if opts.shared:
        corpus = find_shared(os.path.dirname(__file__))
        if not corpus or not os.path.exists(os.path.join(corpus, "corpus.txt")):
            print("SKIPPED: compat-shared: ../shared/compat not found")
            return SKIP
    corpus_file, make_inputs = os.path.join(corpus, "corpus.txt"), os.path.join(corpus, "make-inputs.sh")
    if not os.path.exists(corpus_file) or not os.path.exists(make_inputs):
        print(f"SKIPPED: compat: no corpus in {corpus}")
        return SKIP
    names = placeholders(make_inputs)
    mtool = os.path.abspath(opts.mtool)
    work = os.path.abspath(opts.work)
    inputs = os.path.join(work, "inputs")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, PATH="/usr/bin:/bin:" + os.environ.get("PATH", ""))
    if not all(os.path.exists(os.path.join(inputs, f)) for f in names.values()):
        shutil.rmtree(inputs, ignore_errors=True)
        subprocess.run(["sh", make_inputs, inputs], check=True, env=dict(env, CONVERT=IM["convert"]),
                       capture_output=True)

    lines = [l.rstrip("\n") for l in open(corpus_file) if l.strip() and not l.startswith("#")]
    passed, failed = 0, []
    tools = {}
    planned, followed, plan_failures = 0, 0, []
    for n, line in enumerate(lines):
        if opts.only and not re.search(opts.only, line):
            continue
        category, args = line.split("\t", 1)
        tool = tool_of(category)
        expect_error = "error" in category
        tools[tool] = tools.get(tool, 0) + 1
        case = os.path.join(work, f"case{n:03d}")
        ref_dir, mt_dir = os.path.join(case, "ref"), os.path.join(case, "mt")
        for d in (ref_dir, mt_dir):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
        if tool == "mogrify":
            # mogrify rewrites its inputs: each run gets its own copies, named as the corpus has them.
            used = [key for key in names if re.search(r"\b%s\b" % key, args)]
            for d in (ref_dir, mt_dir):
                for key in used:
                    shutil.copy(os.path.join(inputs, names[key]), os.path.join(d, names[key]))
            args = substitute(args, names, lambda f: f)
        else:
            args = substitute(args, names, lambda f: os.path.join(inputs, f))
        ref_cmd = f"{IM[tool]} {args}"
        extra = opts.extra + (" -debug plan" if opts.plan and tool == "convert" else "")
        mt_cmd = f"{shlex.quote(mtool)}{'' if tool == 'convert' else ' ' + tool} {extra} {args}"
        mt_env = dict(env, **dict(kv.split("=", 1) for kv in opts.env))
        try:
            if opts.same_as:
                mine = run(mt_cmd, mt_dir, env=mt_env)
                earlier = os.path.abspath(opts.same_as)
                if opts.plan and tool == "convert":
                    mine, report = split_plan(mine)
                    planned += 1
                    differs = [l for l in report if l.startswith("plan: differs")]
                    if differs or not any(l.startswith("plan: the run followed") for l in report):
                        plan_failures.append((line, differs or report[-1:]))
                    else:
                        followed += 1
                problems = compare_same(earlier, work, os.path.join(earlier, f"case{n:03d}"), mt_dir, mine,
                                        stderr_too=opts.plan)
            else:
                ref = run(ref_cmd, ref_dir, env=env)
                mine = run(mt_cmd, mt_dir, env=mt_env)
                problems = compare_case(tool, expect_error, ref_dir, mt_dir, ref, mine)
        except subprocess.TimeoutExpired:
            failed.append((line, ["timeout"]))
            continue
        if not opts.same_as:
            with open(os.path.join(case, "mt.status"), "w") as f:
                f.write(str(mine[0]))
            with open(os.path.join(case, "mt.stdout"), "wb") as f:
                f.write(mine[1])
            with open(os.path.join(case, "mt.stderr"), "wb") as f:
                f.write(mine[2])
        if mine[0] not in (0, 1, 2):
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
    print("compat: lines per tool: " + ", ".join(f"{t} {c}" for t, c in sorted(tools.items())))
    if not opts.same_as:
        print(f"compat: {Stats.exact} output frames bit-identical to ImageMagick's, {Stats.close} within "
              f"{PSNR_FLOOR:g} dB")
    if opts.plan:
        for line, why in plan_failures:
            print(f"PLAN {line}")
            for w in why:
                print(f"     {w}")
        plan_rate = followed / planned if planned else 0
        print(f"compat plan: {followed}/{planned} convert runs followed their plan ({100 * plan_rate:.1f}%)")
        if plan_rate < opts.min_plan:
            print(f"compat plan: under the floor of {100 * opts.min_plan:.1f}%")
            return 1
    print(f"compat pass rate: {100 * rate:.1f}% ({passed}/{total})")
    print(f"{passed} passed, {len(failed)} failed")
    if Stats.exact < opts.min_exact and not opts.same_as:
        print(f"compat: fewer bit-identical frames than the floor ({Stats.exact} < {opts.min_exact})")
        return 1
    return 0 if rate >= opts.min_pass else 1


if __name__ == "__main__":
    sys.exit(main())
