#!/usr/bin/env python3
"""signoff mask vs Microsoft Presidio on the same mixed corpus, in one run.

Presidio runs its pattern recognizers only, on its model-free `no_op` NLP
engine (no spaCy model can be downloaded here), analyze + anonymize called once
per text. signoff's in-process figures come from the criterion bench (per line, like
Presidio); `signoff mask` also runs over five copies of the corpus through
pipes, process I/O included.

  python3 -m venv /tmp/presidio && /tmp/presidio/bin/pip install presidio-analyzer presidio-anonymizer
  /tmp/presidio/bin/python bench/mask.py
"""
import json, os, re, statistics, subprocess, sys, tempfile, time

os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""  # use the bundled suffix list
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The corpus lines live once, in the Rust bench; read them from there.
src = open(os.path.join(root, "crates/mask/benches/mask.rs")).read()
block = src[src.index("const LINES"):]
block = block[:block.index("];")]
lines = [m.group(1) or m.group(2) for m in re.finditer(r'r#"(.*?)"#|"((?:[^"\\]|\\.)*)"', block.split("=", 1)[1])]

def corpus(size):
    out, i = [], 0
    total = 0
    while total < size:
        out.append(lines[i % len(lines)]); total += len(out[-1]) + 1; i += 1
    return out

big = corpus(10 * 1024 * 1024)
payload = "\n".join(corpus(2048))[:1024].rsplit("\n", 1)[0]

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NoOpNlpEngine
from presidio_anonymizer import AnonymizerEngine

nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
registry = RecognizerRegistry()
registry.load_predefined_recognizers(nlp_engine=nlp)
for name in ["SpacyRecognizer"]:
    try:
        registry.remove_recognizer(name)
    except Exception:
        pass
analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp)
anonymizer = AnonymizerEngine()

def presidio(text):
    results = analyzer.analyze(text=text, language="en")
    return anonymizer.anonymize(text=text, analyzer_results=results).text

sample = big[:3000]  # Presidio is slow; time a sample and scale
t = time.perf_counter()
for line in sample:
    presidio(line)
p_secs = time.perf_counter() - t
p_mbs = sum(len(l) + 1 for l in sample) / p_secs / 1e6
lat = []
for _ in range(30):
    t = time.perf_counter(); presidio(payload); lat.append(time.perf_counter() - t)
p_p50 = statistics.median(lat) * 1e6

binary = os.path.join(root, "target/release/signoff")
subprocess.run(["cargo", "build", "-q", "--release", "-p", "signoff"], cwd=root, check=True)
with tempfile.NamedTemporaryFile("w", delete=False) as f:
    # Five copies of the corpus, so that process start-up (about 8 ms) does
    # not dominate the figure.
    f.write(("\n".join(big) + "\n") * 5); path = f.name
size = os.path.getsize(path)
best = None
for _ in range(3):
    with open(path) as inp:
        t = time.perf_counter()
        subprocess.run([binary, "mask"], stdin=inp, stdout=subprocess.DEVNULL, check=True)
        d = time.perf_counter() - t
    best = d if best is None else min(best, d)
os.unlink(path)
s_mbs = size / best / 1e6
est = os.path.join(root, "target/criterion/mask_1kb/payload/new/estimates.json")
s_p50 = json.load(open(est))["median"]["point_estimate"] / 1000 if os.path.exists(est) else float("nan")
est = os.path.join(root, "target/criterion/mask/corpus_10mb_per_line/new/estimates.json")
corpus_bytes = sum(len(l) + 1 for l in big)
s_in = corpus_bytes / (json.load(open(est))["median"]["point_estimate"] / 1e9) / 1e6 if os.path.exists(est) else float("nan")

print(f"presidio (pattern recognizers, no_op NLP): {p_mbs:.3f} MB/s, 1 KB p50 {p_p50:.0f} µs")
print(f"signoff (in process, per line, criterion):  {s_in:.1f} MB/s, 1 KB p50 {s_p50:.1f} µs")
print(f"signoff mask (CLI, 52 MB through pipes):    {s_mbs:.1f} MB/s")
print(f"ratio: {s_in / p_mbs:.0f}x throughput in process ({s_mbs / p_mbs:.0f}x through the CLI), {p_p50 / s_p50:.0f}x latency")
