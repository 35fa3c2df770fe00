# SPDX-License-Identifier: Apache-2.0
#
# Helpers the benchmark scripts share; sourced, not run.

# now_ms: the time in milliseconds since the epoch.
now_ms() { date +%s%3N; }

# free_port: a TCP port free on 127.0.0.1 now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# mb KB: kilobytes as megabytes with one decimal; "-" stays "-".
mb() { awk -v k="$1" 'BEGIN{if (k == "-" || k == "") print "-"; else printf "%.1f", k / 1024}'; }

# status_kb PID FIELD: a field of /proc/PID/status in kB (VmRSS, VmHWM, …).
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# cpu_ticks PID: the process's user and system time, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# median: the median of the numbers on stdin, one a line, blank lines
# left out ("-" for none; the mean of the middle two for an even count).
median() { sort -n | awk 'NF {v[++n] = $1} END {if (n == 0) print "-"; else if (n % 2) print v[(n + 1) / 2]; else print (v[n / 2] + v[n / 2 + 1]) / 2}'; }
