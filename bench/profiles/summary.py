"""One-off probe helper: print a stages.py JSON as one line per pipeline."""
import json
import sys

r = json.load(open(sys.argv[1]))
print("load average before/after", r["load_average"], "MALLOC_TRIM_THRESHOLD_", r["environ MALLOC_TRIM_THRESHOLD_"])
for n, p in r["pipelines"].items():
    print(f"{n:36s} thread {p['cpu_ms_per_image_mean']:5.1f} process {p['process_cpu_ms_per_image']:5.1f} | max {p['max_abs_diff']:3d} "
          f"mean {p['mean_abs_diff']:.4f} differing {p['pixels_differing']:.4f} | phash {p['phash_changed']} "
          f"(<= {p['phash_bits_changed_max']} bits) thumb same {p['thumbnail_identical']}")
    print("    ", {k: round(v, 1) for k, v in p["stages_ms"].items()})
