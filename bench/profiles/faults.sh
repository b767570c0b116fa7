#!/bin/sh
# One-off probe (issue 17): page faults and system time of optimize_image-like pipelines under glibc malloc settings.
# Dask's nanny gives workers MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's adaptive mmap threshold:
# every array over 128 KiB is a fresh mmap, faulted in page by page and unmapped on free.
# "UNSET=1": no MALLOC_TRIM_THRESHOLD_ at all (an empty value is not the same: glibc reads it as 0).
# Per image = (run of 6 rounds - run of 1 round) / (5 rounds x 12 images): imports and image loading cancel out.
#   cd /work/wt-prof17 && PYTHONPATH=. sh bench/profiles/faults.sh
PY=${PY:-/work/main/.venv/bin/python}
python3 -c 'import os; print("load average", os.getloadavg())'
for envs in "UNSET=1" "MALLOC_TRIM_THRESHOLD_=65536" "MALLOC_TRIM_THRESHOLD_=65536 MALLOC_MMAP_THRESHOLD_=67108864" \
            "MALLOC_TRIM_THRESHOLD_=65536 MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TOP_PAD_=67108864"; do
  for pipe in today "fast float32 (cv2 blur) + small fp"; do
    a=$(env -u MALLOC_TRIM_THRESHOLD_ $envs perf stat -x, -e page-faults,task-clock,user_time,system_time $PY -m bench.profiles.stages --only "$pipe" --loop 1 2>&1 >/dev/null | awk -F, '{printf "%s ", $1}')
    b=$(env -u MALLOC_TRIM_THRESHOLD_ $envs perf stat -x, -e page-faults,task-clock,user_time,system_time $PY -m bench.profiles.stages --only "$pipe" --loop 6 2>&1 >/dev/null | awk -F, '{printf "%s ", $1}')
    echo "$a $b" | awk -v e="[$envs]" -v p="$pipe" '{printf "%-90s %-36s faults/img %7.0f  task-clock ms/img %6.1f  user %6.1f  sys %6.1f\n", e, p, ($5-$1)/60, ($6-$2)/60, ($7-$3)/60e6, ($8-$4)/60e6}'
  done
done
python3 -c 'import os; print("load average", os.getloadavg())'
